"""Races between processes on PostgreSQL: R9 holds, no event is lost or duplicated, no reader skips one.

Sixteen worker *processes* (spawned, each with its own `open_ledger`, so each has its
own connections, aggregate cache and projection state) run at once, released together
by a barrier.

Why no reader can skip an event (the third test): a follower reads "rows after the last
position I saw". With positions from a plain sequence that is unsafe: transaction A draws
position 7, B draws 8 and commits first, a follower sees 8 and moves on, then A commits 7 —
never read (`test_the_follower_would_notice_a_position_committed_after_a_higher_one` shows
this hazard on a scratch table, and that the follower used here detects it). The ledger's
append transaction takes `LOCK TABLE … IN EXCLUSIVE MODE` *first*, and only then reads the
last position and gives its events the positions after it; it holds the lock until commit
or rollback (storage/postgres_recorder.py `append_txn`, storage/postgres_txn.py `reserve_positions`). EXCLUSIVE conflicts
with itself, so at most one transaction is ever between choosing positions and finishing:
positions commit in increasing order, without gaps, and a reader's statement that sees
position p sees every lower one (`test_an_append_waits_while_another_holds_the_append_lock`
shows the waiting). SQLite: `BEGIN IMMEDIATE`, one writer; memory: one lock.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from multiprocessing.managers import SyncManager
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest

from bootstrap import open_ledger
from ledger.commands import parse_command
from ledger.errors import LedgerError
from projections.system import LedgerSystem
from storage.audit import feed
from tests.conftest import CALENDAR, FAST_HASHER, PG_URL, Clock, require_postgres

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PROCESSES = 16
PAST = "2024-08-01"


# --- what each worker process runs (module-level: spawned processes import this module) ----------------


def _open(url: str, opening: Any = None) -> LedgerSystem:
    """Open the ledger; `opening`, a lock shared by the workers, makes them open it one at a time
    (opening it at once fails on PostgreSQL: see test_sixteen_processes_can_open_one_ledger_at_once)."""
    if opening is None:
        return open_ledger(url, calendar=CALENDAR, hasher=FAST_HASHER, follow=False)
    with opening:
        return open_ledger(url, calendar=CALENDAR, hasher=FAST_HASHER, follow=False)


def open_in_process(url: str, barrier: Any) -> str:
    """Open the ledger at the same moment as every other worker; "ok" or the error."""
    barrier.wait(120)
    try:
        _open(url).close()
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return "ok"


def redeem_in_process(
    url: str, person_id: str, code: str, barrier: Any, opening: Any
) -> tuple[str, str | None, str | None]:
    """Redeem the code as `person_id` once every worker is ready: ("ok"|"refused", error code, rule)."""
    system = _open(url, opening)
    try:
        barrier.wait(120)
        command = {
            "type": "redeem_access_code",
            "school_id": "S1",
            "exam_year": 2025,
            "person_id": person_id,
            "code": code,
            "effective_at": "2025-07-02",
        }
        try:
            system.service.execute(parse_command(command), f"proc-{person_id}")
        except LedgerError as e:
            return ("refused", e.code, e.rule)
        return ("ok", None, None)
    finally:
        system.close()


def append_in_process(
    url: str, worker: int, per_worker: int, shared: int, barrier: Any, opening: Any
) -> dict[str, Any]:
    """Append `per_worker` registrations of our own (singles and batches), and try every one of `shared`
    registrations that every worker sends with the same idempotency key. Returns what we were answered."""
    system = _open(url, opening)
    try:
        barrier.wait(120)
        answers: dict[str, tuple[int, str]] = {}

        def command(key: str, pid: str) -> Any:
            return parse_command(
                {
                    "type": "register_person",
                    "person_id": pid,
                    "name": f"Name {pid}",
                    "email": f"{pid.lower()}@x.org",
                    "effective_at": PAST,
                    "idempotency_key": key,
                }
            )

        for k in range(shared):  # all workers at once, same keys
            outcome = system.service.execute(command(f"shared-{k}", f"SH-{k}"), f"proc-{worker}")
            answers[f"shared-{k}"] = (outcome.position, outcome.events[0].event_id)
        j = 0
        while j < per_worker:
            if j % 10 == 5:  # every tenth step, an atomic batch of three
                keys = [f"w{worker}-{j + n}" for n in range(min(3, per_worker - j))]
                outcomes = system.service.execute_batch([command(k, k.upper()) for k in keys], f"proc-{worker}")
                for key, o in zip(keys, outcomes, strict=True):
                    answers[key] = (o.position, o.events[0].event_id)
                j += len(keys)
            else:
                key = f"w{worker}-{j}"
                o = system.service.execute(command(key, key.upper()), f"proc-{worker}")
                answers[key] = (o.position, o.events[0].event_id)
                j += 1
        return answers
    finally:
        system.close()


# --- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[tuple[ProcessPoolExecutor, SyncManager]]:
    """Sixteen spawned worker processes (started once for the module) and a manager for barriers."""
    require_postgres()
    ctx = get_context("spawn")
    manager = ctx.Manager()
    executor = ProcessPoolExecutor(max_workers=PROCESSES, mp_context=ctx)
    try:
        yield executor, manager
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        manager.shutdown()


@pytest.fixture
def url(pg_schema_url: str) -> str:
    """This test's schema, with small connection pools: sixteen processes share the server."""
    return pg_schema_url.replace("pool_size=2&max_overflow=20", "pool_size=1&max_overflow=4")


