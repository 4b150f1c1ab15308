"""The figures of BENCHMARKS.md, each set against a baseline measured in the same run.

Throughput figures interleave: a slice of the measured work, then the baseline on the
rows that slice wrote, four times over (rebuild: baseline, rebuild, baseline); the
ratio divides the measured rate by the mean of the baselines, so a burst of load from
the machine's other tenants hits both sides.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from bench.generate import NOW, START, Item, extension
from bench.load import ACTOR, ScriptedClock
from bench.stores import RawTable, Store, work_copy
from ledger.access.vocabulary import SCHOOL_REPORTS, Level, Report
from ledger.commands import parse_command
from projections.system import LedgerSystem

NOW_DT = datetime.fromtimestamp(NOW, UTC)
START_DT = datetime.fromtimestamp(START, UTC)
BENCH_SECRET = "bench-portal-secret-0123456789abcdef"  # a key for a throwaway local server


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does (--quick for the smoke test)."""

    checks: int
    whos: int
    http_seconds: float
    appends: int
    imports: int
    profile_checks: int = 300
    profile_whos: int = 30
    read_budget_s: float = 90.0  # per pass of each read figure; fewer samples if the calls are slow

    @classmethod
    def for_run(cls, quick: bool) -> Sizes:
        if quick:
            return cls(
                checks=200,
                whos=20,
                http_seconds=2.0,
                appends=100,
                imports=1000,
                profile_checks=50,
                profile_whos=5,
                read_budget_s=20.0,
            )
        return cls(checks=2000, whos=200, http_seconds=10.0, appends=1000, imports=10_000)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- sampling -------------------------------------------------------------------------------------


def released_year(at: datetime) -> int:
    """Y*(at) of the synthetic history (releases fall Jul 6-10; a day's slack either way is harmless)."""
    return at.year if (at.month, at.day) >= (7, 11) else at.year - 1


def check_kwargs(actor: dict[str, Any], rng: random.Random, at: datetime, kept: Sequence[int]) -> dict[str, Any]:
    """A check request for an actor: an org they act for, a report, a kept exam year."""
    top = released_year(at)
    years = [y for y in kept if top - 4 <= y <= top] or [kept[0]]
    kw: dict[str, Any] = {"person_id": actor["person_id"], "org_id": actor["org_id"], "exam_year": rng.choice(years)}
    kind = actor["kind"]
    if actor.get("school_id") is None:
        kw["report"] = Report.DISTRICT_SCORE_SUMMARY
        return kw
    kw["school_id"] = actor["school_id"]
    r = rng.random()
    if kind in ("teacher", "outsider", "homeschool") and r < 0.5:
        kw.update(report=Report.SUBJECT_SCORE_ROSTER, subject=actor["subject"], section_id=actor["section_id"])
    elif kind in ("teacher", "outsider", "homeschool") and r < 0.8:
        kw.update(report=Report.INSTRUCTIONAL_PLANNING, subject=actor["subject"])
    else:
        kw["report"] = rng.choice(SCHOOL_REPORTS)
    return kw


def historical_point(rng: random.Random) -> tuple[datetime, datetime]:
    """A random valid time, and a transaction time at or after it (support asking 'what did we know then')."""
    at = START_DT + timedelta(seconds=rng.randrange(int((NOW_DT - START_DT).total_seconds())))
    as_of = min(NOW_DT, at + timedelta(seconds=rng.randrange(120 * 86_400)))
    return at, as_of


# --- in-process reads -------------------------------------------------------------------------------


