"""The console's person and event pages as the ledger answers them: what each page shows, assembled
from `Queries` in one call, with no wording or HTML (the console renders them).

The person page is the dispute view: a person's rights at a valid time as known today and, when
"as known on" names an earlier instant, as known then; the events the intervals rest on; which
report settles "could they see it" at each organization; the terms acceptance in force.
The event page is one event with the void that retracted it, or the event a void retracted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ledger import events as ev
from ledger.access.rights import OrgRights
from ledger.access.vocabulary import Report, Role
from ledger.rules.accounts import name_and_email_a_person_goes_by
from ledger.rules.years import current_released_year
from ledger.streams import SchoolView
from projections.answers import KnownInterval, RightsAnswer, TimelineAnswer
from projections.queries import Queries
from projections.source import FactRecord


@dataclass(frozen=True)
class Acceptance:
    effective_at: datetime
    recorded_at: datetime
    terms_version: str
    event_id: str


@dataclass(frozen=True)
class RightsRow:
    """One organization the person is affiliated with: the rights as known then and now, and the
    question that settles whether they could see its reports."""

    org_id: str
    then: OrgRights | None  # as known on the earlier instant (None when not comparing, or not affiliated then)
    now: OrgRights | None  # as known today
    is_school: bool
    report: Report  # the report whose check settles "could they see it" here
    subject: str | None  # the subject a teacher's check names (the planning report only)

    @property
    def changed(self) -> bool:
        role_then = self.then.role if self.then else None
        role_now = self.now.role if self.now else None
        return role_then != role_now


@dataclass(frozen=True)
class PersonPage:
    person_id: str
    name: str | None
    timeline: TimelineAnswer  # as known today
    known_position: int | None  # the position "as known on" names, if given
    comparing: bool  # that position is before today's: the page shows then beside now
    rights_at: datetime  # the valid time the rights are judged at
    rights_now: RightsAnswer
    rights_then: RightsAnswer | None
    rows: tuple[RightsRow, ...]
    events: dict[str, ev.LedgerEvent]  # the person's events, the releases and every interval's sources
    releases: tuple[ev.ScoresReleased, ...]  # in exam-year order
    current_release: ev.ScoresReleased | None  # the release in force at rights_at (R3)
    acceptance: Acceptance | None

    @property
    def latest(self) -> int:
        return self.timeline.position

    @property
    def known_is_latest(self) -> bool:
        return self.known_position is not None and not self.comparing


@dataclass(frozen=True)
class EventPage:
    record: FactRecord
    void: ev.EventVoided | None  # the void that retracted it, if any
    voided_event: ev.LedgerEvent | None  # for a void: the event it retracted


class Pages:
    """The pages' queries, over one `Queries`."""

    def __init__(self, queries: Queries) -> None:
        self.queries = queries

    def person(
        self, person_id: str, *, known_at: datetime | None, at: datetime | None, now: datetime
    ) -> PersonPage | None:
        """The person page: rights at `at` (default `known_at`, else now) as known today and as known on
        `known_at`; None when no such person is registered."""
        queries = self.queries
        if not queries.person_exists(person_id):
            return None
        timeline = queries.timeline(person_id)
        latest = timeline.position
        known_position = queries.position(known_at) if known_at is not None else None
        comparing = known_position is not None and known_position < latest
        rights_at = at or known_at or now
        rights_now = queries.rights(person_id, rights_at, as_of=latest)
        rights_then = queries.rights(person_id, rights_at, as_of=known_position) if comparing else None

        # Events the intervals rest on: the person's own, plus issuances and releases (looked up once each).
        events: dict[str, ev.LedgerEvent] = {r.event.event_id: r.event for r in timeline.records}
        releases_view = queries.world([ev.CALENDAR_STREAM], latest).releases()
        releases = tuple(releases_view.in_year_order)
        events.update({r.event_id: r for r in releases})
        for interval in timeline.intervals:
            for source in interval.sources:
                if source not in events:
                    found = queries.record(source)
                    if found is not None:
                        events[source] = found.event

        return PersonPage(
            person_id=person_id,
            name=name_of_person(timeline.records, latest),
            timeline=timeline,
            known_position=known_position,
            comparing=comparing,
            rights_at=rights_at,
            rights_now=rights_now,
            rights_then=rights_then,
            rows=self._rights_rows(timeline, rights_then, rights_now),
            events=events,
            releases=releases,
            current_release=current_released_year(releases_view, queries.calendar, rights_at),
            acceptance=terms_acceptance(timeline.records, rights_at, latest),
        )

    def _rights_rows(
        self, timeline: TimelineAnswer, then: RightsAnswer | None, now: RightsAnswer
    ) -> tuple[RightsRow, ...]:
        by_then = {o.org_id: o for o in then.rights.organizations} if then is not None else {}
        by_now = {o.org_id: o for o in now.rights.organizations}
        org_ids = sorted(set(by_then) | set(by_now))
        queries = self.queries
        world = queries.world([s for org in org_ids for s in queries.org_streams(org)], timeline.position)
        rows = []
        for org_id in org_ids:
            held = [o.role for o in (by_then.get(org_id), by_now.get(org_id)) if o is not None and o.role is not None]
            is_school = isinstance(world.org(org_id), SchoolView)
            report = settling_report(is_school, held + roles_ever(timeline.intervals, org_id))
            subject = teacher_subject(timeline.records, org_id) if report is Report.INSTRUCTIONAL_PLANNING else None
            rows.append(RightsRow(org_id, by_then.get(org_id), by_now.get(org_id), is_school, report, subject))
        return tuple(rows)

    def event(self, event_id: str) -> EventPage | None:
        """One event with its void, or the event it voids; None when no such event is in the ledger."""
        record = self.queries.record(event_id)
        if record is None:
            return None
        void: ev.EventVoided | None = None
        if record.voided_at is not None:
            # A void is recorded in the stream of the event it voids.
            for r in self.queries.source.records([record.event.originator_id], None):
                if r.position == record.voided_at and isinstance(r.event, ev.EventVoided):
                    void = r.event
        voided_event: ev.LedgerEvent | None = None
        if isinstance(record.event, ev.EventVoided):
            target = self.queries.record(record.event.voided_event_id)
            voided_event = target.event if target else None
        return EventPage(record, void, voided_event)