@pytest.fixture
def ledger_here(url: str) -> Iterator[LedgerSystem]:
    """The ledger opened in the test process first (it creates the tables before the workers race)."""
    clock = Clock()
    clock.set("2025-07-02T12:00:00Z")
    system = open_ledger(url, calendar=CALENDAR, clock=clock, hasher=FAST_HASHER, follow=False)
    try:
        yield system
    finally:
        system.close()


def everything(system: LedgerSystem) -> list[dict[str, Any]]:
    events, _ = feed(system.service.recorder, system.service.mapper, 0, 1_000_000)
    return events


# --- opening one ledger from many processes ----------------------------------------------------------------


def test_sixteen_processes_can_open_one_ledger_at_once(
    pool: tuple[ProcessPoolExecutor, SyncManager], url: str, ledger_here: LedgerSystem
) -> None:
    """Several server processes starting together (uvicorn workers, replicas) must all come up.

    Fails today: every open runs the library's DDL again, including `CREATE OR REPLACE FUNCTION
    es_insert_events_text`, and PostgreSQL refuses concurrent replacements of one function with
    "tuple concurrently updated".
    """
    executor, manager = pool
    barrier = manager.Barrier(PROCESSES)
    results = [
        f.result(timeout=300) for f in [executor.submit(open_in_process, url, barrier) for _ in range(PROCESSES)]
    ]
    assert [r for r in results if r != "ok"] == []


# --- R9 under a process race -----------------------------------------------------------------------------------


