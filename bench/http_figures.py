"""The HTTP figures of a real `ledger serve`: check against /healthz (warm, and a fresh server's first
pass), p99, two workers, cold start, warming to the end, RSS; each load run with the CPU it took."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.cpu import server_cpu, thread_cpu_s
from bench.http_load import check_paths, first_pass_paths, load_generator, run_load
from bench.measure import Sizes
from bench.server import BENCH_SECRET, Server, start_server, vm_hwm_mb
from bench.stores import Store

CORES = os.cpu_count() or 1


def warm_server(server: Server, paths: list[str], workdir: Path) -> None:
    """Every check path answers 200 (allowed or not), then the server's query cache is warmed with all of them."""
    answers_200(server, paths[:20])
    # Every path once, in order (wrk's connections each walk their own stretch of the list, and the
    # timed run must not meet cold streams), then the load generator to warm the server itself.
    with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {BENCH_SECRET}"}, timeout=30) as client:
        for path in paths:
            client.get(path)
    warmed, deadline = 0, time.perf_counter() + 60
    while warmed < 2 * len(paths) and time.perf_counter() < deadline:
        warmed += run_load(server.base, paths, 2.0, workdir, "warm")["requests"]


def answers_200(server: Server, paths: list[str]) -> None:
    """Each path answers 200 (allowed or not): a load of 404s or 422s would measure nothing."""
    with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {BENCH_SECRET}"}, timeout=30) as client:
        for p in paths:
            response = client.get(p)
            if response.status_code != 200:
                raise RuntimeError(f"GET {p} answered {response.status_code}: {response.text[:300]}")


def wait_warmed(server: Server, timeout: float = 120) -> bool:
    """Until /readyz reports the query cache warmed on every answer of a row of new connections (any worker)."""
    deadline, row = time.perf_counter() + timeout, 0
    while row < 10 and time.perf_counter() < deadline:
        warming = httpx.get(f"{server.base}/readyz", timeout=5).json().get("warming")
        row = row + 1 if warming is None or warming.get("done") else 0
        if row == 0:
            time.sleep(0.2)
    return row >= 10


@dataclass(frozen=True)
class WarmAll:
    """How a server's background warming ended: seconds from the process's start, when it loaded everything."""

    seconds: float | None  # None: it stopped short (cache limit, error) or did not finish in time
    outcome: str
    warming: dict[str, Any] | None  # /readyz's `warming` when it ended (or at the deadline)


def warm_all_outcome(warming: dict[str, Any] | None) -> str | None:
    """What a /readyz `warming` says of the end of warming: None while it runs, "complete" or why it fell short."""
    if warming is None:
        return "the server reports no warming"
    if not warming.get("done"):
        return None
    loaded, of = warming.get("loaded"), warming.get("of")
    if warming.get("full"):
        return f"stopped at the cache limit: {loaded} of {of} streams loaded (the rest load on first use)"
    if warming.get("error"):
        return f"stopped by {warming['error']} after {loaded} of {of} streams"
    if of is None or loaded is None or loaded < of:
        return f"ended with {loaded} of {of} streams loaded"
    return "complete"


def wait_warm_all(server: Server, budget_s: float) -> WarmAll:
    """Poll /readyz from the server's start until its warming ends, for at most `budget_s` after the start."""
    warming: dict[str, Any] | None = None
    while time.perf_counter() < server.started + budget_s:
        warming = httpx.get(f"{server.base}/readyz", timeout=5).json().get("warming")
        seen = time.perf_counter()
        outcome = warm_all_outcome(warming)
        if outcome is not None:
            return WarmAll(seen - server.started if outcome == "complete" else None, outcome, warming)
        time.sleep(0.1)
    return WarmAll(None, f"not done {budget_s:g} s after the start", warming)


def cpu_details(runs: dict[str, tuple[dict[str, Any], int]]) -> dict[str, Any]:
    """Per load run (its result, the server's workers): cores used by the server, the generator and the machine,
    and what bound it; and the runs the generator itself bound."""
    per_run = {name: result["cpu"].details(workers, CORES) for name, (result, workers) in runs.items()}
    return {
        "http_cpu": per_run,
        "http_runs_limited_by_generator": sorted(n for n, d in per_run.items() if d["limited_by"] == "generator"),
    }


