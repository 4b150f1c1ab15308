"""The questions the ledger answers (check, rights, who had access, timeline, windows), from a FactSource
with the rules of `ledger.access`.

`as_of` (transaction time) picks a ledger position: a position, or the last
position recorded at or before an instant; by default the last one projected.
`at` (valid time) is the instant the rules are judged at. Each answer says which
position it read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from ledger import events as ev
from ledger.access.check import CheckRequest, check
from ledger.access.intervals import level_intervals
from ledger.access.rights import rights
from ledger.access.vocabulary import Level, Report
from ledger.calendar import LedgerCalendar
from ledger.rules.years import current_released_year, kept_years
from ledger.streams import SchoolView
from ledger.world import Views, World
from projections.answers import (
    AccessAnswer,
    AccessEntry,
    AsOf,
    CheckAnswer,
    Grant,
    KnownInterval,
    PeopleAnswer,
    RightsAnswer,
    TimelineAnswer,
    UnknownOrganization,
    WindowsAnswer,
)
from projections.people import PeopleDirectory, PersonEntry, person_entry, search
from projections.source import FactRecord, FactSource
from projections.timeline import known_intervals
from projections.windows import district_windows, school_windows


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
        logged = self.logged_as(streams, {s for *_, i in found for s in i.sources})
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

    def logged_as(self, stream_ids: set[str], event_ids: set[str]) -> dict[str, tuple[str, int]]:
        """(type, position) of these events of these streams: read from the streams' facts when they are in
        memory, from the index for the rest (an event's type and position never change)."""
        found: dict[str, tuple[str, int]] = {}
        if event_ids and self.in_memory(stream_ids, None):
            for r in self.source.records(sorted(stream_ids), None):
                if r.event.event_id in event_ids:
                    found[r.event.event_id] = (r.event.type, r.position)
        missing = event_ids - found.keys()
        if missing:
            found.update(self.source.types_and_positions(missing))
        return found

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
        found = known_intervals(self.calendar, person_id, sorted(orgs), everything, k)
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
            body.update(school_windows(world, self.calendar, org_id, sorted(persons), current, t))
        else:
            body.update(district_windows(base, self.calendar, org, t))
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