def test_sixteen_processes_redeeming_one_code_never_give_more_than_five_staff_access(
    pool: tuple[ProcessPoolExecutor, SyncManager], url: str, ledger_here: LedgerSystem
) -> None:
    executor, manager = pool
    staff = [f"ST{n}" for n in range(PROCESSES)]
    commands: list[dict[str, Any]] = [
        {"type": "register_district", "district_id": "D1", "name": "D", "effective_at": PAST},
        {"type": "register_school", "school_id": "S1", "name": "S", "district_id": "D1", "effective_at": PAST},
    ]
    for pid in ["PR", *staff]:
        commands += [
            {
                "type": "register_person",
                "person_id": pid,
                "name": pid,
                "email": f"{pid.lower()}@x.org",
                "effective_at": PAST,
            },
            {"type": "add_affiliation", "person_id": pid, "org_id": "S1", "effective_at": PAST},
        ]
    commands += [
        {"type": "designate_principal", "school_id": "S1", "person_id": "PR", "exam_year": 2025, "effective_at": PAST},
        {"type": "release_scores", "exam_year": 2025, "released_on": "2025-07-01", "effective_at": "2025-07-01"},
        {"type": "issue_access_code", "school_id": "S1", "exam_year": 2025, "effective_at": "2025-07-01"},
    ]
    outcomes = ledger_here.service.execute_batch([parse_command(c) for c in commands], "registrar")
    code = outcomes[-1].result["code"]
    barrier = manager.Barrier(PROCESSES)

    opening = manager.Lock()
    futures = [executor.submit(redeem_in_process, url, pid, code, barrier, opening) for pid in staff]
    results = [f.result(timeout=300) for f in futures]

    assert Counter(r[0] for r in results) == {"ok": 5, "refused": PROCESSES - 5}, results
    assert {r[1:] for r in results if r[0] == "refused"} == {("five_staff_limit", "R9")}
    redeemed = [e for e in everything(ledger_here) if e["type"] == "AccessCodeRedeemed"]
    assert len(redeemed) == 5
    assert all(e["data"]["staff"] for e in redeemed)
    assert sorted(e["data"]["person_id"] for e in redeemed) == sorted(
        pid for pid, r in zip(staff, results, strict=True) if r[0] == "ok"
    )


# --- concurrent appends ---------------------------------------------------------------------------------------------

PER_WORKER = 30
SHARED = 5


def run_appenders(pool: tuple[ProcessPoolExecutor, SyncManager], url: str) -> list[dict[str, Any]]:
    executor, manager = pool
    barrier, opening = manager.Barrier(PROCESSES), manager.Lock()
    futures = [
        executor.submit(append_in_process, url, w, PER_WORKER, SHARED, barrier, opening) for w in range(PROCESSES)
    ]
    return [f.result(timeout=300) for f in futures]


def test_concurrent_appends_from_sixteen_processes_lose_and_duplicate_nothing(
    pool: tuple[ProcessPoolExecutor, SyncManager], url: str, ledger_here: LedgerSystem
) -> None:
    answers = run_appenders(pool, url)

    events = everything(ledger_here)
    keys = Counter(e["idempotency_key"] for e in events)
    expected = {f"w{w}-{j}" for w in range(PROCESSES) for j in range(PER_WORKER)} | {
        f"shared-{k}" for k in range(SHARED)
    }
    assert set(keys) == expected
    assert set(keys.values()) == {1}
    assert len(events) == PROCESSES * PER_WORKER + SHARED
    positions = [e["position"] for e in events]
    assert positions == sorted(set(positions))
    # What each process was answered is what the log holds; every process got the same answer for a shared key.
    held = {e["idempotency_key"]: (e["position"], e["event_id"]) for e in events}
    for answered in answers:
        assert answered == {k: held[k] for k in answered}
    # recorded_at never decreases along the position, even across processes.
    recorded = [datetime.fromisoformat(e["recorded_at"]) for e in events]
    assert recorded == sorted(recorded)
    assert ledger_here.service.recorder.last_position() >= positions[-1]


# --- readers never skip -----------------------------------------------------------------------------------------------


class Follower:
    """Reads "rows after the last position seen", as the feed's clients and the projection runner do."""

    def __init__(self, read_after: Callable[[int], list[int]]) -> None:
        self.read_after = read_after
        self.seen: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def poll(self) -> None:
        after = self.seen[-1] if self.seen else 0
        self.seen += self.read_after(after)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            time.sleep(0.002)

    def __enter__(self) -> Follower:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(10)
        self.poll()  # and one last read after the writers are done


