"""The figures of BENCHMARKS.md, each set against a baseline measured in the same run.

Throughput figures interleave: a slice of the measured work, then the baseline on the
rows that slice wrote, four times over (rebuild: baseline, rebuild, baseline); the
ratio divides the measured rate by the mean of the baselines, so a burst of load from
the machine's other tenants hits both sides.
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.generate import NOW, START, Item, extension
from bench.load import ACTOR, ScriptedClock
from bench.stores import RawTable, Store, work_copy
from ledger.access.vocabulary import SCHOOL_REPORTS, Level, Report
from ledger.commands import parse_command
from projections.system import LedgerSystem

NOW_DT = datetime.fromtimestamp(NOW, UTC)
START_DT = datetime.fromtimestamp(START, UTC)


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
    first_pass_seconds: float = 10.0  # at most: the run stops once each sampled person has been asked
    warm_all_budget_s: float = 180.0  # how long to wait for a server's warming before calling it a miss

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
                first_pass_seconds=2.0,
                warm_all_budget_s=60.0,
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
    The figures are the warm pass, but for `cold_check_p99_ms` (the cold pass at now); the rest of the cold
    pass, and its CPU, is in the details.
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
        "cold_check_p99_ms": round(percentile(now_cold, 99) / 1000, 3),
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
