"""The HTTP figures of a real `ledger serve`: check against /healthz, p99, two workers, cold start, RSS."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.http_load import check_paths, http_runner, load_generator
from bench.measure import Sizes
from bench.server import BENCH_SECRET, Server, server_cpu, start_server, thread_cpu_s, vm_hwm_mb
from bench.stores import Store


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
            before = thread_cpu_s(server.pid)
            check = run(server.base, paths, sizes.http_seconds, workdir, "check")
            check_cpu = server_cpu(server.pid, before, check["requests"])
            before = thread_cpu_s(server.pid)
            health2 = run(server.base, ["/healthz"], sizes.http_seconds, workdir, "healthz2")
            health_cpu = server_cpu(server.pid, before, health2["requests"])
        rss = vm_hwm_mb(server.pid)
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