def timed_calls(calls: Sequence[Callable[[], Any]], budget_s: float = float("inf")) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this thread) microseconds per call, stopping early once `budget_s` is spent.

    On a shared two-core machine the wall-clock tail is mostly other tenants' time
    slices; the CPU time of the calling thread shows what the code itself costs. The
    budget bounds a run whose calls turn out slow (a query that scans at 1M events).
    """
    wall, cpu = [], []
    deadline = time.perf_counter() + budget_s
    for call in calls:
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        call()
        cpu.append((time.thread_time_ns() - started_cpu) / 1000)
        wall.append((time.perf_counter_ns() - started) / 1000)
        if time.perf_counter() > deadline:
            break
    return wall, cpu


def check_calls(
    system: LedgerSystem, meta: dict[str, Any], n: int, *, historical: bool, seed: int, question: int = 0
) -> list[Callable[[], Any]]:
    """n checks of random actors; `question` varies what is asked (report, year, times) of the same actors."""
    who = random.Random(f"checks:{historical}:{seed}")
    rng = random.Random(f"checks:{historical}:{seed}:{question}")
    queries = system.queries
    calls: list[Callable[[], Any]] = []
    actors = meta["actors"]
    for _ in range(n):
        actor = who.choice(actors)
        if historical:
            at, as_of = historical_point(rng)
            kw = check_kwargs(actor, rng, at, meta["kept_years"])
            calls.append(functools.partial(queries.check, **kw, at=at, as_of=as_of))
        else:
            kw = check_kwargs(actor, rng, NOW_DT, meta["kept_years"])
            calls.append(functools.partial(queries.check, **kw, at=NOW_DT))
    return calls


def who_calls(
    system: LedgerSystem, meta: dict[str, Any], n: int, seed: int, question: int = 0
) -> list[Callable[[], Any]]:
    """n who-had-access questions about random schools; `question` varies the access year."""
    which = random.Random(f"who:{seed}")
    rng = random.Random(f"who:{seed}:{question}")
    years = meta["access_years"][:-1]  # whole access years only
    calls: list[Callable[[], Any]] = []
    for _ in range(n):
        school = which.choice(meta["school_samples"])
        start, end = system.calendar.access_window(rng.choice(years))
        calls.append(functools.partial(system.queries.who_had_access, school, start, end, Level.STUDENT))
    return calls


def measure_reads(store: Store, meta: dict[str, Any], sizes: Sizes, seed: int) -> dict[str, Any]:
    """check (now and historical) and who_had_access, in-process, on the loaded history.

    Each figure runs two passes over the same people and schools: the first meets the
    query cache cold (streams are loaded from the fact index on first use), the second
    warm, as a long-running server that has seen them before, but asks other questions
    (another report, year or instant), so a cache of answers would not make it trivial.
    The figures are the warm pass; the cold one is in the details.
    """
    system = store.open(clock=lambda: NOW_DT)
    try:
        system.runner.catch_up()
        budget = sizes.read_budget_s
        now_cold, now_cold_cpu = timed_calls(
            check_calls(system, meta, sizes.checks, historical=False, seed=seed), budget
        )
        hist_cold, hist_cold_cpu = timed_calls(
            check_calls(system, meta, sizes.checks, historical=True, seed=seed), budget
        )
        who_cold, _ = timed_calls(who_calls(system, meta, sizes.whos, seed), budget)
        # The warm pass: the people and schools the cold pass met, other questions, in a process that
        # has also loaded the positions' recorded times, as a server's warming does first.
        system.source.load_times()
        now = check_calls(system, meta, len(now_cold), historical=False, seed=seed, question=1)
        hist = check_calls(system, meta, len(hist_cold), historical=True, seed=seed, question=1)
        whos = who_calls(system, meta, len(who_cold), seed, question=1)
        now_us, now_cpu = timed_calls(now)
        hist_us, hist_cpu = timed_calls(hist)
        who_us, who_cpu = timed_calls(whos)
        # What was answered (after the timed pass, so as not to warm it).
        allowed_now = sum(1 for c in now if c().decision.allowed) / len(now)
        allowed_hist = sum(1 for c in hist if c().decision.allowed) / len(hist)
        entries = sum(len(c().entries) for c in whos) / len(whos)
    finally:
        system.close()
    return {
        "check_p50_us_now": round(percentile(now_us, 50), 1),
        "check_p99_us_now": round(percentile(now_us, 99), 1),
        "check_p50_us_hist": round(percentile(hist_us, 50), 1),
        "check_p99_us_hist": round(percentile(hist_us, 99), 1),
        "who_p50_ms": round(percentile(who_us, 50) / 1000, 2),
        "who_p99_ms": round(percentile(who_us, 99) / 1000, 2),
        "details": {
            "checks_now": len(now_us),
            "checks_hist": len(hist_us),
            "check_allowed_share_now": round(allowed_now, 3),
            "check_allowed_share_hist": round(allowed_hist, 3),
            "check_mean_us_now": round(sum(now_us) / len(now_us), 1),
            "check_mean_us_hist": round(sum(hist_us) / len(hist_us), 1),
            "check_cold_p50_us_now": round(percentile(now_cold, 50), 1),
            "check_cold_p99_us_now": round(percentile(now_cold, 99), 1),
            "check_cold_p50_us_hist": round(percentile(hist_cold, 50), 1),
            "check_cold_p99_us_hist": round(percentile(hist_cold, 99), 1),
            # The cold pass's own CPU (this thread): without the store's time and other tenants' slices.
            "check_cold_cpu_p50_us_now": round(percentile(now_cold_cpu, 50), 1),
            "check_cold_cpu_p99_us_now": round(percentile(now_cold_cpu, 99), 1),
            "check_cold_cpu_p50_us_hist": round(percentile(hist_cold_cpu, 50), 1),
            "check_cold_cpu_p99_us_hist": round(percentile(hist_cold_cpu, 99), 1),
            "check_cpu_p50_us_now": round(percentile(now_cpu, 50), 1),
            "check_cpu_p99_us_now": round(percentile(now_cpu, 99), 1),
            "check_cpu_p50_us_hist": round(percentile(hist_cpu, 50), 1),
            "check_cpu_p99_us_hist": round(percentile(hist_cpu, 99), 1),
            "whos": len(who_us),
            "who_cpu_p50_ms": round(percentile(who_cpu, 50) / 1000, 2),
            "who_cpu_p99_ms": round(percentile(who_cpu, 99) / 1000, 2),
            "who_mean_entries": round(entries, 1),
            "who_cold_p50_ms": round(percentile(who_cold, 50) / 1000, 2),
            "who_cold_p99_ms": round(percentile(who_cold, 99) / 1000, 2),
        },
    }


def read_and_decode(system: LedgerSystem) -> tuple[int, float]:
    """Events per second of merely reading the log in the runner's pages and decoding every event."""
    recorder, mapper, page = system.service.recorder, system.service.mapper, system.runner.batch_size
    started = time.perf_counter()
    after = count = 0
    while True:
        rows = recorder.read_rows(after, page)
        if not rows:
            break
        for row in rows:
            mapper.decode(row.stored)
        count += len(rows)
        after = rows[-1].position
    return count, count / (time.perf_counter() - started)