def test_the_feed_and_a_following_projection_miss_no_position_while_sixteen_processes_append(
    pool: tuple[ProcessPoolExecutor, SyncManager], url: str, ledger_here: LedgerSystem
) -> None:
    recorder = ledger_here.service.recorder
    follower = open_ledger(url, calendar=CALENDAR, hasher=FAST_HASHER, follow=True)  # projects as rows appear
    follower.runner.poll_interval = 0.005
    try:
        with Follower(lambda after: [r.position for r in recorder.read_rows(after, 50)]) as feed_reader:
            run_appenders(pool, url)
        last = recorder.last_position()
        follower.runner.wait(last, 60)
        projected = [f.position for f in follower.view.facts_after(0, 1_000_000)]
        projected_up_to = follower.runner.projected
    finally:
        follower.close()

    in_log = [r.position for r in recorder.read_rows(0, 1_000_000)]
    assert len(in_log) == PROCESSES * PER_WORKER + SHARED
    assert feed_reader.seen == in_log  # every position, in order, none skipped
    assert projected == in_log
    assert projected_up_to == last


def test_an_append_waits_while_another_holds_the_append_lock(url: str, ledger_here: LedgerSystem) -> None:
    """The mechanism itself, with the ledger's own write path: an append that holds the lock (its
    clock is slow, and the clock is read under the lock, before positions are chosen) makes every
    other append wait; the waiting one then takes the next position, after the holder's."""
    ledger_here.service.execute(parse_command({"type": "register_district", "district_id": "D1", "name": "D"}), "t")
    inside = threading.Event()

    def slow_clock() -> datetime:
        if threading.current_thread().name == "holder":
            inside.set()
            time.sleep(1.5)
        return datetime.now(UTC)

    holding = open_ledger(url, calendar=CALENDAR, hasher=FAST_HASHER, follow=False, clock=slow_clock)
    answers: dict[str, int] = {}

    def append(system: LedgerSystem, name: str) -> None:
        command = parse_command({"type": "register_district", "district_id": f"D-{name}", "name": name})
        answers[name] = system.service.execute(command, "t").position

    try:
        holder = threading.Thread(target=append, args=(holding, "holder"), name="holder")
        holder.start()
        assert inside.wait(30)
        waiter = threading.Thread(target=append, args=(ledger_here, "waiter"), name="waiter")
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive(), "an append went ahead while another held the append lock"
        assert ledger_here.service.recorder.last_position() == 1
        holder.join(30)
        waiter.join(30)
    finally:
        holding.close()
    assert answers == {"holder": 2, "waiter": 3}
    assert [r.position for r in ledger_here.service.recorder.read_rows(0, 10)] == [1, 2, 3]


def test_the_follower_would_notice_a_position_committed_after_a_higher_one(url: str, ledger_here: LedgerSystem) -> None:
    """The hazard the append lock prevents, on a scratch table with a plain sequence and no lock:
    the follower above does miss the late commit there, so it would catch it in the ledger too."""
    schema = parse_qs(urlparse(url).query)["schema"][0]
    table = f'"{schema}".scratch'
    with psycopg.connect(PG_URL, autocommit=True) as setup:
        setup.execute(f"CREATE TABLE {table} (position bigserial PRIMARY KEY, v text)")

    def read_after(after: int) -> list[int]:
        with psycopg.connect(PG_URL, autocommit=True) as c:
            return [
                r[0]
                for r in c.execute(
                    f"SELECT position FROM {table} WHERE position > %s ORDER BY position", (after,)
                ).fetchall()
            ]

    follower = Follower(read_after)
    with psycopg.connect(PG_URL) as slow, psycopg.connect(PG_URL) as fast:
        slow.execute(f"INSERT INTO {table} (v) VALUES ('slow')")  # draws 1, not committed yet
        fast.execute(f"INSERT INTO {table} (v) VALUES ('fast')")  # draws 2
        fast.commit()
        follower.poll()  # sees 2 and moves past it
        slow.commit()  # 1 commits after 2
        follower.poll()

    assert read_after(0) == [1, 2]
    assert follower.seen == [2]  # position 1 was skipped