def measure_first_pass(store: Store, meta: dict[str, Any], sizes: Sizes, seed: int, log_dir: Path) -> dict[str, Any]:
    """A fresh server (no warm-up, its own warming running as in production) asked about distinct people,
    against its /healthz right after: how the cold path holds on release day."""
    paths = first_pass_paths(meta, seed)
    server = start_server(store, log_dir)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            began_after = time.perf_counter() - server.started
            first = run_load(
                server.base, paths, sizes.first_pass_seconds, workdir, "first", server_pid=server.pid, distinct=True
            )
            health = run_load(
                server.base, ["/healthz"], sizes.first_pass_seconds, workdir, "first-healthz", server_pid=server.pid
            )
        warming = httpx.get(f"{server.base}/readyz", timeout=5).json().get("warming")
        answers_200(server, paths[:20])  # after the timed runs, so as not to warm them
    finally:
        server.stop()
    return {
        "http_first_pass_ratio": round(first["rps"] / health["rps"], 3),
        "details": {
            "http_first_pass_rps": round(first["rps"], 1),
            "http_first_pass_p50_ms": round(first["p50_ms"], 2),
            "http_first_pass_p99_ms": round(first["p99_ms"], 2),
            "http_first_pass_requests": first["requests"],
            "http_first_pass_errors": first["errors"],
            "http_first_pass_distinct_people": len(paths),
            # Requests beyond the distinct people asked someone a second time (the sample is finite).
            "http_first_pass_repeated_requests": max(0, first["requests"] - len(paths)),
            "http_first_pass_began_s_after_start": round(began_after, 2),
            "http_first_pass_healthz_rps": round(health["rps"], 1),
            "http_first_pass_healthz_p99_ms": round(health["p99_ms"], 2),
            "http_first_pass_warming_after": warming,
        },
        "runs": {"first_pass": (first, 1), "first_pass_healthz": (health, 1)},
    }


def measure_workers(store: Store, paths: list[str], seconds: float, log_dir: Path) -> dict[str, Any]:
    """The same check load against `ledger serve --workers 2`, warmed like the one-worker server."""
    server = start_server(store, log_dir, workers=2)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            warmed = wait_warmed(server)
            warm_server(server, paths, workdir)
            check = run_load(server.base, paths, seconds, workdir, "check-2-workers", server_pid=server.pid)
    finally:
        server.stop()
    return {**check, "warmed": warmed}


def measure_http(store: Store, meta: dict[str, Any], sizes: Sizes, seed: int, log_dir: Path) -> dict[str, Any]:
    """A fresh server's first pass; then a server timed until warmed, and its cold start, GET /v1/check against
    /healthz under 32 connections and peak RSS; then two workers under the same check load."""
    first_pass = measure_first_pass(store, meta, sizes, seed, log_dir)
    server = start_server(store, log_dir)
    try:
        paths = check_paths(meta, 1000 if sizes.checks >= 1000 else 200, seed)
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            warm_all = wait_warm_all(server, sizes.warm_all_budget_s)  # nor must it share the timed runs
            warm_server(server, paths, workdir)
            pid = server.pid
            health1 = run_load(server.base, ["/healthz"], sizes.http_seconds, workdir, "healthz1", server_pid=pid)
            before = thread_cpu_s(pid)
            check = run_load(server.base, paths, sizes.http_seconds, workdir, "check", server_pid=pid)
            check_cpu = server_cpu(pid, before, check["requests"])
            before = thread_cpu_s(pid)
            health2 = run_load(server.base, ["/healthz"], sizes.http_seconds, workdir, "healthz2", server_pid=pid)
            health_cpu = server_cpu(pid, before, health2["requests"])
        rss = vm_hwm_mb(server.pid)
    finally:
        server.stop()
    # Scale-out on one machine: two worker processes against the one above, same paths, same run.
    two = measure_workers(store, paths, sizes.http_seconds, log_dir)
    healthz_rps = (health1["rps"] + health2["rps"]) / 2
    runs = {
        **first_pass["runs"],
        "healthz_before": (health1, 1),
        "check": (check, 1),
        "healthz_after": (health2, 1),
        "check_2_workers": (two, 2),
    }
    return {
        "http_ratio": round(check["rps"] / healthz_rps, 3),
        "http_workers_ratio": round(two["rps"] / check["rps"], 3),
        "http_p99_ms": round(check["p99_ms"], 2),
        "http_first_pass_ratio": first_pass["http_first_pass_ratio"],
        "cold_start_s": round(server.cold_start_s, 2),
        "warm_all_s": None if warm_all.seconds is None else round(warm_all.seconds, 1),
        "rss_mb": round(rss, 1) if rss is not None else None,
        "details": {
            "load_generator": load_generator(),
            "cold_start_cpu_s": None if server.cold_start_cpu_s is None else round(server.cold_start_cpu_s, 2),
            "warm_all_outcome": warm_all.outcome,
            "warm_all_warming": warm_all.warming,
            **({} if warm_all.seconds is not None else {"figures_missed": ["warm_all_s"]}),
            **first_pass["details"],
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
            # Cores used during each run: the generator shares the machine's cores with the server.
            **cpu_details(runs),
        },
    }
