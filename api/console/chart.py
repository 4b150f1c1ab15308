"""The person page's access chart: each derived interval as the table shows it (believed then, now,
or both) and as bars over valid time, with release days, Aug 1 and the instant the rights are shown on.

Pure functions over query answers; the template only lays them out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from api.console.display import EARLIEST_SHOWN, Formatter, grant_description
from ledger import events as ev
from ledger.calendar import LedgerCalendar
from projections.answers import KnownInterval

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
