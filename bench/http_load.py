"""HTTP load against a server: the check paths, wrk with a Lua script, or the httpx fallback."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from bench.measure import NOW_DT, check_kwargs
from bench.server import BENCH_SECRET
from ledger.access.vocabulary import Report


def check_paths(meta: dict[str, Any], n: int, seed: int) -> list[str]:
    """GET /v1/check paths for random actors at the history's now."""
    rng = random.Random(f"http:{seed}")
    at = NOW_DT.strftime("%Y-%m-%dT%H:%M:%SZ")
    paths = []
    for _ in range(n):
        kw = check_kwargs(rng.choice(meta["actors"]), rng, NOW_DT, meta["kept_years"])
        query = {k: (v.value if isinstance(v, Report) else v) for k, v in kw.items() if v is not None}
        query["at"] = at
        paths.append("/v1/check?" + urlencode(query))
    return paths


WRK_SCRIPT = """
local paths = {%(paths)s}
local counter = 0
local threads = 0
offset = 0
wrk.headers["Authorization"] = "Bearer %(secret)s"
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter + offset) %% #paths + 1])
end
function done(summary, latency, requests)
  io.write(string.format(
    "BENCH {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, " ..
    "\\"errors_status\\": %%d, \\"errors_other\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def _lua_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrk(url: str, paths: list[str], seconds: float, workdir: Path, name: str) -> dict[str, Any]:
    script = workdir / f"{name}.lua"
    script.write_text(WRK_SCRIPT % {"paths": ",".join(_lua_string(p) for p in paths), "secret": BENCH_SECRET})
    result = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")
    data = orjson.loads(line[len("BENCH ") :])
    return {
        "rps": data["requests"] / (data["duration_us"] / 1e6),
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "requests": data["requests"],
        "errors": data["errors_status"] + data["errors_other"],
    }


def _httpx_load(url: str, paths: list[str], seconds: float, workdir: Path, name: str) -> dict[str, Any]:
    """The fallback load generator (no wrk): an async httpx client in a second process."""
    paths_file = workdir / f"{name}.json"
    paths_file.write_bytes(orjson.dumps(paths))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--url",
            url,
            "--paths",
            str(paths_file),
            "--seconds",
            str(seconds),
            "--concurrency",
            "32",
            "--secret",
            BENCH_SECRET,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    data: dict[str, Any] = orjson.loads(result.stdout.strip().splitlines()[-1])
    return data


def load_generator() -> str:
    from shutil import which

    return "wrk" if which("wrk") else "httpx"


def http_runner() -> Callable[[str, list[str], float, Path, str], dict[str, Any]]:
    return _wrk if load_generator() == "wrk" else _httpx_load
