"""Fallback HTTP load generator when wrk is not installed: N concurrent async httpx requests for a while.

Runs in its own process (so it does not share the GIL with anything measured) and
prints one JSON line: rps, p50_ms, p99_ms, requests, errors. Slower than wrk: on a
small machine it may cap the baseline, which the report names (`load_generator`).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from pathlib import Path

import httpx
import orjson


async def _run(
    url: str, paths: list[str], seconds: float, concurrency: int, secret: str, distinct: bool = False
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    asked = 0  # with `distinct`, the workers take the paths in turn, each once, and stop when all are asked
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=10, headers={"Authorization": f"Bearer {secret}"}
    ) as client:
        deadline = time.perf_counter() + seconds

        async def worker(offset: int) -> None:
            nonlocal errors, asked
            i = offset
            while time.perf_counter() < deadline:
                if distinct:
                    if asked >= len(paths):  # every path asked once: done
                        return
                    i, asked = asked, asked + 1
                else:
                    i += 1
                started = time.perf_counter()
                try:
                    response = await client.get(paths[i % len(paths)])
                    if response.status_code >= 400:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker(k * 7919) for k in range(concurrency)))
        elapsed = time.perf_counter() - began
    ordered = sorted(latencies) or [0.0]

    def pct(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000

    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "requests": len(latencies),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--paths", required=True, type=Path, help="a JSON list of paths")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--secret", default="")
    parser.add_argument("--distinct", action="store_true", help="each path once, then stop")
    args = parser.parse_args()
    paths = orjson.loads(args.paths.read_bytes())
    result = asyncio.run(_run(args.url, paths, args.seconds, args.concurrency, args.secret, args.distinct))
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
