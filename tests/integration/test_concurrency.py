"""Concurrent writers: the R9 race, monotonic `recorded_at`, and appends that lose or duplicate nothing.

Separate `open_ledger` instances on one database stand for separate processes: each
has its own aggregate cache and its own connections, so only the store's append lock
keeps them consistent.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from bootstrap import open_ledger
from ledger.errors import LedgerError, RuleViolation
from ledger.events import AccessCodeRedeemed, school_stream
from projections.system import LedgerSystem
from storage.audit import feed
from storage.integrity import verify_chain
from storage.service import utc_now
from tests.conftest import CALENDAR, FAST_HASHER, run, run_batch

LONG_AGO = "2020-01-01"
RACERS = 16
PG_ROUNDS = 20
SQLITE_ROUNDS = 10
JOIN_TIMEOUT = 120  # seconds: a hung writer fails the test instead of hanging CI


# --- helpers ---------------------------------------------------------------------------------


def with_pool(url: str, size: int, overflow: int) -> str:
    """The same PostgreSQL URL with a smaller pool: sixteen instances share one server."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(pool_size=str(size), max_overflow=str(overflow))
    return urlunsplit(parts._replace(query=urlencode(query)))


@contextmanager
def instances(url: str, clocks: list[Callable[[], datetime]]) -> Iterator[list[LedgerSystem]]:
    """One ledger instance per clock on the same store (opened one by one: tables are created on first use)."""
    with ExitStack() as stack:
        out = []
        for clock in clocks:
            system = open_ledger(url, calendar=CALENDAR, clock=clock, hasher=FAST_HASHER, follow=False)
            stack.callback(system.close)
            out.append(system)
        yield out


def all_events(system: LedgerSystem) -> list[dict[str, Any]]:
    """The whole feed, page by page."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page, after = feed(system.service.recorder, system.service.mapper, after, 500)
        if not page:
            return out
        out.extend(page)


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0) … work(count-1) in parallel threads; each result is a value or the exception raised."""

    def guarded(i: int) -> Any:
        try:
            return work(i)
        except Exception as e:  # collected and asserted by the caller
            return e

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(guarded, i) for i in range(count)]
        return [f.result(timeout=JOIN_TIMEOUT) for f in futures]


def prepare_race(system: LedgerSystem, round_no: int) -> tuple[str, list[str], str]:
    """A fresh school with its principal, sixteen affiliated staff and a code: (school, staff, code)."""
    school = f"S-{round_no}"
    principal = f"P-{round_no}"
    staff = [f"T-{round_no}-{i}" for i in range(RACERS)]
    commands: list[dict[str, Any]] = [
        {"type": "register_school", "school_id": school, "name": school, "effective_at": LONG_AGO},
        {
            "type": "register_person",
            "person_id": principal,
            "name": principal,
            "email": "p@example.org",
            "effective_at": LONG_AGO,
        },
        {
            "type": "designate_principal",
            "school_id": school,
            "person_id": principal,
            "exam_year": 2025,
            "effective_at": LONG_AGO,
        },
    ]
    for pid in staff:
        commands.append(
            {
                "type": "register_person",
                "person_id": pid,
                "name": pid,
                "email": "t@example.org",
                "effective_at": LONG_AGO,
            }
        )
        commands.append({"type": "add_affiliation", "person_id": pid, "org_id": school, "effective_at": LONG_AGO})
    run_batch(system, commands, "setup")
    code = run(system, type="issue_access_code", school_id=school, exam_year=2025, effective_at="2025-07-01").result[
        "code"
    ]
    return school, staff, code


def race_round(racers: list[LedgerSystem], round_no: int) -> None:
    """Sixteen instances redeem one school's code at the same moment: exactly five staff get in."""
    school, staff, code = prepare_race(racers[0], round_no)
    barrier = threading.Barrier(len(racers), timeout=60)

    def redeem(i: int) -> Any:
        barrier.wait()
        return run(
            racers[i],
            type="redeem_access_code",
            school_id=school,
            exam_year=2025,
            person_id=staff[i],
            code=code,
            effective_at="2025-07-10",
        )

    results = in_threads(len(racers), redeem)
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, LedgerError)]
    assert not unexpected, f"round {round_no}: {unexpected!r}"
    accepted = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, LedgerError)]
    assert len(accepted) == 5, f"round {round_no}: {len(accepted)} accepted, refusals {[r.code for r in refused]}"
    assert all(o.result["staff"] is True for o in accepted)
    assert len(refused) == RACERS - 5
    assert all(type(e) is RuleViolation and (e.code, e.rule) == ("five_staff_limit", "R9") for e in refused), [
        (type(e).__name__, e.code, e.rule) for e in refused
    ]
    # What the store holds, read afresh: five redemptions of the code, no more.
    stored = racers[-1].service.stream(school_stream(school))
    assert len(stored.of(AccessCodeRedeemed)) == 5


def assert_recorded_at_never_decreases(events: list[dict[str, Any]]) -> None:
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    times = [datetime.fromisoformat(e["recorded_at"]) for e in events]
    decreases = [(a, b) for a, b in itertools.pairwise(times) if b < a]
    assert not decreases, f"recorded_at decreased {len(decreases)} times, e.g. {decreases[0]}"


