"""Who had access when: piecewise-constant intervals of a role or a data level over valid time."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.access.grants import grants_at, highest_role, unique
from ledger.access.vocabulary import Level, Role
from ledger.calendar import LedgerCalendar
from ledger.rules.accounts import person_has_accepted_terms
from ledger.rules.teachers import teacher_scopes
from ledger.rules.years import current_released_year, kept_years
from ledger.streams import DistrictView, PersonView, ReleasesView, SchoolView
from ledger.world import World

BEGINNING = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Interval:
    """A role held (or a level of data visible) over [valid_from, valid_to) through `sources`."""

    org_id: str
    role: Role
    valid_from: datetime
    valid_to: datetime | None
    sources: tuple[str, ...]
    school_id: str | None = None

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.valid_from < end and (self.valid_to is None or self.valid_to > start)

    def clipped(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """The part of an overlapping interval inside [start, end): an open interval ends at `end`."""
        return max(self.valid_from, start), end if self.valid_to is None else min(self.valid_to, end)


def boundaries(world: World, calendar: LedgerCalendar, person_id: str, org_id: str) -> list[datetime]:
    """Every instant at which a decision about (person, organization) may change.

    That is: the person's own facts at this organization or at none (registration,
    terms), the organization's facts about them or about everyone (another person's
    redemption or removal changes nothing for them), code expiries, access-year
    windows and release days.
    """
    found: set[datetime] = {BEGINNING}
    found.update(_person_instants(world.person(person_id), org_id))
    org = world.org(org_id)
    if org is not None:
        everyone, by_person = _org_instants(org, calendar)
        found.update(everyone)
        found.update(by_person.get(person_id, ()))
    found.update(_release_instants(world.releases(), calendar))
    return sorted(found)


# The parts of the boundaries each state gives, found once per state (a sweep asks for every person).


def _person_instants(person: PersonView, org_id: str) -> frozenset[datetime]:
    """The effective times of the person's facts about this organization or about none."""
    key = ("instants", org_id)
    found = person.memo.get(key)
    if not isinstance(found, frozenset):
        found = frozenset(e.effective_at for e in person.stream.events if e.about_org() in (None, org_id))
        person.memo[key] = found
    return found


def _org_instants(
    org: SchoolView | DistrictView, calendar: LedgerCalendar
) -> tuple[frozenset[datetime], dict[str, frozenset[datetime]]]:
    """The organization's instants that concern everyone (its facts about no one, code expiries), and
    per person those that concern them (its facts about them, their district access windows)."""
    key = ("instants", calendar.zone_name)
    found = org.memo.get(key)
    if isinstance(found, tuple):
        return found
    everyone: set[datetime] = set()
    by_person: dict[str, set[datetime]] = {}
    for e in org.stream.events:
        about = e.about_person()
        if about is None:
            everyone.add(e.effective_at)
        else:
            by_person.setdefault(about, set()).add(e.effective_at)
    if isinstance(org, SchoolView):
        everyone.update(calendar.code_expiry(c.exam_year) for c in org.codes)
    else:
        for a in org.additions:
            by_person.setdefault(a.person_id, set()).update(calendar.access_window(a.access_year))
    result = (frozenset(everyone), {p: frozenset(s) for p, s in by_person.items()})
    org.memo[key] = result
    return result


def _release_instants(releases: ReleasesView, calendar: LedgerCalendar) -> frozenset[datetime]:
    """The first instants of the release days."""
    key = ("instants", calendar.zone_name)
    found = releases.memo.get(key)
    if not isinstance(found, frozenset):
        found = frozenset(calendar.release_start(r.released_on) for r in releases.in_year_order)
        releases.memo[key] = found
    return found


Probe = Callable[[datetime], tuple[Role, tuple[str, ...]] | None]