def measure_rebuild(store: Store) -> dict[str, Any]:
    """Rebuild every projection from zero, against reading and decoding the same log."""
    system = store.open()
    try:
        _, base1 = read_and_decode(system)
        started, started_cpu = time.perf_counter(), time.thread_time()
        system.runner.rebuild()
        rebuild_s = time.perf_counter() - started
        rebuild_cpu_s = time.thread_time() - started_cpu
        events, base2 = read_and_decode(system)
    finally:
        system.close()
    rate = events / rebuild_s
    return {
        "rebuild_ratio": round(rate / ((base1 + base2) / 2), 3),
        "rebuild_s": round(rebuild_s, 2),
        "details": {
            "rebuild_events_per_s": round(rate, 1),
            "rebuild_cpu_s": round(rebuild_cpu_s, 2),
            "read_decode_events_per_s": [round(base1, 1), round(base2, 1)],
        },
    }


# --- writes -------------------------------------------------------------------------------------------


def measure_writes(store: Store, meta: dict[str, Any], sizes: Sizes, seed: int) -> dict[str, Any]:
    """append (one command per transaction) and import (batches of 500), on a copy of the loaded history."""
    with work_copy(store) as url:
        clock = ScriptedClock(NOW)
        system = store.open(url, clock=clock)
        raw = RawTable(url)
        try:
            append = _append(system, clock, raw, meta, sizes.appends, seed)
            imported = _import(system, clock, raw, meta, sizes.imports, seed)
        finally:
            raw.close()
            system.close()
    return {
        "append_ratio": append.pop("ratio"),
        "import_ratio": imported.pop("ratio"),
        "details": {**append, **imported},
    }


