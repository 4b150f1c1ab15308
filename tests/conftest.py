"""Fixtures shared by every test: one parametrized store fixture (memory, SQLite, PostgreSQL), a settable clock.

PostgreSQL tests use the server at LEDGER_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test), each in a schema of its own. Without a
server they are skipped — except under CI=true, where they must run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from bootstrap import open_ledger
from ledger.calendar import LedgerCalendar
from ledger.commands import parse_command
from projections.system import LedgerSystem
from storage.codes import CodeHasher
from storage.outcomes import Outcome

PG_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Cheap argon2 parameters: tests hash many codes; production uses the settings' defaults.
FAST_HASHER = CodeHasher(time_cost=1, memory_cost_kib=64)
CALENDAR = LedgerCalendar()
NEW_YORK = ZoneInfo("America/New_York")

_pg_ok: bool | None = None


def postgres_available() -> bool:
    global _pg_ok
    if _pg_ok is None:
        try:
            with psycopg.connect(PG_URL, connect_timeout=3):
                _pg_ok = True
        except psycopg.Error:
            _pg_ok = False
    return _pg_ok


def require_postgres() -> None:
    if postgres_available():
        return
    if IN_CI:
        pytest.fail(f"CI=true but no PostgreSQL answers at {PG_URL}")
    pytest.skip(f"no PostgreSQL at {PG_URL}")


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema, dropped afterwards."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}schema={schema}&pool_size=2&max_overflow=20"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


STORES = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The same scenario on memory, SQLite and PostgreSQL."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return str(request.getfixturevalue("pg_schema_url"))


class Clock:
    """A settable clock for the ledger: `recorded_at` comes from here."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 1, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: str | datetime) -> None:
        self.now = CALENDAR.parse_instant(when) if isinstance(when, str) else when

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(store_url: str, clock: Clock) -> Iterator[LedgerSystem]:
    """An empty ledger on each store; projections are caught up on demand (`caught_up`)."""
    system = open_ledger(store_url, calendar=CALENDAR, clock=clock, hasher=FAST_HASHER, follow=False)
    try:
        yield system
    finally:
        system.close()


def run(system: LedgerSystem, /, actor: str = "tester", **command: Any) -> Outcome:
    """Execute one command given as keyword fields (raises LedgerError on refusal).

    The ledger is positional-only because commands have a field named `system`.
    """
    return system.service.execute(parse_command(command), actor)


def run_batch(system: LedgerSystem, commands: list[dict[str, Any]], actor: str = "tester") -> list[Outcome]:
    """Execute commands given as dicts as one all-or-nothing batch."""
    return system.service.execute_batch([parse_command(c) for c in commands], actor)


def last_position(system: LedgerSystem) -> int:
    """The position of the last event recorded (0 for an empty ledger)."""
    return system.service.recorder.last_position()


def ny(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    """A wall-clock time in New York (the ledger's default zone), as the UTC instant the ledger stores."""
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=NEW_YORK).astimezone(UTC)


def caught_up(system: LedgerSystem) -> LedgerSystem:
    """Project everything appended so far."""
    system.runner.catch_up()
    return system
