"""The questions the ledger answers (check, rights, who had access, timeline, windows), from a FactSource
with the rules of `ledger.access`.

`as_of` (transaction time) picks a ledger position: a position, or the last
position recorded at or before an instant; by default the last one projected.
`at` (valid time) is the instant the rules are judged at. Each answer says which
position it read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger import events as ev
from ledger.access.check import CheckRequest, Decision, check
from ledger.access.intervals import level_intervals, role_intervals
from ledger.access.rights import Rights, rights
from ledger.access.vocabulary import Level, Report, Role
from ledger.calendar import LedgerCalendar
from ledger.rules.admins import district_access_end, district_access_window
from ledger.rules.codes import STAFF_PLACES, code_is_valid, code_life, code_principal, staff_intervals
from ledger.rules.designations import principal_of, superintendent_of
from ledger.rules.teachers import active_restriction, authorization_is_held, school_gives_teacher_access
from ledger.rules.years import current_released_year, kept_years
from ledger.streams import DistrictView, SchoolView
from ledger.world import Views, World
from projections.people import PeopleDirectory, PersonEntry, person_entry, search
from projections.source import FactRecord, FactSource, streams_as_of

AsOf = int | datetime | None


@dataclass(frozen=True)
class CheckAnswer:
    decision: Decision
    position: int
    unknown_orgs: frozenset[str] = frozenset()  # the organization or school named, not registered at `position`


@dataclass(frozen=True)
class RightsAnswer:
    rights: Rights
    at: datetime
    position: int


@dataclass(frozen=True)
class Grant:
    """An event an access interval rests on, as the log holds it: `AccessCodeRedeemed #143`."""

    event_id: str
    type: str
    position: int

    def __str__(self) -> str:
        return f"{self.type} #{self.position}"


@dataclass(frozen=True)
class AccessEntry:
    """One person's access interval through one organization; names as known at the answer's position."""

    person_id: str
    role: Role
    valid_from: datetime
    valid_to: datetime | None
    sources: tuple[str, ...]
    school_id: str | None
    via_org: str
    person_name: str | None = None  # None: never named, or the registration is no longer known
    via_org_name: str | None = None
    grants: tuple[Grant, ...] = ()  # the sources with their type and position, in the sources' order


@dataclass(frozen=True)
class AccessAnswer:
    org_id: str
    start: datetime
    end: datetime
    level: Level
    position: int
    entries: tuple[AccessEntry, ...]  # by start, then person
    org_name: str | None = None
    clipped: bool = False  # intervals cut to [start, end); otherwise whole

    def by_person(self) -> list[AccessEntry]:
        """The entries by person, then start, then the organization acted for (what an auditor reads down)."""
        return sorted(self.entries, key=lambda e: (e.person_id, e.valid_from, e.via_org))


@dataclass(frozen=True)
class KnownInterval:
    """A derived access interval with the transaction-time span during which the ledger held it."""

    org_id: str
    role: Role
    valid_from: datetime
    valid_to: datetime | None
    known_from: datetime
    known_to: datetime | None
    known_from_position: int
    known_to_position: int | None
    sources: tuple[str, ...]


@dataclass(frozen=True)
class TimelineAnswer:
    person_id: str
    position: int
    records: tuple[FactRecord, ...]
    recorded_at: dict[int, datetime]
    intervals: tuple[KnownInterval, ...]


@dataclass(frozen=True)
class WindowsAnswer:
    org_id: str
    at: datetime
    position: int
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PeopleAnswer:
    query: str
    position: int
    people: tuple[PersonEntry, ...]


class UnknownOrganization(LookupError):
    """The organization is not known to the ledger."""


class Queries:
    """Check, rights, who had access, timeline and annual windows over one FactSource."""

    def __init__(self, source: FactSource, calendar: LedgerCalendar, clock: Callable[[], datetime]) -> None:
        self.source = source
        self.calendar = calendar
        self.clock = clock
        self.people = PeopleDirectory(source)
        self.views = Views()  # views of the source's shared stream states, built once

    # --- positions and worlds ---------------------------------------------------------------

    def position(self, as_of: AsOf) -> int:
        """The ledger position an `as_of` designates (never beyond what is projected)."""
        tracked = self.source.tracked()
        if as_of is None:
            return tracked
        if isinstance(as_of, datetime):
            return min(self.source.position_at(as_of), tracked)
        return max(0, min(as_of, tracked))

    def world(self, stream_ids: Iterable[str], as_of: int) -> World:
        """The streams known at `as_of`, folded."""
        return World(
            self.source.streams(stream_ids, as_of),
            district_schools=lambda d: self.source.schools_of_district(d, as_of),
            views=self.views,
        )

    @staticmethod
    def org_streams(org_id: str) -> list[str]:
        return [ev.school_stream(org_id), ev.district_stream(org_id)]

    def org_exists(self, org_id: str, as_of: AsOf = None) -> bool:
        """Whether a school or district with this id is known at `as_of`."""
        k = self.position(as_of)
        return self.world(self.org_streams(org_id), k).org(org_id) is not None

    def person_exists(self, person_id: str, as_of: AsOf = None) -> bool:
        """Whether a person with this id is registered (at any valid time) as known at `as_of`."""
        k = self.position(as_of)
        return bool(self.world([ev.person_stream(person_id)], k).person(person_id).registrations)

    # --- check --------------------------------------------------------------------------------

    def check(
        self,
        *,
        person_id: str,
        org_id: str,
        report: Report,
        exam_year: int,
        school_id: str | None = None,
        subject: str | None = None,
        section_id: str | None = None,
        at: datetime | None = None,
        as_of: AsOf = None,
    ) -> CheckAnswer:
        """May the person, acting for the organization, see the report (the check); `at` defaults to now."""
        request = CheckRequest(
            person_id=person_id,
            org_id=org_id,
            report=report,
            exam_year=exam_year,
            at=at or self.clock(),
            school_id=school_id,
            subject=subject,
            section_id=section_id,
        )
        return self.decide(request, as_of)

    def decide(self, request: CheckRequest, as_of: AsOf = None) -> CheckAnswer:
        """The check of a domain request, as known at `as_of`."""
        k = self.position(as_of)
        world = self.world(self.check_streams(request.person_id, request.org_id, request.school_id), k)
        unknown = frozenset(o for o in (request.org_id, request.school_id) if o is not None and world.org(o) is None)
        return CheckAnswer(check(world, self.calendar, request), k, unknown)

    def check_streams(self, person_id: str, org_id: str, school_id: str | None) -> list[str]:
        """The streams a check reads (and the organizations' existence checks with it)."""
        streams = [ev.person_stream(person_id), ev.CALENDAR_STREAM, *self.org_streams(org_id)]
        if school_id is not None:
            streams.extend(self.org_streams(school_id))
        return streams

    def in_memory(self, stream_ids: Iterable[str], as_of: AsOf) -> bool:
        """Whether a query on these streams at `as_of` can be answered without I/O."""
        holds = getattr(self.source, "holds", None)
        return as_of is None and holds is not None and bool(holds(stream_ids))

    # --- rights -------------------------------------------------------------------------------

    def person_world(self, person_id: str, k: int) -> World:
        """Every stream the person's rights depend on, known at k."""
        streams = {ev.person_stream(person_id), ev.CALENDAR_STREAM}
        streams |= self.source.streams_about_person(person_id, k)
        first = self.world(streams, k)
        for org in first.person(person_id).org_ids:
            streams.update(self.org_streams(org))
        return self.world(streams, k)

    def rights(self, person_id: str, at: datetime | None = None, as_of: AsOf = None) -> RightsAnswer:
        """Per organization: role, scopes, validity interval and sources (rights)."""
        k = self.position(as_of)
        t = at or self.clock()
        return RightsAnswer(rights(self.person_world(person_id, k), self.calendar, person_id, t), t, k)

    # --- who had access -------------------------------------------------------------------------

    def who_had_access(
        self, org_id: str, start: datetime, end: datetime, level: Level, as_of: AsOf = None, *, clip: bool = False
    ) -> AccessAnswer:
        """Who could see the organization's data of `level` during [start, end), through which grant.

        Intervals are whole (they may begin before `start` or end after `end`, or be open) unless `clip`
        cuts each to [start, end)."""
        k = self.position(as_of)
        org = self.world(self.org_streams(org_id), k).org(org_id)
        if org is None:
            raise UnknownOrganization(org_id)
        plans: list[tuple[str, str | None, str]] = []  # (person, school seen, acting for)
        streams = {ev.CALENDAR_STREAM}
        if isinstance(org, SchoolView):
            schools = [org.school_id]
            district_id = org.district_id
        else:
            schools = self.source.schools_of_district(org.district_id, k)
            district_id = org.district_id
        for sid in schools:
            streams.add(ev.school_stream(sid))
            for pid in self.source.persons_at_org(sid, k):
                plans.append((pid, sid, sid))
        if district_id is not None:
            streams.add(ev.district_stream(district_id))
            for pid in self.source.persons_at_org(district_id, k):
                plans.append((pid, org.school_id if isinstance(org, SchoolView) else None, district_id))
        streams.update(ev.person_stream(pid) for pid, _, _ in plans)
        world = self.world(streams, k)
        found = []
        for pid, seen, via in sorted(set(plans), key=lambda p: (p[0], p[2])):
            for i in level_intervals(world, self.calendar, pid, seen, level, via, (start, end)):
                if i.overlaps(start, end):
                    found.append((pid, seen, via, i))
        logged = self.source.types_and_positions({s for *_, i in found for s in i.sources})
        entries = []
        for pid, seen, via, i in found:
            valid_from, valid_to = i.clipped(start, end) if clip else (i.valid_from, i.valid_to)
            person = person_entry(world.person(pid).stream.events)
            grants = tuple(Grant(s, *logged[s]) for s in i.sources if s in logged)
            name = person.name if person is not None else None
            entries.append(
                AccessEntry(
                    pid, i.role, valid_from, valid_to, i.sources, seen, via, name, _org_name(world, via), grants
                )
            )
        entries.sort(key=lambda e: (e.valid_from, e.person_id, e.via_org))
        return AccessAnswer(org_id, start, end, level, k, tuple(entries), _org_name(world, org_id), clip)

    # --- timeline ---------------------------------------------------------------------------------

    def timeline(self, person_id: str, as_of: AsOf = None) -> TimelineAnswer:
        """Every event about the person with both times, and the derived access intervals with both axes."""
        k = self.position(as_of)
        records = [r for r in self.source.person_records(person_id) if r.position <= k]
        orgs: set[str] = set()
        for r in records:
            about = r.event.about_org()
            if about is not None:
                orgs.add(about)
        streams = {ev.person_stream(person_id), ev.CALENDAR_STREAM}
        for org in orgs:
            streams.update(self.org_streams(org))
        everything = [r for r in self.source.records(sorted(streams), None) if r.position <= k]
        found = self._known_intervals(person_id, sorted(orgs), everything, k)
        positions = {r.position for r in records} | {r.voided_at for r in records if r.voided_at}
        positions |= {i.known_from_position for i in found}
        positions |= {i.known_to_position for i in found if i.known_to_position}
        recorded = self.source.recorded_at(positions)
        intervals = tuple(
            KnownInterval(
                i.org_id,
                i.role,
                i.valid_from,
                i.valid_to,
                recorded[i.known_from_position],
                recorded.get(i.known_to_position) if i.known_to_position else None,
                i.known_from_position,
                i.known_to_position,
                i.sources,
            )
            for i in found
        )
        return TimelineAnswer(person_id, k, tuple(records), recorded, intervals)

    def _known_intervals(
        self, person_id: str, orgs: list[str], records: list[FactRecord], k: int
    ) -> list[KnownInterval]:
        # Knowledge about the person's roles changes only at facts of their stream, the
        # calendar, organization-wide facts and facts about them (and the voids of those).
        def relevant(r: FactRecord) -> bool:
            e = r.event
            if e.originator_id in (ev.person_stream(person_id), ev.CALENDAR_STREAM):
                return True
            about = e.about_person()
            if isinstance(e, ev.EventVoided):
                return True
            return about is None or about == person_id

        versions = sorted(
            {r.position for r in records if relevant(r)}
            | {r.voided_at for r in records if r.voided_at and r.voided_at <= k}
        )
        open_: dict[tuple[Any, ...], int] = {}
        closed: list[KnownInterval] = []
        epoch = datetime.min
        for version in versions:
            world = World(streams_as_of(records, version))
            current: set[tuple[Any, ...]] = set()
            for org in orgs:
                if world.org(org) is None:
                    continue
                for i in role_intervals(world, self.calendar, person_id, org):
                    current.add((i.org_id, i.role, i.valid_from, i.valid_to, i.sources))
            for key in list(open_):
                if key not in current:
                    closed.append(_known(key, open_.pop(key), version, epoch))
            for key in current:
                open_.setdefault(key, version)
        closed.extend(_known(key, since, None, epoch) for key, since in open_.items())
        closed.sort(key=lambda i: (i.org_id, i.valid_from, i.known_from_position))
        return closed

    # --- annual windows -----------------------------------------------------------------------------

    def windows(self, org_id: str, at: datetime | None = None, as_of: AsOf = None) -> WindowsAnswer:
        """The annual-window state of a school or district at `at` (windows)."""
        k = self.position(as_of)
        t = at or self.clock()
        base = self.world([*self.org_streams(org_id), ev.CALENDAR_STREAM], k)
        org = base.org(org_id)
        if org is None:
            raise UnknownOrganization(org_id)
        releases = base.releases()
        current = current_released_year(releases, self.calendar, t)
        body: dict[str, Any] = {
            "kind": "school" if isinstance(org, SchoolView) else "district",
            "current_released_year": current.exam_year if current else None,
            "kept_years": kept_years(releases, self.calendar, t),
        }
        if isinstance(org, SchoolView):
            persons = self.source.persons_at_org(org_id, k)
            world = self.world(
                [*self.org_streams(org_id), ev.CALENDAR_STREAM, *(ev.person_stream(p) for p in persons)], k
            )
            body.update(_school_windows(world, self.calendar, org_id, sorted(persons), current, t))
        else:
            body.update(_district_windows(base, self.calendar, org, t))
        return WindowsAnswer(org_id, t, k, body)

    def record(self, event_id: str) -> FactRecord | None:
        """One event by id, with its known interval."""
        return self.source.record(event_id)

    # --- find people ----------------------------------------------------------------------------

    def find_people(self, query: str, limit: int = 20) -> PeopleAnswer:
        """People whose id, email, name or a word of it starts with `query` (case-insensitive), as known now."""
        k = self.position(None)
        return PeopleAnswer(query, k, tuple(search(self.people.entries(k), query, limit)))

    def person_entry(self, person_id: str) -> PersonEntry | None:
        """A person's latest name and email as known now (None if not registered)."""
        k = self.position(None)
        return next((e for e in self.people.entries(k) if e.person_id == person_id), None)


def _org_name(world: World, org_id: str) -> str | None:
    org = world.org(org_id)
    registration = org.registration if org is not None else None
    return registration.name if registration is not None else None


def _known(key: tuple[Any, ...], since: int, until: int | None, epoch: datetime) -> KnownInterval:
    org_id, role, valid_from, valid_to, sources = key
    return KnownInterval(org_id, role, valid_from, valid_to, epoch, None, since, until, sources)


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _school_windows(
    world: World,
    calendar: LedgerCalendar,
    school_id: str,
    persons: list[str],
    current: ev.ScoresReleased | None,
    t: datetime,
) -> dict[str, Any]:
    school = world.school(school_id)
    codes = []
    # By valid time, then exam year: at one instant, codes of one year keep their recording order (R8 ties).
    for code in sorted(school.codes, key=lambda c: (c.effective_at, c.exam_year)):
        life = code_life(school, code, calendar)
        staff = staff_intervals(school, code.exam_year, calendar, code.event_id)
        holders = sorted({p for p, start, end in staff if start <= t < end})
        ended = life.ended_by
        codes.append(
            {
                "exam_year": code.exam_year,
                "code_event_id": code.event_id,
                "principal_id": code_principal(school, code),
                "valid_from": _iso(code.effective_at),
                "valid_to": _iso(life.end),
                "expires_at": _iso(calendar.code_expiry(code.exam_year)),
                "revoked": ended is not None and ended.effective_at <= t,  # revoked or reissued (R8)
                "revoked_reason": life.revoked_by.reason if life.revoked_by else ("reissued" if ended else None),
                "valid_at": code_is_valid(life, t),
                "staff_places_used": len(holders),
                "staff_places_free": max(0, STAFF_PLACES - len(holders)) if code_is_valid(life, t) else 0,
                "staff": holders,
            }
        )
    teachers = []
    current_year = current.exam_year if current else None
    for pid in persons:
        person = world.person(pid)
        removals = school.removals_of(pid)
        by_year: dict[int, list[str]] = {}
        for a in person.authorizations:
            if a.school_id == school_id and authorization_is_held(a, person, removals, t):
                by_year.setdefault(a.school_year, []).append(a.subject)
        if not by_year:
            continue
        holds_current = current_year is not None and current_year in by_year
        teachers.append(
            {
                "person_id": pid,
                "authorizations": [{"school_year": y, "subjects": sorted(s)} for y, s in sorted(by_year.items())],
                "current_school_year": current_year,
                "holds_current_year": holds_current,
                "renewal_due": current_year is not None and not holds_current,
                "next_school_year_authorized": current_year is not None and current_year + 1 in by_year,
                "teacher_access": holds_current and school_gives_teacher_access(school),
            }
        )
    principal = principal_of(school, t)
    restriction_all = active_restriction(school, None, t)
    return {
        "homeschool": school.homeschool,
        "district_id": school.district_id,
        "principal_id": principal.person_id if principal else None,
        "codes": codes,
        "teachers": teachers,
        "student_data_restricted_for_all": restriction_all is not None,
    }


def _district_windows(world: World, calendar: LedgerCalendar, district: DistrictView, t: datetime) -> dict[str, Any]:
    users = []
    for a in district.additions:
        start, window_end = district_access_window(a, calendar)
        end, ended_by = district_access_end(a, district, calendar)
        users.append(
            {
                "person_id": a.person_id,
                "access_year": a.access_year,
                "window_from": _iso(calendar.access_window(a.access_year)[0]),
                "window_to": _iso(window_end),
                "valid_from": _iso(start),
                "valid_to": _iso(max(start, end)),
                "active": start <= t < end,
                "ended_by": ended_by.event_id if ended_by else None,
                "source": a.event_id,
            }
        )
    superintendent = superintendent_of(district, t)
    return {
        "superintendent_id": superintendent.person_id if superintendent else None,
        "current_access_year": t.astimezone(calendar.zone).year - (1 if calendar.local_date(t).month < 8 else 0),
        "users": users,
    }