class BackwardsClock:
    """A clock that runs backwards: every reading is a second earlier than the one before."""

    def __init__(self) -> None:
        self.now = utc_now()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now -= timedelta(seconds=1)
            return self.now


SKEWED_CLOCKS: list[Callable[[], datetime]] = [
    utc_now,
    lambda: utc_now() - timedelta(hours=1),
    lambda: utc_now() + timedelta(minutes=30),
    BackwardsClock(),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A store several instances can open at once (memory cannot be shared between instances)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shared.db"
    return with_pool(str(request.getfixturevalue("pg_schema_url")), 1, 3)


# --- a. the R9 race on PostgreSQL ---------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.slow
def test_sixteen_processes_racing_to_redeem_one_code_on_postgresql_let_exactly_five_staff_in(
    pg_schema_url: str,
) -> None:
    url = with_pool(pg_schema_url, 1, 3)
    with instances(url, [utc_now] * RACERS) as racers:
        for round_no in range(PG_ROUNDS):
            race_round(racers, round_no)
        assert verify_chain(racers[0].service.recorder).ok


# --- b. the same race on SQLite ---------------------------------------------------------------------


@pytest.mark.slow
def test_sixteen_instances_racing_to_redeem_one_code_on_one_sqlite_file_let_exactly_five_staff_in(
    tmp_path: Path,
) -> None:
    with instances(f"sqlite:///{tmp_path}/race.db", [utc_now] * RACERS) as racers:
        for round_no in range(SQLITE_ROUNDS):
            race_round(racers, round_no)
        assert verify_chain(racers[0].service.recorder).ok


# --- c. recorded_at is monotonic under concurrent writers with skewed clocks --------------------------------


def test_recorded_at_never_decreases_along_the_position_with_concurrent_writers_on_skewed_clocks(
    shared_url: str,
) -> None:
    per_writer = 15
    with instances(shared_url, SKEWED_CLOCKS) as writers:
        # The writer whose clock is ahead goes first, so every later append by the others must catch up to it.
        run(writers[2], type="register_district", district_id="D-AHEAD", name="ahead")
        barrier = threading.Barrier(len(writers), timeout=60)

        def write(w: int) -> None:
            barrier.wait()
            for i in range(per_writer):
                run(writers[w], type="register_person", person_id=f"W{w}-{i}", name="x", email="x@example.org")

        results = in_threads(len(writers), write)
        assert not [r for r in results if isinstance(r, Exception)], results
        events = all_events(writers[0])
        assert len(events) == 1 + len(writers) * per_writer
        assert_recorded_at_never_decreases(events)
        assert verify_chain(writers[0].service.recorder).ok


# --- d. concurrent appends lose and duplicate nothing -------------------------------------------------------


def _append_with_keys(systems: list[LedgerSystem], threads: int, per_thread: int) -> None:
    """`threads` writers (writer i uses systems[i % len(systems)]), each appending commands under distinct keys."""
    barrier = threading.Barrier(threads, timeout=60)

    def write(w: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            run(
                systems[w % len(systems)],
                type="register_person",
                person_id=f"W{w}-{i}",
                name="x",
                email="x@example.org",
                idempotency_key=f"key-{w}-{i}",
            )

    results = in_threads(threads, write)
    assert not [r for r in results if isinstance(r, Exception)], results
    reader = systems[0]
    events = all_events(reader)
    assert len(events) == threads * per_thread
    keys = [e["idempotency_key"] for e in events]
    expected = {f"key-{w}-{i}" for w in range(threads) for i in range(per_thread)}
    assert sorted(keys) == sorted(expected)  # each key exactly once
    assert sorted(e["data"]["person_id"] for e in events) == sorted(
        f"W{w}-{i}" for w in range(threads) for i in range(per_thread)
    )
    for key in expected:
        assert reader.service.recorder.find_idempotency(key) is not None
    assert_recorded_at_never_decreases(events)
    assert verify_chain(reader.service.recorder).ok


def test_threads_sharing_one_ledger_lose_and_duplicate_no_append(ledger: LedgerSystem) -> None:
    _append_with_keys([ledger], threads=4, per_thread=20)


def test_separate_instances_on_one_store_lose_and_duplicate_no_append(shared_url: str) -> None:
    with instances(shared_url, [utc_now] * 4) as systems:
        _append_with_keys(systems, threads=4, per_thread=20)


def test_retrying_the_same_keys_from_another_instance_appends_nothing(shared_url: str) -> None:
    with instances(shared_url, [utc_now] * 2) as (first, second):
        for i in range(5):
            run(
                first,
                type="register_person",
                person_id=f"P{i}",
                name="x",
                email="x@example.org",
                idempotency_key=f"k-{i}",
            )
        before = second.service.recorder.last_position()

        def retry(i: int) -> Any:
            return run(
                second,
                type="register_person",
                person_id=f"P{i % 5}",
                name="x",
                email="x@example.org",
                idempotency_key=f"k-{i % 5}",
            )

        results = in_threads(10, retry)
        assert all(not isinstance(r, Exception) and r.replayed for r in results), results
        assert second.service.recorder.last_position() == before
