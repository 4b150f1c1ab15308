"""View models of the console: time formatting, event summaries, sorting (the interval chart is `chart`).

Pure functions over query answers; the templates only lay them out (and escape them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from markupsafe import Markup

from ledger import events as ev
from ledger.calendar import LedgerCalendar
from projections.answers import AccessEntry

# Fields never shown: a code digest is not the code, but nobody settling a dispute needs it.
HIDDEN_FIELDS = frozenset({"code_digest"})
EARLIEST_SHOWN = datetime(1900, 1, 1, tzinfo=UTC)


TIME_SUFFIX = "_time"


def joined_date_and_time(query: bytes) -> bytes:
    """One date-and-time control sends `x=2025-07-02&x_time=09:30`: read it as `x=2025-07-02T09:30`.

    A date alone is the start of that day in the ledger's zone; a full instant (from a link) is kept.
    """
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    times = {k[: -len(TIME_SUFFIX)]: v.strip() for k, v in pairs if k.endswith(TIME_SUFFIX)}
    if not times:
        return query
    present = {key for key, _ in pairs}
    out = []
    for key, value in pairs:
        if key.endswith(TIME_SUFFIX) and key[: -len(TIME_SUFFIX)] in present:
            continue
        moment = times.get(key, "")
        if moment and len(value.strip()) == 10:
            value = f"{value.strip()}T{moment}"
        out.append((key, value))
    return urlencode(out).encode("latin-1")


class Formatter:
    """Instants shown in the ledger's zone, always as `2025-07-02 09:30 EDT`."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def text(self, t: datetime | None, open_text: str = "open") -> str:
        if t is None:
            return open_text
        if t <= EARLIEST_SHOWN:
            return "the beginning"
        return t.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z")

    def date_value(self, t: datetime | None) -> str:
        """The value of the control's date input (ledger zone)."""
        return "" if t is None else t.astimezone(self.zone).strftime("%Y-%m-%d")

    def time_value(self, t: datetime | None) -> str:
        """The value of the control's time input: empty at the start of a day (a date alone means that)."""
        if t is None:
            return ""
        local = t.astimezone(self.zone)
        return "" if (local.hour, local.minute) == (0, 0) else local.strftime("%H:%M")

    def zone_label(self, t: datetime | None = None) -> str:
        """The zone as the control shows it: `America/New_York (EDT)`."""
        local = (t or datetime.now(UTC)).astimezone(self.zone)
        return f"{self.zone.key} ({local.strftime('%Z')})"

    def when(self, t: datetime | None, open_text: str = "open") -> Markup:
        """A <time> element: readable text, exact ISO instant in its datetime attribute."""
        if t is None or t <= EARLIEST_SHOWN:
            return Markup("{}").format(self.text(t, open_text))
        return Markup('<time datetime="{}">{}</time>').format(t.isoformat(), self.text(t))

    def day(self, t: datetime) -> str:
        """The local date of an instant."""
        return t.astimezone(self.zone).date().isoformat()

    def input_value(self, t: datetime | None) -> str:
        """The value of a datetime-local input (ledger zone, minutes)."""
        return "" if t is None else t.astimezone(self.zone).strftime("%Y-%m-%dT%H:%M")


def short_id(event_id: str) -> str:
    return event_id[:8]


def event_fields(event: ev.LedgerEvent) -> list[tuple[str, str]]:
    """The event's own fields (as the feed names them), as text, secrets' digests left out."""
    out = []
    for name, value in event.data().items():
        if name in HIDDEN_FIELDS:
            continue
        if value is None:
            continue
        if isinstance(value, bool):
            value = "yes" if value else "no"
        out.append((name, str(value)))
    return out


def event_summary(
    event: ev.LedgerEvent, skip: Iterable[str] = (), describe: Callable[[str, str, ev.LedgerEvent], str] | None = None
) -> str:
    """One line: the event's fields, e.g. `school_id S-110 (Lakeside High School) · exam_year 2025 · staff yes`."""
    skipped = set(skip)
    return " · ".join(
        f"{k} {describe(k, v, event) if describe else v}" for k, v in event_fields(event) if k not in skipped
    )


def grant_label(event: ev.LedgerEvent | None, event_id: str) -> str:
    """What a source event grants, in a few words."""
    if event is None:
        return f"event {short_id(event_id)}"
    if isinstance(event, ev.CourseAuthorized):
        return f"authorization {event.subject} {event.school_year}"
    if isinstance(event, ev.ScoresReleased):
        return f"{event.exam_year} release"
    if isinstance(event, ev.AccessCodeRedeemed):
        return f"code {event.exam_year} redeemed"
    if isinstance(event, ev.AccessCodeIssued):
        return f"code {event.exam_year} issued"
    if isinstance(event, ev.SystemAccessGranted):
        return f"{event.system.replace('_', ' ')} access"
    if isinstance(event, ev.DistrictAccessAdded):
        return f"district user {event.access_year}-{str(event.access_year + 1)[-2:]}"
    if isinstance(event, ev.SectionAssigned):
        return f"section {event.section_id}"
    return event.type


def grant_description(sources: Sequence[str], events: dict[str, ev.LedgerEvent]) -> str:
    """The grant behind an interval; issuances and releases are implied by redemptions and authorizations."""
    found = [events.get(s) for s in sources]
    implied = (ev.AccessCodeIssued, ev.ScoresReleased)
    main = [(e, s) for e, s in zip(found, sources, strict=True) if not isinstance(e, implied)]
    chosen = main or list(zip(found, sources, strict=True))
    return ", ".join(sorted({grant_label(e, s) for e, s in chosen}))


# --- who had access: sorting -----------------------------------------------------------------------

FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
SORT_KEYS: dict[str, Callable[[AccessEntry], Any]] = {
    "person_id": lambda e: (e.person_id, e.valid_from),
    "role": lambda e: (e.role.value, e.person_id, e.valid_from),
    "valid_from": lambda e: (e.valid_from, e.person_id),
    "valid_to": lambda e: (e.valid_to or FAR_FUTURE, e.person_id),
    "school_id": lambda e: (e.school_id or "", e.person_id, e.valid_from),
    "via_org": lambda e: (e.via_org, e.person_id, e.valid_from),
}
SORT_LABELS = {
    "person_id": "Person",
    "role": "Role",
    "valid_from": "From",
    "valid_to": "Until",
    "school_id": "School",
    "via_org": "Through",
}


def sorted_entries(entries: Sequence[AccessEntry], sort: str, descending: bool) -> list[AccessEntry]:
    """Entries in the ledger's order when `sort` is unknown or empty."""
    key = SORT_KEYS.get(sort)
    if key is None:
        return list(entries)
    return sorted(entries, key=key, reverse=descending)


def default_range(calendar: LedgerCalendar, now: datetime) -> tuple[date, date]:
    """The access year containing `now`: [Aug 1, next Aug 1)."""
    today = calendar.local_date(now)
    year = today.year if (today.month, today.day) >= (8, 1) else today.year - 1
    return date(year, 8, 1), date(year + 1, 8, 1)
