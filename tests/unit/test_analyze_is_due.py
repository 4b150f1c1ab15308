"""When the ledger refreshes PostgreSQL's statistics of a table: at a tenth of its rows written, never for a handful."""

from __future__ import annotations

from storage.pg_statistics import analyze_is_due


def test_a_table_never_analyzed_is_due_at_the_first_write_once_it_holds_more_than_a_few_rows() -> None:
    assert analyze_is_due(written=4_443_452, rows=0)
    assert not analyze_is_due(written=999, rows=0)


def test_a_large_table_is_due_again_once_a_tenth_of_its_rows_were_written_since() -> None:
    assert not analyze_is_due(written=440_000, rows=4_443_452)
    assert analyze_is_due(written=445_346, rows=4_443_452)


def test_the_threshold_follows_the_given_scale_and_floor() -> None:
    assert analyze_is_due(written=3, rows=10, scale=0.1, floor=2)
    assert not analyze_is_due(written=2, rows=10, scale=0.1, floor=2)