def name_of_person(records: Iterable[FactRecord], position: int) -> str | None:
    """The name the person goes by as known at `position` (the rule search and who-had-access use)."""
    found = name_and_email_a_person_goes_by(r.event for r in records if r.known_at(position))
    return found.name if found is not None else None


def terms_acceptance(records: Iterable[FactRecord], t: datetime, position: int) -> Acceptance | None:
    """The acceptance of the terms in force at valid time t, as known at `position` (R2): the latest effective by t."""
    accepted = [
        r.event
        for r in records
        if isinstance(r.event, ev.TermsAccepted) and r.known_at(position) and r.event.effective_at <= t
    ]
    if not accepted:
        return None
    e = max(accepted, key=lambda e: e.effective_at)
    assert isinstance(e, ev.TermsAccepted)
    return Acceptance(e.effective_at, e.recorded_at, e.terms_version, e.event_id)


def settling_report(org_is_school: bool, roles: Iterable[Role]) -> Report:
    """The report whose answer settles "could they see it": student-level data for anyone who was an
    administrator there, the district summary for a district, the planning report for a teacher."""
    if not org_is_school:
        return Report.DISTRICT_SCORE_SUMMARY
    if any(role is not Role.TEACHER for role in roles):
        return Report.STUDENT_SCORE_REPORT
    return Report.INSTRUCTIONAL_PLANNING


def roles_ever(intervals: Iterable[KnownInterval], org_id: str) -> list[Role]:
    """Every role the ledger has ever derived for the person at the organization."""
    return [i.role for i in intervals if i.org_id == org_id]


def teacher_subject(records: Iterable[FactRecord], school_id: str) -> str | None:
    """The subject of the person's latest course authorization at the school (what a teacher's check names)."""
    found = [r.event for r in records if isinstance(r.event, ev.CourseAuthorized) and r.event.school_id == school_id]
    return max(found, key=lambda e: e.effective_at).subject if found else None
