"""Releases and kept exam years (R3, R16): which exam year is current and which are kept at an instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.streams import CalendarView


def _memo(calendar: CalendarView, name: str) -> dict[tuple[object, ...], Any]:
    """One of the calendar state's memos: sweeps ask the same instants many times."""
    memo = calendar.memo.setdefault(name, {})
    assert isinstance(memo, dict)
    if len(memo) > 4096:  # "now" is a new instant on every query: keep the memo small
        memo.clear()
    return memo


def current_released_year(calendar: CalendarView, cal: LedgerCalendar, t: datetime) -> ev.ScoresReleased | None:
    """Y*(t): the release of the largest exam year released at or before t (none before the first)."""
    memo = _memo(calendar, "current")
    key = (cal.zone_name, t)
    if key in memo:
        found_before: ev.ScoresReleased | None = memo[key]
        return found_before
    found: ev.ScoresReleased | None = None
    for r in calendar.releases:
        if cal.release_start(r.released_on) <= t and (found is None or r.exam_year > found.exam_year):
            found = r
    memo[key] = found
    return found


def release_of_year(calendar: CalendarView, exam_year: int) -> ev.ScoresReleased | None:
    """The release of one exam year, if recorded."""
    for r in calendar.releases:
        if r.exam_year == exam_year:
            return r
    return None


def exam_year_is_kept(calendar: CalendarView, cal: LedgerCalendar, exam_year: int, t: datetime) -> bool:
    """R16: reports exist only for exam years Y*(t)-k+1 … Y*(t) that were released by t."""
    current = current_released_year(calendar, cal, t)
    if current is None:
        return False
    if not current.exam_year - cal.kept_years < exam_year <= current.exam_year:
        return False
    release = release_of_year(calendar, exam_year)
    return release is not None and cal.release_start(release.released_on) <= t


def kept_years(calendar: CalendarView, cal: LedgerCalendar, t: datetime) -> list[int]:
    """R16: the kept exam years at t, newest first."""
    memo = _memo(calendar, "kept")
    key = (cal.zone_name, cal.kept_years, t)
    found: list[int] | None = memo.get(key)
    if found is None:
        found = memo[key] = sorted(
            (r.exam_year for r in calendar.releases if exam_year_is_kept(calendar, cal, r.exam_year, t)),
            reverse=True,
        )
    return list(found)
