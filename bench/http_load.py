"""HTTP load against a server: the check paths, wrk with a Lua script, or the httpx fallback."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from bench.cpu import RunCpu, children_cpu_s, machine_busy_s, tree_cpu_s
from bench.measure import NOW_DT, check_kwargs
from bench.server import BENCH_SECRET
from ledger.access.vocabulary import Report


def check_path(meta: dict[str, Any], actor: dict[str, Any], rng: random.Random) -> str:
    """GET /v1/check for an actor at the history's now."""
    kw = check_kwargs(actor, rng, NOW_DT, meta["kept_years"])
    query = {k: (v.value if isinstance(v, Report) else v) for k, v in kw.items() if v is not None}
    query["at"] = NOW_DT.strftime("%Y-%m-%dT%H:%M:%SZ")
    return "/v1/check?" + urlencode(query)


def check_paths(meta: dict[str, Any], n: int, seed: int) -> list[str]:
    """GET /v1/check paths for random actors at the history's now."""
    rng = random.Random(f"http:{seed}")
    return [check_path(meta, rng.choice(meta["actors"]), rng) for _ in range(n)]


def first_pass_paths(meta: dict[str, Any], seed: int) -> list[str]:
    """One check path per distinct person among the sampled actors, in a random order."""
    rng = random.Random(f"http-first-pass:{seed}")
    people = {actor["person_id"]: actor for actor in meta["actors"]}  # a person's last sampled role
    actors = list(people.values())
    rng.shuffle(actors)
    return [check_path(meta, actor, rng) for actor in actors]


WRK_SCRIPT = """
local paths = {%(paths)s}
local counter = 0
local threads = 0
offset = 0
wrk.headers["Authorization"] = "Bearer %(secret)s"
function setup(thread)
  if all_threads then table.insert(all_threads, thread) end
  thread:set("offset", threads * %(spacing)d)
  threads = threads + 1
end
function request()
  local i = counter * %(stride)d + offset
  counter = counter + 1
  return wrk.format("GET", paths[i %% #paths + 1])
end
%(response)s
function done(summary, latency, requests)
  io.write(string.format(
    "BENCH {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, " ..
    "\\"errors_status\\": %%d, \\"errors_other\\": %%d}\\n",
    summary.requests, ran_us and ran_us(summary) or summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def _lua_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


WRK_THREADS = 2
CONNECTIONS = 32


# With `distinct`, a thread stops once every path of its share has been answered (requests in flight
# then may ask a few paths a second time).
STOP_WHEN_USED_UP = """
local ffi = require("ffi")  -- wrk runs LuaJIT: a monotonic clock, since wrk's duration is the -d it was given
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *t);
]]
local function now_us()
  local t = ffi.new("bench_timespec")
  ffi.C.clock_gettime(1, t)
  return tonumber(t.tv_sec) * 1000000 + tonumber(t.tv_nsec) / 1000
end
all_threads = {}  -- in the main state, filled by setup()
local answered = 0
function init(args)
  started_us = now_us()
end
function response(status, headers, body)
  answered = answered + 1
  if answered * %(stride)d + offset >= #paths and stopped_us == nil then
    stopped_us = now_us()
    io.write("BENCH-THREAD-DONE\\n")
    io.flush()
    wrk.thread:stop()
  end
end
function ran_us(summary)
  local first, last = nil, nil
  for _, t in ipairs(all_threads) do
    local s, e = t:get("started_us"), t:get("stopped_us")
    if e == nil then return summary.duration end
    if first == nil or s < first then first = s end
    if last == nil or e > last then last = e end
  end
  return last - first
end
"""


def wrk_script(paths: list[str], *, distinct: bool) -> str:
    """The Lua script: each thread walks the paths from its own offset, or (`distinct`) the threads
    interleave so that no path is asked twice, and stop when the list is used up."""
    stride, spacing = (WRK_THREADS, 1) if distinct else (1, 7919)
    return WRK_SCRIPT % {
        "paths": ",".join(_lua_string(p) for p in paths),
        "secret": BENCH_SECRET,
        "stride": stride,
        "spacing": spacing,
        "response": STOP_WHEN_USED_UP % {"stride": stride} if distinct else "",
    }


def _run_wrk(command: list[str], timeout: float) -> tuple[str, str]:
    """Run wrk; once each of its threads says it has used up its paths, interrupt it (SIGINT: it stops and
    reports at once) rather than let it idle until its duration is over."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines, done = [], 0
    deadline = time.perf_counter() + timeout
    for line in process.stdout:
        lines.append(line)
        done += line.startswith("BENCH-THREAD-DONE")
        if done == WRK_THREADS and process.poll() is None:
            process.send_signal(signal.SIGINT)
        if time.perf_counter() > deadline:
            process.kill()
            break
    _, stderr = process.communicate(timeout=max(1.0, deadline - time.perf_counter()))
    if process.returncode not in (0, -signal.SIGINT):
        raise RuntimeError(f"wrk exited with {process.returncode}:\n{''.join(lines)}\n{stderr}")
    return "".join(lines), stderr


def _wrk(url: str, paths: list[str], seconds: float, workdir: Path, name: str, *, distinct: bool) -> dict[str, Any]:
    script = workdir / f"{name}.lua"
    script.write_text(wrk_script(paths, distinct=distinct))
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    stdout, stderr = _run_wrk([*command, "-s", str(script), url], seconds + 60)
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{stdout}\n{stderr}")
    data = orjson.loads(line[len("BENCH ") :])
    return {
        "rps": data["requests"] / (data["duration_us"] / 1e6),
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "requests": data["requests"],
        "errors": data["errors_status"] + data["errors_other"],
    }


def _httpx_load(
    url: str, paths: list[str], seconds: float, workdir: Path, name: str, *, distinct: bool
) -> dict[str, Any]:
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
            str(CONNECTIONS),
            "--secret",
            BENCH_SECRET,
            *(["--distinct"] if distinct else []),
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


def run_load(
    url: str,
    paths: list[str],
    seconds: float,
    workdir: Path,
    name: str,
    *,
    server_pid: int | None = None,
    distinct: bool = False,
) -> dict[str, Any]:
    """`seconds` of load over `paths` (32 connections): rps, p50/p99 ms, requests, errors, and `cpu`, a RunCpu
    of what the server (`server_pid` and its workers), the generator and the whole machine used meanwhile."""
    generate = _wrk if load_generator() == "wrk" else _httpx_load
    server_before = tree_cpu_s(server_pid) if server_pid else 0.0
    generator_before, machine_before = children_cpu_s(), machine_busy_s()
    started = time.perf_counter()
    result = generate(url, paths, seconds, workdir, name, distinct=distinct)
    elapsed = time.perf_counter() - started
    result["cpu"] = RunCpu(
        seconds=elapsed,
        server=(tree_cpu_s(server_pid) - server_before) / elapsed if server_pid else 0.0,
        generator=(children_cpu_s() - generator_before) / elapsed,
        machine=(machine_busy_s() - machine_before) / elapsed,
    )
    return result
