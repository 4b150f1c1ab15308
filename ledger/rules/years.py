"""Releases and kept exam years (R3, R16): which exam year is current and which are kept at an instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.streams import ReleasesView

_UNKNOWN = object()


def _memo(releases: ReleasesView, name: str) -> dict[tuple[object, ...], Any]:
    """One of the releases state's memos: sweeps ask the same instants many times."""
    memo = releases.memo.setdefault(name, {})
    assert isinstance(memo, dict)
    if len(memo) > 4096:  # "now" is a new instant on every query: keep the memo small
        memo.clear()
    return memo


def current_released_year(releases: ReleasesView, calendar: LedgerCalendar, t: datetime) -> ev.ScoresReleased | None:
    """Y*(t): the release of the largest exam year released at or before t (none before the first)."""
    memo = _memo(releases, "current")
    key = (calendar.zone_name, t)
    # One lookup, not `in` then `[]`: request threads share the memo and another may clear it in between.
    remembered = memo.get(key, _UNKNOWN)
    if remembered is not _UNKNOWN:
        found_before: ev.ScoresReleased | None = remembered
        return found_before
    found: ev.ScoresReleased | None = None
    for r in releases.in_year_order:
        if calendar.release_start(r.released_on) <= t and (found is None or r.exam_year > found.exam_year):
            found = r
    memo[key] = found
    return found


def release_of_year(releases: ReleasesView, exam_year: int) -> ev.ScoresReleased | None:
    """The release of one exam year, if recorded."""
    for r in releases.in_year_order:
        if r.exam_year == exam_year:
            return r
    return None


def exam_year_is_kept(releases: ReleasesView, calendar: LedgerCalendar, exam_year: int, t: datetime) -> bool:
    """R16: reports exist only for exam years Y*(t)-k+1 … Y*(t) that were released by t."""
    current = current_released_year(releases, calendar, t)
    if current is None:
        return False
    if not current.exam_year - calendar.kept_years < exam_year <= current.exam_year:
        return False
    release = release_of_year(releases, exam_year)
    return release is not None and calendar.release_start(release.released_on) <= t


def kept_years(releases: ReleasesView, calendar: LedgerCalendar, t: datetime) -> list[int]:
    """R16: the kept exam years at t, newest first."""
    memo = _memo(releases, "kept")
    key = (calendar.zone_name, calendar.kept_years, t)
    found: list[int] | None = memo.get(key)
    if found is None:
        found = memo[key] = sorted(
            (r.exam_year for r in releases.in_year_order if exam_year_is_kept(releases, calendar, r.exam_year, t)),
            reverse=True,
        )
    return list(found)
