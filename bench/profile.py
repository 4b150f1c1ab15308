"""Profiles of the slow paths with pyinstrument and py-spy (`pip install -e ".[bench]"`).

Run separately from the timed measurements (a sampling profiler still costs a little).
Files land in `<out>/profiles/<tier>-<store>-<path>.txt` (pyinstrument call trees); the
server under HTTP load is sampled by py-spy (`--gil`: only the thread running Python),
summarized as top frames by self and inclusive share.
"""

from __future__ import annotations

import functools
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.generate import NOW, extension
from bench.http_figures import warm_server
from bench.http_load import check_paths, run_load
from bench.load import ACTOR, ScriptedClock
from bench.measure import NOW_DT, Sizes, check_calls, who_calls
from bench.server import start_server
from bench.stores import Store, work_copy
from ledger.commands import parse_command
from projections.system import LedgerSystem


def _profiler() -> Any:
    try:
        from pyinstrument import Profiler
    except ImportError as e:  # pragma: no cover - a dev tool, not a dependency
        raise SystemExit('--profile needs pyinstrument: pip install -e ".[bench]"') from e
    return Profiler(interval=0.0005)


def _write(profiler: Any, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    tree = out_dir / f"{name}.txt"
    tree.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    return tree


def _profile_calls(
    make: Callable[[int], Sequence[Callable[[], Any]]],
    out_dir: Path,
    name: str,
    *,
    warm: bool = True,
    min_seconds: float = 3.0,
) -> Path:
    """Profile calls made by `make(question)`.

    Warm: after a first pass (question 0), passes of new questions about the same people
    until `min_seconds`. Cold: one first pass.
    """
    if warm:
        for call in make(0):
            call()
    # Calls are built before the profiler starts, so it sees only the queries.
    rounds = [make(q) for q in range(1, 40)] if warm else [make(0)]
    profiler = _profiler()
    profiler.start()
    started = time.perf_counter()
    for calls in rounds:
        for call in calls:
            call()
        if time.perf_counter() - started >= min_seconds:
            break
    profiler.stop()
    return _write(profiler, out_dir, name)


def _checks(
    system: LedgerSystem, meta: dict[str, Any], n: int, historical: bool, seed: int, question: int
) -> list[Callable[[], Any]]:
    return check_calls(system, meta, n, historical=historical, seed=seed, question=question)


def profile_store(
    store: Store,
    meta: dict[str, Any],
    sizes: Sizes,
    seed: int,
    out_dir: Path,
    prefix: str,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """check (now, historical), who_had_access, rebuild, append and import on one store."""
    written: list[Path] = []
    system = store.open(clock=lambda: NOW_DT)
    try:
        system.runner.catch_up()
        n, k = sizes.profile_checks, sizes.profile_whos
        written.append(
            _profile_calls(
                lambda q: check_calls(system, meta, 4 * n, historical=False, seed=seed + 7, question=q),
                out_dir,
                f"{prefix}-check-now-cold",
                warm=False,
            )
        )
        for historical, name in ((False, "check-now"), (True, "check-hist")):
            written.append(
                _profile_calls(
                    functools.partial(_checks, system, meta, n, historical, seed + 1),
                    out_dir,
                    f"{prefix}-{name}",
                )
            )
        written.append(
            _profile_calls(lambda q: who_calls(system, meta, k, seed + 1, question=q), out_dir, f"{prefix}-who")
        )
        profiler = _profiler()
        started = time.perf_counter()
        profiler.start()
        system.runner.rebuild()
        profiler.stop()
        log(f"[{store.kind}] profiled rebuild ({time.perf_counter() - started:.1f}s under the profiler)")
        written.append(_write(profiler, out_dir, f"{prefix}-rebuild"))
    finally:
        system.close()
    with work_copy(store) as url:
        clock = ScriptedClock(NOW)
        system = store.open(url, clock=clock)
        try:
            service = system.service
            items = [(i.t, parse_command(i.command)) for i in extension(meta, "PA", 25 + 300, seed)]
            for t, command in items[:25]:
                clock.set(t)
                service.execute(command, ACTOR)
            profiler = _profiler()
            profiler.start()
            for t, command in items[25:]:
                clock.set(t)
                service.execute(command, ACTOR)
            profiler.stop()
            written.append(_write(profiler, out_dir, f"{prefix}-append"))
            imports = extension(meta, "PI", 2000, seed, start=NOW + 40 * 86_400)
            batches = [
                (imports[i + 499].t, [parse_command(x.command) for x in imports[i : i + 500]])
                for i in range(0, 2000, 500)
            ]
            profiler = _profiler()
            profiler.start()
            for t, commands in batches:
                clock.set(t)
                service.execute_batch(commands, ACTOR)
            profiler.stop()
            written.append(_write(profiler, out_dir, f"{prefix}-import"))
        finally:
            system.close()
    return written


def _py_spy() -> str | None:
    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


def summarize_collapsed(raw: Path, top: int = 45) -> str:
    """Top frames by self and by inclusive samples, from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"py-spy samples: {total} (the thread holding the GIL; start-up included)", "", "self%  frame"]
    lines += [f"{100 * n / total:5.1f}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "total%  frame (inclusive)"]
    lines += [f"{100 * n / total:5.1f}  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def profile_http(
    store: Store, meta: dict[str, Any], sizes: Sizes, seed: int, out_dir: Path, prefix: str, log_dir: Path
) -> Path | None:
    """The server under GET /v1/check load, sampled by py-spy (skipped when py-spy is not installed)."""
    spy = _py_spy()
    if spy is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / f"{prefix}-http-check.collapsed"
    server = start_server(
        store, log_dir, wrapper=[spy, "record", "--gil", "--format", "raw", "--rate", "200", "-o", str(raw), "--"]
    )
    try:
        paths = check_paths(meta, 1000 if sizes.checks >= 1000 else 200, seed)
        with tempfile.TemporaryDirectory() as tmp:
            warm_server(server, paths, Path(tmp))
            run_load(server.base, paths, max(5.0, sizes.http_seconds), Path(tmp), "profile")
    finally:
        server.stop()
    if not raw.exists():
        return None
    summary = out_dir / f"{prefix}-http-check.txt"
    summary.write_text(summarize_collapsed(raw))
    raw.unlink()
    return summary
