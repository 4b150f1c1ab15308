"""Crash and resume of the projection, with a real process killed by SIGKILL.

A ledger of a few thousand events (teachers, sections, voids, late removals) is written
without projecting it. A child process catches the fact index up in small batches and is
killed while doing so — twice; the projection then resumes in this process from its
tracking position and must end identical, row for row (`voided_at` included), to an
uninterrupted projection of the same log, with every position exactly once.

Also: start-up resumes from the tracking position (tracking only moves forward), and
opening a ledger reads no events, so it does not grow with the log.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest

from bootstrap import open_ledger
from ledger.commands import parse_command
from projections.system import LedgerSystem
from storage.postgres_recorder import PostgresLedgerRecorder
from storage.recorders import LedgerRecorder
from storage.sqlite_recorder import SQLiteLedgerRecorder
from tests.conftest import CALENDAR, FAST_HASHER, PG_URL, Clock

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PERSONS = 1000  # five commands each, plus voids and removals: about 6,000 events
CHILD_BATCH = 25

# The child: project in small batches; a short pause after each batch keeps the catch-up
# running long enough, even on a fast machine, for the parent to kill it part-way.
CHILD = """
import sys, time
from bootstrap import open_ledger
system = open_ledger(sys.argv[1], follow=False, batch_size=int(sys.argv[2]))
system.runner.catch_up(progress=lambda done, end: time.sleep(0.004))
print("finished", flush=True)
"""


@dataclass
class Store:
    """A database under test: its URL, how to read its fact index raw, and its recorder class."""

    url: str
    facts: Callable[[], list[tuple[Any, ...]]]
    recorder_class: type[LedgerRecorder]
    copy_to: Callable[[Path], str] | None = None  # SQLite: copy the file, return the copy's URL


def sqlite_store(path: Path) -> Store:
    def facts() -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as conn:
            return [tuple(r) for r in conn.execute("SELECT * FROM lp_facts ORDER BY position")]

    def copy_to(folder: Path) -> str:
        target = folder / "copy.db"
        with sqlite3.connect(path) as source, sqlite3.connect(target) as dest:
            source.backup(dest)  # a consistent copy, WAL included
        return f"sqlite:///{target}"

    return Store(f"sqlite:///{path}", facts, SQLiteLedgerRecorder, copy_to)


def postgres_store(url: str) -> Store:
    schema = parse_qs(urlparse(url).query)["schema"][0]

    def facts() -> list[tuple[Any, ...]]:
        with psycopg.connect(PG_URL) as conn:
            return [tuple(r) for r in conn.execute(f'SELECT * FROM "{schema}".lp_facts ORDER BY position')]

    return Store(url, facts, PostgresLedgerRecorder)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return sqlite_store(tmp_path / "ledger.db")
    return postgres_store(str(request.getfixturevalue("pg_schema_url")))


@pytest.fixture
def opened() -> Iterator[Callable[..., LedgerSystem]]:
    """Open ledgers (not following unless asked) and close them all at the end."""
    systems: list[LedgerSystem] = []

    def open_(url: str, **kw: Any) -> LedgerSystem:
        kw.setdefault("follow", False)
        system = open_ledger(url, calendar=CALENDAR, clock=Clock(), hasher=FAST_HASHER, **kw)
        systems.append(system)
        return system

    yield open_
    for system in systems:
        system.close()


def fill(system: LedgerSystem, persons: int = PERSONS, batch: int = 400) -> int:
    """Write the log fast (batches), projecting nothing; returns the last position."""
    early = "2020-01-01"
    commands: list[dict[str, Any]] = [
        {"type": "register_district", "district_id": "D1", "name": "D1", "effective_at": early},
        *(
            {
                "type": "register_school",
                "school_id": f"S{i}",
                "name": f"S{i}",
                "district_id": "D1",
                "effective_at": early,
            }
            for i in range(5)
        ),
        {"type": "register_person", "person_id": "PR", "name": "PR", "email": "pr@x.org", "effective_at": early},
        *(
            {
                "type": "designate_principal",
                "school_id": f"S{i}",
                "person_id": "PR",
                "exam_year": 2025,
                "effective_at": early,
            }
            for i in range(5)
        ),
        {"type": "release_scores", "exam_year": 2025, "released_on": "2025-07-07"},
    ]
    for p in range(persons):
        pid, school = f"T{p}", f"S{p % 5}"
        commands += [
            {"type": "register_person", "person_id": pid, "name": pid, "email": f"{pid}@x.org", "effective_at": early},
            {"type": "accept_terms", "person_id": pid, "terms_version": "v1", "effective_at": early},
            {"type": "add_affiliation", "person_id": pid, "org_id": school, "effective_at": early},
            {
                "type": "authorize_course",
                "person_id": pid,
                "school_id": school,
                "subject": "AP-BIO",
                "school_year": 2025,
                "effective_at": "2024-08-15",
            },
            {
                "type": "assign_section",
                "person_id": pid,
                "school_id": school,
                "subject": "AP-BIO",
                "section_id": f"B{p % 3}",
                "school_year": 2025,
                "effective_at": "2024-08-20",
            },
        ]
    outcomes = []
    for i in range(0, len(commands), batch):
        outcomes += system.service.execute_batch([parse_command(c) for c in commands[i : i + batch]], "filler")
    # Voids of facts projected many batches earlier, and removals reported late.
    sections = [o for o in outcomes if o.events[0].type == "SectionAssigned"]
    later = [{"type": "void_event", "event_id": o.events[0].event_id, "reason": "entered twice"} for o in sections[::9]]
    later += [
        {
            "type": "remove_access",
            "person_id": f"T{p}",
            "org_id": f"S{p % 5}",
            "removed_by": "PR",
            "effective_at": "2025-10-01",
        }
        for p in range(0, persons, 7)
    ]
    for i in range(0, len(later), batch):
        system.service.execute_batch([parse_command(c) for c in later[i : i + batch]], "filler")
    return system.service.recorder.last_position()


def log_positions(system: LedgerSystem) -> list[int]:
    out: list[int] = []
    after = 0
    while rows := system.service.recorder.read_rows(after, 5000):
        out += [r.position for r in rows]
        after = rows[-1].position
    return out


@pytest.fixture
def start_child() -> Iterator[Callable[[str], subprocess.Popen[str]]]:
    """Start catch-up children; any still running at the end (a failed test) is killed."""
    children: list[subprocess.Popen[str]] = []

    def start(url: str) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, url, str(CHILD_BATCH)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=30)


def kill_while_catching_up(child: subprocess.Popen[str], observer: LedgerSystem, past: int, end: int) -> int:
    """SIGKILL the child at a random moment once it has projected beyond `past`; returns the tracking left."""
    deadline = time.monotonic() + 120
    while observer.view.tracked() <= past:
        if child.poll() is not None:
            pytest.fail(f"the child ended before it was killed: {child.communicate()}")
        if time.monotonic() > deadline:
            child.kill()
            pytest.fail("the child made no progress within 120 s")
        time.sleep(0.002)
    time.sleep(random.uniform(0, 0.05))  # anywhere in a batch: mid-transaction or between two
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    left = observer.view.tracked()
    assert past < left < end, f"killed at tracking {left}: not part-way through 1..{end}"
    return left


def test_a_projection_killed_twice_while_catching_up_resumes_and_ends_identical_to_an_uninterrupted_one(
    store: Store, opened: Callable[..., LedgerSystem], start_child: Callable[[str], Any], tmp_path: Path
) -> None:
    writer = opened(store.url)
    end = fill(writer)
    positions = log_positions(writer)
    assert len(positions) > 5000
    uninterrupted_url = store.copy_to(tmp_path) if store.copy_to else None
    observer = opened(store.url)
    assert observer.view.tracked() == 0

    first = kill_while_catching_up(start_child(store.url), observer, 0, end)
    second = kill_while_catching_up(start_child(store.url), observer, first, end)

    resumed = opened(store.url, batch_size=50)
    assert resumed.view.tracked() == second
    batches: list[tuple[int, int]] = []  # (first position, last position) of each batch written
    process = resumed.view.process

    def spy(facts: Any, voids: Any, last_position: int) -> None:
        batches.append((facts[0].position, last_position))
        process(facts, voids, last_position)

    resumed.view.process = spy  # type: ignore[method-assign]
    assert resumed.runner.catch_up() == end

    # Start-up resumed right after the tracking position and tracking only moved forward.
    assert batches[0][0] == positions[positions.index(second) + 1]
    assert all(b[0] > a[1] for a, b in itertools.pairwise(batches))
    assert batches[-1][1] == end

    rows = store.facts()
    assert [r[0] for r in rows] == positions  # every position exactly once, none missing
    assert len({r[1] for r in rows}) == len(rows)  # one row per event id
    assert any(r[10] is not None for r in rows)  # voided_at is set on the voided facts

    if uninterrupted_url is not None:
        fresh = opened(uninterrupted_url)
        assert fresh.runner.catch_up() == end
        fresh_rows = sqlite_store(Path(uninterrupted_url.removeprefix("sqlite:///"))).facts()
        assert rows == fresh_rows

    rebuilt = opened(store.url)
    assert rebuilt.runner.rebuild() == end
    assert store.facts() == rows


def test_a_following_runner_starts_reading_the_log_right_after_its_tracking_position(
    store: Store, opened: Callable[..., LedgerSystem], monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = opened(store.url, batch_size=100)
    end = fill(writer, persons=300)
    for _ in range(4):
        writer.runner.process_batch()
    tracked = writer.view.tracked()
    assert 0 < tracked < end

    reads: list[int] = []
    read_stored = store.recorder_class.read_stored  # what the runner reads the log with

    def spy(self: Any, after: int, limit: int) -> Any:
        reads.append(after)
        return read_stored(self, after, limit)

    monkeypatch.setattr(store.recorder_class, "read_stored", spy)
    follower = opened(store.url, follow=True)
    assert follower.runner.wait(end, timeout=60) == end
    follower.runner.stop()

    assert reads
    assert min(reads) == tracked  # nothing at or before the tracking position is read again
    assert follower.view.tracked() == end


def test_opening_a_ledger_reads_no_events_and_leaves_tracking_unchanged_however_long_the_log(
    store: Store, opened: Callable[..., LedgerSystem], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    writer = opened(store.url, batch_size=500)
    end = fill(writer)
    writer.runner.process_batch()
    tracked = writer.view.tracked()
    assert 0 < tracked < end

    reads: list[str] = []
    for name in ("read_rows", "read_stored", "select_events", "select_notifications"):
        original = getattr(store.recorder_class, name)

        def spy(self: Any, *args: Any, _name: str = name, _original: Any = original, **kw: Any) -> Any:
            reads.append(_name)
            return _original(self, *args, **kw)

        monkeypatch.setattr(store.recorder_class, name, spy)

    started = time.monotonic()
    reopened = opened(store.url)
    took_long_log = time.monotonic() - started

    assert reads == []
    assert reopened.view.tracked() == tracked
    assert reopened.queries.position(None) == tracked

    # Opening an empty ledger takes about as long: start-up does not grow with the log.
    if store.copy_to is not None:
        empty_url = f"sqlite:///{tmp_path / 'empty.db'}"
        opened(empty_url).close()  # tables created, as they are for the long log
    else:
        empty_url = store.url  # PostgreSQL: compare with a second open of the same schema
    started = time.monotonic()
    opened(empty_url)
    took_empty = time.monotonic() - started
    assert took_long_log < 3 * took_empty + 0.5, (took_long_log, took_empty)
