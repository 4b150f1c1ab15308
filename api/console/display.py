"""View models of the console: time formatting, event summaries, the interval chart, sorting.

Pure functions over query answers; the templates only lay them out (and escape them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from markupsafe import Markup

from ledger import events as ev
from ledger.calendar import LedgerCalendar
from projections.queries import AccessEntry, KnownInterval

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


# --- the interval chart ---------------------------------------------------------------------------

# How an interval stands between the chosen "as known on" time (then) and today (now).
BOTH, THEN_ONLY, NOW_ONLY, NEITHER = "both", "then-only", "now-only", "neither"
STATUS_TEXT = {
    BOTH: "believed then and now",
    THEN_ONLY: "believed then, no longer",
    NOW_ONLY: "learned later",
    NEITHER: "superseded (believed at neither time)",
}
CURRENT_TEXT = "current"


@dataclass(frozen=True)
class IntervalRow:
    """One derived interval as the table shows it."""

    interval: KnownInterval
    grant: str
    believed_then: bool
    believed_now: bool

    @property
    def status(self) -> str:
        if self.believed_then and self.believed_now:
            return BOTH
        if self.believed_then:
            return THEN_ONLY
        if self.believed_now:
            return NOW_ONLY
        return NEITHER


def interval_rows(
    intervals: Iterable[KnownInterval], known_position: int | None, events: dict[str, ev.LedgerEvent]
) -> list[IntervalRow]:
    """Every derived interval, with whether it was believed at `known_position` and is believed now."""
    out = []
    for i in intervals:
        now = i.known_to_position is None
        if known_position is None:
            then = now
        else:
            then = i.known_from_position <= known_position and (
                i.known_to_position is None or i.known_to_position > known_position
            )
        out.append(IntervalRow(i, grant_description(i.sources, events), then, now))
    return out


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # BOTH, THEN_ONLY, NOW_ONLY (or "current" without a comparison)
    title: str
    open_end: bool
    end_label: str  # the last day, written after the bar when there is room ("" otherwise)


@dataclass(frozen=True)
class Lane:
    label: str
    y: float
    bars: list[Bar]


@dataclass(frozen=True)
class ChartRow:
    org_id: str
    role: str
    grant: str
    y: float
    height: float
    lanes: list[Lane]


@dataclass(frozen=True)
class Marker:
    x: float
    label: str
    kind: str  # "release", "aug1", "at"
    title: str


@dataclass
class Chart:
    width: int
    height: int
    left: int
    plot_width: int
    top: int
    rows: list[ChartRow] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    comparing: bool = False


CHART_WIDTH = 1000
LABEL_WIDTH = 250
RIGHT = 70  # room for the last bar's end label and the last Aug 1 label
END_LABEL = 78  # width an end label needs
TOP = 44  # two lines of marker labels
BOTTOM = 26  # Aug 1 labels
LANE = 14
ROW_GAP = 10
ROW_MIN = 30
MIN_BAR = 4.0


def chart_span(
    rows: Sequence[IntervalRow], extra: Iterable[datetime], calendar: LedgerCalendar
) -> tuple[datetime, datetime]:
    """Valid-time span to draw: every shown interval and instant, widened to Aug 1 boundaries."""
    instants = [t for t in extra if t > EARLIEST_SHOWN]
    for r in rows:
        if r.interval.valid_from > EARLIEST_SHOWN:
            instants.append(r.interval.valid_from)
        if r.interval.valid_to is not None:
            instants.append(r.interval.valid_to)
    first, last = min(instants), max(instants)
    first_local = calendar.local_date(first)
    start_year = first_local.year if (first_local.month, first_local.day) >= (8, 1) else first_local.year - 1
    last_local = calendar.local_date(last)
    end_year = last_local.year + 1 if (last_local.month, last_local.day) >= (8, 1) else last_local.year
    start, end = calendar.august_first(start_year), calendar.august_first(end_year)
    if end <= last:
        end = calendar.august_first(end_year + 1)
    return start, end


def build_chart(
    rows: Sequence[IntervalRow],
    *,
    comparing: bool,
    known_label: str,
    releases: Sequence[ev.ScoresReleased],
    at: datetime,
    calendar: LedgerCalendar,
    fmt: Formatter,
    window: tuple[datetime | None, datetime | None] = (None, None),
) -> Chart | None:
    """The SVG geometry: one row per (organization, role, grant), with a "then" and a "now" lane when comparing."""
    shown = [r for r in rows if r.believed_then or r.believed_now]
    if not shown:
        return None
    start, end = chart_span(shown, [at], calendar)
    if window[0] is not None:
        start = window[0]
    if window[1] is not None:
        end = window[1]
    if end <= start:
        end = start + timedelta(days=1)
    plot = CHART_WIDTH - LABEL_WIDTH - RIGHT
    total = (end - start).total_seconds()

    def x_of(t: datetime) -> float:
        clipped = min(max(t, start), end)
        return LABEL_WIDTH + (clipped - start).total_seconds() / total * plot

    groups: dict[tuple[str, str, tuple[str, ...]], list[IntervalRow]] = {}
    for r in shown:
        groups.setdefault((r.interval.org_id, r.interval.role.value, r.interval.sources), []).append(r)
    ordered = sorted(groups.items(), key=lambda kv: (kv[0][0], min(r.interval.valid_from for r in kv[1]), kv[0][1]))

    lanes_per_row = 2 if comparing else 1
    chart_rows: list[ChartRow] = []
    y = float(TOP)
    for (org_id, role, _sources), members in ordered:
        height = max(lanes_per_row * LANE + (lanes_per_row - 1) * 2, ROW_MIN)  # room for two label lines
        lanes: list[Lane] = []
        lane_specs: list[tuple[str, Callable[[IntervalRow], bool]]]
        if comparing:
            lane_specs = [("then", lambda r: r.believed_then), ("today", lambda r: r.believed_now)]
        else:
            lane_specs = [("", lambda r: r.believed_now)]
        for n, (label, wanted) in enumerate(lane_specs):
            lane_y = y + n * (LANE + 2)
            bars = []
            for r in sorted((m for m in members if wanted(m)), key=lambda m: m.interval.valid_from):
                i = r.interval
                to = i.valid_to
                if (to is not None and to <= start) or i.valid_from >= end:
                    continue
                x0 = x_of(i.valid_from)
                x1 = x_of(to) if to is not None else LABEL_WIDTH + plot
                kind = r.status if comparing else CURRENT_TEXT
                title = (
                    f"{org_id} {role}: valid {fmt.text(i.valid_from)} to {fmt.text(to)}; "
                    f"known from {fmt.text(i.known_from)} to {fmt.text(i.known_to, 'now')}"
                    + (f" ({STATUS_TEXT[r.status]})" if comparing else "")
                )
                end_label = "" if to is None else fmt.day(to)
                bars.append(Bar(x0, lane_y, max(x1 - x0, MIN_BAR), LANE, kind, title, to is None, end_label))
            lanes.append(Lane(label, lane_y, _room_for_labels(bars, CHART_WIDTH)))
        chart_rows.append(ChartRow(org_id, role, members[0].grant, y, height, lanes))
        y += height + ROW_GAP

    markers: list[Marker] = []
    year = calendar.local_date(start).year - 1
    while calendar.august_first(year) <= end:
        t = calendar.august_first(year)
        if start <= t <= end:
            markers.append(Marker(x_of(t), f"Aug 1 {year}", "aug1", f"Aug 1 {year}: access years and codes turn over"))
        year += 1
    for release in releases:
        t = calendar.release_start(release.released_on)
        if start <= t <= end:
            markers.append(
                Marker(
                    x_of(t),
                    f"{release.exam_year} released",
                    "release",
                    f"{release.exam_year} scores released on {release.released_on.isoformat()}",
                )
            )
    if start <= at <= end:
        markers.append(Marker(x_of(at), f"rights on {fmt.text(at)}", "at", f"rights shown on {fmt.text(at)}"))
    height = int(y - ROW_GAP + BOTTOM + 8)
    return Chart(CHART_WIDTH, height, LABEL_WIDTH, plot, TOP, chart_rows, markers, start, end, comparing)


def _room_for_labels(bars: list[Bar], width: float) -> list[Bar]:
    """Keep an end label only where it fits before the next bar and the chart's edge."""
    out = []
    for n, bar in enumerate(bars):
        limit = bars[n + 1].x if n + 1 < len(bars) else width
        if bar.end_label and bar.x + bar.width + END_LABEL > limit:
            bar = Bar(bar.x, bar.y, bar.width, bar.height, bar.kind, bar.title, bar.open_end, "")
        out.append(bar)
    return out


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