ROUNDS = 4


def _rounds(work: list[Any]) -> list[list[Any]]:
    """The work in up to ROUNDS slices; a baseline runs after each, so noise hits both sides alike."""
    size = max(1, math.ceil(len(work) / ROUNDS))
    return [work[i : i + size] for i in range(0, len(work), size)]


def _rows_since(system: LedgerSystem, position: int) -> list[Any]:
    rows: list[Any] = []
    while True:
        page = system.service.recorder.read_rows(position, 2000)
        if not page:
            return rows
        rows.extend(page)
        position = page[-1].position


def _append(
    system: LedgerSystem, clock: ScriptedClock, raw: RawTable, meta: dict[str, Any], n: int, seed: int
) -> dict[str, Any]:
    warm = 25
    items = extension(meta, "XA", n + warm, seed)
    commands = [(item.t, parse_command(item.command)) for item in items]
    service = system.service
    for t, command in commands[:warm]:  # first appends fill the aggregate cache and prepare statements
        clock.set(t)
        service.execute(command, ACTOR)
    spent = cpu = 0.0
    events = 0
    baselines: list[tuple[float, float]] = []
    for part in _rounds(commands[warm:]):
        before = service.recorder.last_position()
        for t, command in part:
            clock.set(t)
            started, started_cpu = time.perf_counter(), time.thread_time()
            outcome = service.execute(command, ACTOR)
            cpu += time.thread_time() - started_cpu
            spent += time.perf_counter() - started
            events += len(outcome.events)
        baselines.append(raw.single_commits(_rows_since(system, before)))
    rate = events / spent
    return {
        "ratio": round(rate / (sum(b for b, _ in baselines) / len(baselines)), 3),
        "append_events_per_s": round(rate, 1),
        "append_baseline_rows_per_s": [round(b, 1) for b, _ in baselines],
        "append_cpu_us_per_event": round(1e6 * cpu / events, 1),
        "append_baseline_cpu_us_per_row": round(sum(c for _, c in baselines) / len(baselines), 1),
        "append_events": events,
    }


def _import(
    system: LedgerSystem, clock: ScriptedClock, raw: RawTable, meta: dict[str, Any], n: int, seed: int
) -> dict[str, Any]:
    items = extension(meta, "XI", n, seed, start=NOW + 30 * 86_400)
    batches: list[tuple[int, list[Any]]] = []
    for i in range(0, len(items), 500):
        chunk: list[Item] = items[i : i + 500]
        batches.append((chunk[-1].t, [parse_command(item.command) for item in chunk]))
    service = system.service
    spent = cpu = 0.0
    events = 0
    baselines: list[tuple[float, float]] = []
    for part in _rounds(batches):
        before = service.recorder.last_position()
        for t, commands in part:
            clock.set(t)
            started, started_cpu = time.perf_counter(), time.thread_time()
            outcomes = service.execute_batch(commands, ACTOR)
            cpu += time.thread_time() - started_cpu
            spent += time.perf_counter() - started
            events += sum(len(o.events) for o in outcomes)
        baselines.append(raw.many_in_one(_rows_since(system, before)))
    rate = events / spent
    return {
        "ratio": round(rate / (sum(b for b, _ in baselines) / len(baselines)), 3),
        "import_events_per_s": round(rate, 1),
        "import_baseline_rows_per_s": [round(b, 1) for b, _ in baselines],
        "import_cpu_us_per_event": round(1e6 * cpu / events, 1),
        "import_baseline_cpu_us_per_row": round(sum(c for _, c in baselines) / len(baselines), 1),
        "import_events": events,
    }


