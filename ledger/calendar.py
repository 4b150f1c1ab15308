"""Calendar boundaries of the ledger, computed in the ledger's zone (docs/rules.md#time).

Instants are timezone-aware UTC datetimes everywhere in the ledger; calendar
boundaries (Aug 1, Jul 31, release days) are dates in the ledger's zone, turned
into instants here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "America/New_York"
DEFAULT_KEPT_YEARS = 5
# Years outside this range are treated as malformed input.
MIN_YEAR = 1955
MAX_YEAR = 2200


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True)
class LedgerCalendar:
    """The ledger's zone and the number of kept exam years: all the calendar the rules need."""

    zone_name: str = DEFAULT_ZONE
    kept_years: int = DEFAULT_KEPT_YEARS
    _cache: dict[tuple[str, int], datetime] = field(default_factory=dict, compare=False, repr=False)

    @property
    def zone(self) -> ZoneInfo:
        """The ledger's zone as a ZoneInfo."""
        return _zone(self.zone_name)

    def start_of_day(self, day: date) -> datetime:
        """The first instant of `day` in the ledger's zone, in UTC."""
        key = ("day", day.toordinal())
        found = self._cache.get(key)
        if found is None:
            found = datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)
            if len(self._cache) < 100_000:  # dates come from a small calendar range
                self._cache[key] = found
        return found

    def local_date(self, instant: datetime) -> date:
        """The date in the ledger's zone at `instant`."""
        return instant.astimezone(self.zone).date()

    def august_first(self, year: int) -> datetime:
        """Start of Aug 1 of `year` in the ledger's zone: access windows open here."""
        key = ("aug1", year)
        found = self._cache.get(key)
        if found is None:
            found = self.start_of_day(date(year, 8, 1))
            self._cache[key] = found
        return found

    def access_window(self, access_year: int) -> tuple[datetime, datetime]:
        """Access year A is [Aug 1 of A, Aug 1 of A+1), i.e. through Jul 31 of A+1 (docs/rules.md#words)."""
        return self.august_first(access_year), self.august_first(access_year + 1)

    def code_expiry(self, exam_year: int) -> datetime:
        """The code of exam year Y is valid through the end of Jul 31 of Y+1 (R8)."""
        return self.august_first(exam_year + 1)

    def release_start(self, released_on: date) -> datetime:
        """Scores count as released from the start of `released_on` (docs/rules.md#words)."""
        return self.start_of_day(released_on)

    def parse_instant(self, text: str) -> datetime:
        """Parse an ISO-8601 instant or date; dates and naive times are in the ledger's zone.

        Raises ValueError for malformed text and for instants outside the years the ledger accepts.
        """
        text = text.strip()
        try:
            if len(text) == 10:
                instant = self.start_of_day(date.fromisoformat(text))
            else:
                instant = self.to_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except OverflowError:
            raise ValueError(f"{text!r} is outside the calendar") from None
        if not year_is_plausible(instant.year):
            raise ValueError(f"{text!r} is outside the years {MIN_YEAR}–{MAX_YEAR}")
        return instant

    def to_utc(self, value: datetime) -> datetime:
        """Normalise a datetime to UTC; a naive one is read in the ledger's zone."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.zone)
        return value.astimezone(UTC)


def year_is_plausible(year: int) -> bool:
    """Whether `year` is a year the ledger accepts (a malformed year is refused naming the field)."""
    return MIN_YEAR <= year <= MAX_YEAR
