"""Aggregates as immutable streams of facts, folded by `evolve` (decide → event, evolve → state).

Four aggregate types, each a consistency boundary for the write-time rules:

| aggregate  | stream id          | events                                                        | guards |
|------------|--------------------|---------------------------------------------------------------|--------|
| Person     | `person:<id>`      | registration, profile, affiliations, terms, course            | R1 (one registration), withdrawing only held authorizations, removing only held system access, R10 lockout |
|            |                    | authorizations, sections, system access, failed redemptions   |        |
| School     | `school:<id>`      | registration, principals, codes (issued, revoked, redeemed),  | R9 five staff per code at every valid time, R10 code match/validity, code needs a designated principal, |
|            |                    | restrictions, removals at the school                          | only the principal restricts/lifts/removes, lifting only what is restricted |
| District   | `district:<id>`    | registration, superintendents, district users, removals      | R11 only the superintendent adds/removes, removing only what was added |
| Calendar   | `calendar`         | score releases                                                | a year is released once |

A void (`EventVoided`) is appended to the stream of the event it voids, so the
aggregate that guards a rule also judges the void (voiding a removal may not make
six staff hold one code). Every rule reads its own aggregate; reads of other
aggregates (is the redeemer registered and affiliated? is the remover the
superintendent?) see the same snapshot because appends are serialized (see
`storage.recorders`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

from ledger import events as ev

E = TypeVar("E", bound=ev.LedgerEvent)
V = TypeVar("V")


@dataclass(frozen=True)
class Stream:
    """State of one aggregate: its version and its events that are not voided."""

    id: str
    version: int = 0
    events: tuple[ev.LedgerEvent, ...] = ()
    voids: tuple[ev.EventVoided, ...] = ()

    @property
    def exists(self) -> bool:
        """Whether anything was ever recorded in this stream."""
        return self.version > 0

    def of(self, cls: type[E]) -> list[E]:
        """Events of one type, in stream order."""
        return [e for e in self.events if type(e) is cls]

    def find(self, event_id: str) -> ev.LedgerEvent | None:
        """The event with `event_id`, if it is in this stream and not voided."""
        for e in self.events:
            if e.event_id == event_id:
                return e
        return None


def evolve(stream: Stream, event: ev.LedgerEvent) -> Stream:
    """Fold one event into its stream; a void removes the event it voids."""
    if isinstance(event, ev.EventVoided):
        kept = tuple(e for e in stream.events if e.event_id != event.voided_event_id)
        return Stream(stream.id, event.originator_version, kept, (*stream.voids, event))
    return Stream(stream.id, event.originator_version, (*stream.events, event), stream.voids)


def fold(stream_id: str, events: Iterable[ev.LedgerEvent]) -> Stream:
    """Fold events (in stream order) into a stream state."""
    stream = Stream(stream_id)
    for e in events:
        stream = evolve(stream, e)
    return stream


def grouped(events: Iterable[E], key: Callable[[E], object]) -> dict[object, list[E]]:
    """Events grouped by a key, each group keeping the given order (indexes for the rules)."""
    out: dict[object, list[E]] = {}
    for e in events:
        out.setdefault(key(e), []).append(e)
    return out


def by_effective(events: Iterable[E]) -> list[E]:
    """Events sorted by valid time; ties keep recording order (stream version)."""
    return sorted(events, key=lambda e: (e.effective_at, e.timestamp, e.originator_version))


# --- typed views over streams ---------------------------------------------------


@dataclass(frozen=True)
class PersonView:
    """What the ledger knows of a person (their stream)."""

    stream: Stream
    person_id: str
    # What the rules derive from this state and ask for repeatedly (the instants a sweep probes).
    memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def registrations(self) -> list[ev.PersonRegistered]:
        return by_effective(self.stream.of(ev.PersonRegistered))

    @cached_property
    def profile_updates(self) -> list[ev.ProfileUpdated]:
        return by_effective(self.stream.of(ev.ProfileUpdated))

    @cached_property
    def affiliation_events(self) -> list[ev.AffiliationAdded | ev.AffiliationEnded]:
        return by_effective(e for e in self.stream.events if isinstance(e, ev.AffiliationAdded | ev.AffiliationEnded))

    @cached_property
    def terms(self) -> list[ev.TermsAccepted]:
        return by_effective(self.stream.of(ev.TermsAccepted))

    @cached_property
    def authorizations(self) -> list[ev.CourseAuthorized]:
        return by_effective(self.stream.of(ev.CourseAuthorized))

    @cached_property
    def withdrawals(self) -> list[ev.CourseAuthorizationWithdrawn]:
        return by_effective(self.stream.of(ev.CourseAuthorizationWithdrawn))

    @cached_property
    def sections(self) -> list[ev.SectionAssigned]:
        return by_effective(self.stream.of(ev.SectionAssigned))

    @cached_property
    def system_grants(self) -> list[ev.SystemAccessGranted]:
        return by_effective(self.stream.of(ev.SystemAccessGranted))

    @cached_property
    def system_removals(self) -> list[ev.SystemAccessRemoved]:
        return by_effective(self.stream.of(ev.SystemAccessRemoved))

    @cached_property
    def failed_redemptions(self) -> list[ev.AccessCodeRedemptionFailed]:
        return by_effective(self.stream.of(ev.AccessCodeRedemptionFailed))

    # Indexes, so that a decision reads only the facts it is about.

    @cached_property
    def _authorizations_by_school_year(self) -> dict[object, list[ev.CourseAuthorized]]:
        return grouped(self.authorizations, lambda a: (a.school_id, a.school_year))

    def authorizations_at(self, school_id: str, school_year: int) -> list[ev.CourseAuthorized]:
        """Authorizations at a school for a school year, by valid time."""
        return self._authorizations_by_school_year.get((school_id, school_year), [])

    def authorizations_at_school(self, school_id: str) -> list[ev.CourseAuthorized]:
        """Every authorization at a school, by valid time."""
        return [a for a in self.authorizations if a.school_id == school_id]

    @cached_property
    def _withdrawals_by_key(self) -> dict[object, list[ev.CourseAuthorizationWithdrawn]]:
        return grouped(self.withdrawals, lambda w: (w.school_id, w.subject, w.school_year))

    def withdrawals_of(self, school_id: str, subject: str, school_year: int) -> list[ev.CourseAuthorizationWithdrawn]:
        """Withdrawals of one authorization (school, subject, school year)."""
        return self._withdrawals_by_key.get((school_id, subject, school_year), [])

    @cached_property
    def _sections_by_key(self) -> dict[object, list[ev.SectionAssigned]]:
        return grouped(self.sections, lambda s: (s.school_id, s.school_year, s.subject))

    def sections_of(self, school_id: str, school_year: int, subject: str) -> list[ev.SectionAssigned]:
        """Section assignments at a school for a school year and subject."""
        return self._sections_by_key.get((school_id, school_year, subject), [])

    @cached_property
    def _system_grants_by_org(self) -> dict[object, list[ev.SystemAccessGranted]]:
        return grouped(self.system_grants, lambda g: g.org_id)

    def system_grants_at(self, org_id: str) -> list[ev.SystemAccessGranted]:
        """System access grants at an organization."""
        return self._system_grants_by_org.get(org_id, [])

    @cached_property
    def _system_removals_by_key(self) -> dict[object, list[ev.SystemAccessRemoved]]:
        return grouped(self.system_removals, lambda r: (r.org_id, r.system))

    def system_removals_of(self, org_id: str, system: str) -> list[ev.SystemAccessRemoved]:
        """Removals of one system access at an organization."""
        return self._system_removals_by_key.get((org_id, system), [])

    @cached_property
    def org_ids(self) -> set[str]:
        """Organizations this person's own stream mentions."""
        out: set[str] = set()
        for e in self.stream.events:
            org = e.about_org()
            if org is not None:
                out.add(org)
        return out