# --- HTTP ----------------------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ledger_command() -> list[str]:
    script = Path(sys.executable).parent / "ledger"
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds per thread of a process (the event loop is the thread whose id is the pid)."""
    out: dict[str, float] = {}
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            out[task.name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        pass
    return out


def _server_cpu(pid: int, before: dict[str, float], requests: int) -> dict[str, float]:
    """Server CPU ms per request during a load run, and the event loop's share of it."""
    after = _thread_cpu_s(pid)
    total = sum(v - before.get(k, 0.0) for k, v in after.items())
    loop = after.get(str(pid), 0.0) - before.get(str(pid), 0.0)
    return {
        "cpu_ms_per_request": round(1000 * total / max(1, requests), 3),
        "event_loop_share": round(loop / total, 3) if total else 0.0,
    }


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


@dataclass
class Server:
    """A `ledger serve` process started by the harness (possibly under a profiler, `wrapper`)."""

    process: subprocess.Popen[bytes]
    base: str
    log_path: Path
    cold_start_s: float
    cold_start_cpu_s: float | None
    pid: int  # the server's own pid (a child of the wrapper, if any)

    def stop(self) -> None:
        """SIGTERM the server (uvicorn shuts down, the lifespan closes the ledger); SIGKILL if it hangs."""
        if self.pid != self.process.pid:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(self.pid, signal.SIGTERM)
        elif self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def _child_pid(pid: int) -> int | None:
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            if children:
                return int(children[0])
    except OSError:
        return None
    return None


