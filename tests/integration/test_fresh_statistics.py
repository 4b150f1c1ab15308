"""On PostgreSQL the ledger analyzes its tables itself once enough rows were written: the machine's
autovacuum may be off, and without statistics a read of two streams is planned as a scan of every event."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from bootstrap import open_ledger
from projections.fact_index import PostgresFactIndex
from projections.system import LedgerSystem
from storage.postgres_recorder import PostgresLedgerRecorder
from tests.conftest import CALENDAR, FAST_HASHER, PG_URL, Clock, run

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_ledger(pg_schema_url: str) -> Iterator[LedgerSystem]:
    system = open_ledger(pg_schema_url, calendar=CALENDAR, clock=Clock(), hasher=FAST_HASHER, follow=False)
    try:
        yield system
    finally:
        system.close()


def analyzed(schema: str, table: str) -> bool:
    with psycopg.connect(PG_URL) as conn:
        row = conn.execute(
            "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE schemaname = %s AND relname = %s",
            (schema, table),
        ).fetchone()
    return bool(row and row[0])


def test_the_events_and_the_fact_index_are_analyzed_once_enough_rows_were_written(pg_ledger: LedgerSystem) -> None:
    recorder, index = pg_ledger.service.recorder, pg_ledger.view
    assert isinstance(recorder, PostgresLedgerRecorder)
    assert isinstance(index, PostgresFactIndex)
    schema = recorder.datastore.schema
    recorder.statistics.floor = index.statistics.floor = 3  # a handful of rows stands for a tenth of a large table
    run(pg_ledger, type="register_school", school_id="S1", name="Lakeside High")
    pg_ledger.runner.catch_up()
    assert not analyzed(schema, "ledger_events")
    assert not analyzed(schema, "lp_facts")

    for n in range(2, 5):
        run(pg_ledger, type="register_school", school_id=f"S{n}", name="Another High")
    pg_ledger.runner.catch_up()
    deadline = time.monotonic() + 30
    tables = ("ledger_events", "ledger_events_tree", "lp_facts")
    while not all(analyzed(schema, t) for t in tables) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [t for t in tables if not analyzed(schema, t)] == []


def test_a_committed_write_is_not_reported_failed_when_the_statistics_cannot_be_read(
    pg_ledger: LedgerSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = pg_ledger.service.recorder
    assert isinstance(recorder, PostgresLedgerRecorder)

    def unreachable() -> tuple[int, int]:
        raise psycopg.OperationalError("the server went away right after the commit")

    monkeypatch.setattr(recorder.statistics, "_server_counts", unreachable)
    outcome = run(pg_ledger, type="register_school", school_id="S1", name="Lakeside High")
    assert recorder.last_position() == outcome.position