def sweep(
    org_id: str,
    instants: Sequence[datetime],
    probe: Probe,
    school_id: str | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> list[Interval]:
    """Piecewise-constant intervals of `probe` over the (sorted) instants where it may change.

    With a `window`, only intervals overlapping [start, end) are wanted: the sweep probes
    the instants inside it, then extends the first and last intervals outward to their
    true ends, so they are reported whole, not clipped.
    """
    lo, hi = 0, len(instants)
    if window is not None:
        start, end = window
        lo = max(0, bisect.bisect_right(instants, start) - 1)  # the segment holding `start`
        hi = bisect.bisect_left(instants, end)
    values = {i: probe(instants[i]) for i in range(lo, hi)}

    def value(i: int) -> tuple[Role, tuple[str, ...]] | None:
        if i not in values:
            values[i] = probe(instants[i])
        return values[i]

    out: list[Interval] = []
    i = lo
    while i < hi:
        v = value(i)
        if v is None:
            i += 1
            continue
        first = i
        while first > 0 and value(first - 1) == v:  # began before the window
            first -= 1
        j = i + 1
        while j < len(instants) and value(j) == v:  # may run past the window
            j += 1
        until = instants[j] if j < len(instants) else None
        out.append(Interval(org_id, v[0], instants[first], until, v[1], school_id))
        i = j
    return out


def role_intervals(world: World, calendar: LedgerCalendar, person_id: str, org_id: str) -> list[Interval]:
    """The person's highest role at the organization over valid time, with the grants behind it."""

    def probe(t: datetime) -> tuple[Role, tuple[str, ...]] | None:
        grants = grants_at(world, calendar, person_id, org_id, t)
        role = highest_role(grants)
        if role is None:
            return None
        return role, unique(sorted(i for g in grants if g.role is role for i in g.evidence))

    return sweep(org_id, boundaries(world, calendar, person_id, org_id), probe)


def can_see_level(
    world: World,
    calendar: LedgerCalendar,
    person_id: str,
    school_id: str | None,
    level: Level,
    t: datetime,
    via_org: str,
) -> tuple[Role, tuple[str, ...]] | None:
    """Whether the person, acting for `via_org`, could see `level` data (of one school, or of the district) at t.

    All of R1–R16 apply: registered (R1), terms accepted (R2), a role (R3, R7, R8, R11,
    less R5 and R14), a kept year released (R16), and for teachers their scope (R4) and
    restrictions (R6).
    """
    person = world.person(person_id)
    if person_has_accepted_terms(person, t) is None:
        return None
    releases = world.releases()
    if current_released_year(releases, calendar, t) is None:  # R16: no kept year, no report
        return None
    grants = grants_at(world, calendar, person_id, via_org, t)
    role = highest_role(grants)
    if role is None:
        return None
    if role is not Role.TEACHER:
        return role, unique(sorted(i for g in grants if g.role is role for i in g.evidence))
    assert school_id is not None
    sources: list[str] = []
    for scope in teacher_scopes(person, world.school(school_id), kept_years(releases, calendar, t), t):
        if level is Level.AGGREGATE:
            sources.append(scope.authorization.event_id)
        elif scope.student_data:
            sources.append(scope.authorization.event_id)
            sources.extend(s.event_id for s in scope.sections)
    if not sources:
        return None
    return role, unique(sorted(sources))


def level_intervals(
    world: World,
    calendar: LedgerCalendar,
    person_id: str,
    school_id: str | None,
    level: Level,
    via_org: str,
    window: tuple[datetime, datetime] | None = None,
) -> list[Interval]:
    """Intervals during which the person could see `level` data (R1–R16 all applied); with a
    window, only those overlapping it (whole)."""
    instants = set(boundaries(world, calendar, person_id, via_org))
    if school_id is not None and school_id != via_org:
        instants |= set(boundaries(world, calendar, person_id, school_id))

    def probe(t: datetime) -> tuple[Role, tuple[str, ...]] | None:
        return can_see_level(world, calendar, person_id, school_id, level, t, via_org)

    return sweep(via_org, sorted(instants), probe, school_id, window)


def interval_at(intervals: Iterable[Interval], t: datetime) -> Interval | None:
    """The interval containing t, if any."""
    for i in intervals:
        if i.valid_from <= t and (i.valid_to is None or t < i.valid_to):
            return i
    return None


def merged_span(intervals: Sequence[Interval], t: datetime, role: Role) -> tuple[datetime, datetime | None]:
    """The maximal span around t during which `role` is held continuously (sources may change)."""
    same = [i for i in intervals if i.role is role]
    at = interval_at(same, t)
    assert at is not None
    start, end = at.valid_from, at.valid_to
    changed = True
    while changed:
        changed = False
        for i in same:
            if i.valid_to == start:
                start, changed = i.valid_from, True
            if end is not None and i.valid_from == end:
                end, changed = i.valid_to, True
    return start, end