def _die_with_parent() -> None:
    """In the child: SIGTERM when the harness dies, so a killed run leaves no server behind (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_server(store: Store, log_dir: Path, wrapper: Sequence[str] = (), workers: int = 1) -> Server:
    """Start `ledger serve` (with `workers` processes) on a free port and wait until /healthz answers (the cold start)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(
        {
            "LEDGER_DATABASE_URL": store.url,
            "LEDGER_API_KEYS": f"bench:portal:{BENCH_SECRET}",
            "LEDGER_CODE_HASH_TIME_COST": "1",
            "LEDGER_CODE_HASH_MEMORY_KIB": "64",
        }
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"server-{store.kind}-{port}.log"
    with log_path.open("wb") as log_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            [
                *wrapper,
                *_ledger_command(),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *(["--workers", str(workers)] if workers > 1 else []),
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    server = Server(process, base, log_path, 0.0, None, process.pid)
    try:
        while time.perf_counter() - started < 120:
            if process.poll() is not None:
                raise RuntimeError(f"ledger serve exited with {process.returncode}: see {log_path}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    server.cold_start_s = time.perf_counter() - started
                    if wrapper:
                        server.pid = _child_pid(process.pid) or process.pid
                    server.cold_start_cpu_s = _cpu_s(server.pid)
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"ledger serve did not answer /healthz within 120s: see {log_path}")
    except BaseException:
        server.stop()
        raise


def http_runner() -> Callable[[str, list[str], float, Path, str], dict[str, Any]]:
    return _wrk if load_generator() == "wrk" else _httpx_load


def warm_server(server: Server, paths: list[str], workdir: Path) -> None:
    """Every check path answers 200 (allowed or not), then the server's query cache is warmed with all of them."""
    with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {BENCH_SECRET}"}) as client:
        for p in paths[:20]:
            response = client.get(p)
            if response.status_code != 200:
                raise RuntimeError(f"GET {p} answered {response.status_code}: {response.text[:300]}")
    # Every path once, in order (wrk's connections each walk their own stretch of the list, and the
    # timed run must not meet cold streams), then the load generator to warm the server itself.
    with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {BENCH_SECRET}"}, timeout=30) as client:
        for path in paths:
            client.get(path)
    run = http_runner()
    warmed, deadline = 0, time.perf_counter() + 60
    while warmed < 2 * len(paths) and time.perf_counter() < deadline:
        warmed += run(server.base, paths, 2.0, workdir, "warm")["requests"]


def wait_warmed(server: Server, timeout: float = 120) -> bool:
    """Until /readyz reports the query cache warmed on every answer of a row of new connections (any worker)."""
    deadline, row = time.perf_counter() + timeout, 0
    while row < 10 and time.perf_counter() < deadline:
        warming = httpx.get(f"{server.base}/readyz", timeout=5).json().get("warming")
        row = row + 1 if warming is None or warming.get("done") else 0
        if row == 0:
            time.sleep(0.2)
    return row >= 10


def measure_workers(store: Store, paths: list[str], seconds: float, log_dir: Path) -> dict[str, Any]:
    """The same check load against `ledger serve --workers 2`, warmed like the one-worker server."""
    run = http_runner()
    server = start_server(store, log_dir, workers=2)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            warmed = wait_warmed(server)
            warm_server(server, paths, workdir)
            check = run(server.base, paths, seconds, workdir, "check-2-workers")
    finally:
        server.stop()
    return {**check, "warmed": warmed}


def measure_http(store: Store, meta: dict[str, Any], sizes: Sizes, seed: int, log_dir: Path) -> dict[str, Any]:
    """cold start, GET /v1/check against /healthz under 32 connections, and peak RSS, of a real `ledger serve`."""
    run = http_runner()
    server = start_server(store, log_dir)
    try:
        paths = check_paths(meta, 1000 if sizes.checks >= 1000 else 200, seed)
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            wait_warmed(server)  # the server's own background warming must not share the timed run
            warm_server(server, paths, workdir)
            health1 = run(server.base, ["/healthz"], sizes.http_seconds, workdir, "healthz1")
            before = _thread_cpu_s(server.pid)
            check = run(server.base, paths, sizes.http_seconds, workdir, "check")
            check_cpu = _server_cpu(server.pid, before, check["requests"])
            before = _thread_cpu_s(server.pid)
            health2 = run(server.base, ["/healthz"], sizes.http_seconds, workdir, "healthz2")
            health_cpu = _server_cpu(server.pid, before, health2["requests"])
        rss = _vm_hwm_mb(server.pid)
    finally:
        server.stop()
    # Scale-out on one machine: two worker processes against the one above, same paths, same run.
    two = measure_workers(store, paths, sizes.http_seconds, log_dir)
    healthz_rps = (health1["rps"] + health2["rps"]) / 2
    return {
        "http_ratio": round(check["rps"] / healthz_rps, 3),
        "http_workers_ratio": round(two["rps"] / check["rps"], 3),
        "http_p99_ms": round(check["p99_ms"], 2),
        "cold_start_s": round(server.cold_start_s, 2),
        "rss_mb": round(rss, 1) if rss is not None else None,
        "details": {
            "load_generator": load_generator(),
            "cold_start_cpu_s": None if server.cold_start_cpu_s is None else round(server.cold_start_cpu_s, 2),
            "http_check_rps": round(check["rps"], 1),
            "http_check_p50_ms": round(check["p50_ms"], 2),
            "http_check_requests": check["requests"],
            "http_check_errors": check["errors"],
            "http_check_rps_2_workers": round(two["rps"], 1),
            "http_check_p99_ms_2_workers": round(two["p99_ms"], 2),
            "http_check_errors_2_workers": two["errors"],
            "http_2_workers_warmed_first": two["warmed"],
            "http_healthz_rps": [round(health1["rps"], 1), round(health2["rps"], 1)],
            "http_healthz_p99_ms": [round(health1["p99_ms"], 2), round(health2["p99_ms"], 2)],
            # Where the server's CPU goes: a check costs the loop (framework, threadpool hops) far more than
            # the worker thread that runs the query.
            "http_check_server_cpu_ms_per_request": check_cpu["cpu_ms_per_request"],
            "http_check_event_loop_cpu_share": check_cpu["event_loop_share"],
            "http_healthz_server_cpu_ms_per_request": health_cpu["cpu_ms_per_request"],
        },
    }