class _RemovalsAtOrganization:
    """R14 removals recorded in an organization's stream (a school's or a district's)."""

    stream: Stream

    @cached_property
    def removals(self) -> list[ev.AccessRemoved]:
        """Every removal at this organization, by valid time."""
        return by_effective(self.stream.of(ev.AccessRemoved))

    @cached_property
    def _removals_by_person(self) -> dict[object, list[ev.AccessRemoved]]:
        return grouped(self.removals, lambda r: r.person_id)

    def removals_of(self, person_id: str) -> list[ev.AccessRemoved]:
        """Removals of one person at this organization, by valid time."""
        return self._removals_by_person.get(person_id, [])


@dataclass(frozen=True)
class SchoolView(_RemovalsAtOrganization):
    """What the ledger knows of a school (its stream)."""

    stream: Stream
    school_id: str

    @cached_property
    def registration(self) -> ev.SchoolRegistered | None:
        regs = by_effective(self.stream.of(ev.SchoolRegistered))
        return regs[0] if regs else None

    @property
    def district_id(self) -> str | None:
        return self.registration.district_id if self.registration else None

    @property
    def homeschool(self) -> bool:
        return bool(self.registration and self.registration.homeschool)

    @cached_property
    def principals(self) -> list[ev.PrincipalDesignated]:
        return by_effective(self.stream.of(ev.PrincipalDesignated))

    @cached_property
    def codes(self) -> list[ev.AccessCodeIssued]:
        return by_effective(self.stream.of(ev.AccessCodeIssued))

    @cached_property
    def redemptions(self) -> list[ev.AccessCodeRedeemed]:
        return by_effective(self.stream.of(ev.AccessCodeRedeemed))

    @cached_property
    def restriction_events(
        self,
    ) -> list[ev.StudentDataRestricted | ev.StudentDataRestrictionLifted]:
        return by_effective(
            e for e in self.stream.events if isinstance(e, ev.StudentDataRestricted | ev.StudentDataRestrictionLifted)
        )

    @cached_property
    def _redemptions_by_person(self) -> dict[object, list[ev.AccessCodeRedeemed]]:
        return grouped(self.redemptions, lambda r: r.person_id)

    def redemptions_of(self, person_id: str) -> list[ev.AccessCodeRedeemed]:
        """One person's redemptions of this school's codes, by valid time."""
        return self._redemptions_by_person.get(person_id, [])

    @cached_property
    def _codes_by_id(self) -> dict[str, ev.AccessCodeIssued]:
        return {c.event_id: c for c in self.codes}

    def code(self, event_id: str) -> ev.AccessCodeIssued | None:
        """The issuance with this event id, unless voided."""
        return self._codes_by_id.get(event_id)

    @cached_property
    def _code_facts_by_year(self) -> dict[object, list[ev.AccessCodeIssued | ev.AccessCodeRevoked]]:
        facts = by_effective(e for e in self.stream.events if isinstance(e, ev.AccessCodeIssued | ev.AccessCodeRevoked))
        return grouped(facts, lambda e: e.exam_year)

    def code_facts_of_year(self, exam_year: int) -> list[ev.AccessCodeIssued | ev.AccessCodeRevoked]:
        """Issuances and revocations of one exam year, by valid time (ties in recording order)."""
        return self._code_facts_by_year.get(exam_year, [])

    # What the rules derive from this state and ask for repeatedly (a code's life, a redemption's end).
    memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class DistrictView(_RemovalsAtOrganization):
    """What the ledger knows of a district (its stream)."""

    stream: Stream
    district_id: str
    # What the rules derive from this state and ask for repeatedly (an addition's end, the instants a sweep probes).
    memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def registration(self) -> ev.DistrictRegistered | None:
        regs = by_effective(self.stream.of(ev.DistrictRegistered))
        return regs[0] if regs else None

    @cached_property
    def superintendents(self) -> list[ev.SuperintendentDesignated]:
        return by_effective(self.stream.of(ev.SuperintendentDesignated))

    @cached_property
    def additions(self) -> list[ev.DistrictAccessAdded]:
        return by_effective(self.stream.of(ev.DistrictAccessAdded))

    @cached_property
    def access_removals(self) -> list[ev.DistrictAccessRemoved]:
        return by_effective(self.stream.of(ev.DistrictAccessRemoved))

    @cached_property
    def _additions_by_person(self) -> dict[object, list[ev.DistrictAccessAdded]]:
        return grouped(self.additions, lambda a: a.person_id)

    def additions_of(self, person_id: str) -> list[ev.DistrictAccessAdded]:
        """One person's additions as a district user, by valid time."""
        return self._additions_by_person.get(person_id, [])

    @cached_property
    def _access_removals_by_person(self) -> dict[object, list[ev.DistrictAccessRemoved]]:
        return grouped(self.access_removals, lambda r: r.person_id)

    def access_removals_of(self, person_id: str) -> list[ev.DistrictAccessRemoved]:
        """One person's removals as a district user."""
        return self._access_removals_by_person.get(person_id, [])


@dataclass(frozen=True)
class ReleasesView:
    """Score releases (the stream named `calendar`, for the release calendar; not the school calendar)."""

    stream: Stream
    # What the rules derive from the releases and ask for repeatedly (the current and kept years at an instant).
    memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def in_year_order(self) -> list[ev.ScoresReleased]:
        return sorted(self.stream.of(ev.ScoresReleased), key=lambda e: (e.exam_year, e.released_on))


OrgView = SchoolView | DistrictView
