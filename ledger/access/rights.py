"""Rights at an instant: per organization, the role, its scopes, its validity interval and its sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ledger import events as ev
from ledger.access.check import Decision, why_no_role
from ledger.access.grants import grant_evidence, grants_at, highest_role, roles_of, unique
from ledger.access.intervals import merged_span, role_intervals
from ledger.access.vocabulary import SCHOOL_REPORTS, Level, Report, Role
from ledger.calendar import LedgerCalendar
from ledger.rules.accounts import person_has_accepted_terms, person_is_affiliated_with, person_is_registered
from ledger.rules.teachers import teacher_scopes
from ledger.rules.years import kept_years
from ledger.streams import DistrictView, PersonView, SchoolView
from ledger.world import World


@dataclass(frozen=True)
class OrgRights:
    org_id: str
    role: Role | None
    roles: tuple[Role, ...]
    valid_from: datetime | None
    valid_to: datetime | None
    scopes: tuple[dict[str, object], ...]
    sources: tuple[str, ...]
    # Where no role is held, why: the same explanation a check gives (code, rules, reason, evidence).
    why_not: Decision | None = None


@dataclass(frozen=True)
class Rights:
    person_id: str
    registered: bool
    terms_accepted: bool
    organizations: tuple[OrgRights, ...] = field(default_factory=tuple)


def orgs_of_person(world: World, person_id: str) -> list[str]:
    """Organizations the person is connected to by any fact in this world."""
    person = world.person(person_id)
    orgs = set(person.org_ids)
    for sid, stream in world.streams.items():
        kind, org_id = ev.parse_stream_id(sid)
        if kind in ("school", "district") and any(e.about_person() == person_id for e in stream.events):
            orgs.add(org_id)
    return sorted(o for o in orgs if world.org(o) is not None)


def rights(world: World, calendar: LedgerCalendar, person_id: str, t: datetime) -> Rights:
    """Per organization: role, scopes, validity interval and grant sources at t."""
    person = world.person(person_id)
    registered = person_is_registered(person, t) is not None
    terms = person_has_accepted_terms(person, t) is not None
    if not registered:
        return Rights(person_id, False, terms)
    out: list[OrgRights] = []
    releases = world.releases()
    kept = kept_years(releases, calendar, t)
    for org_id in orgs_of_person(world, person_id):
        grants = grants_at(world, calendar, person_id, org_id, t)
        role = highest_role(grants)
        affiliation = person_is_affiliated_with(person, org_id, t)
        if role is None and affiliation is None:
            continue
        org = world.org(org_id)
        valid_from: datetime | None = None
        valid_to: datetime | None = None
        scopes: list[dict[str, object]] = []
        sources = unique(grant_evidence(g for g in grants if g.role is role))
        why_not: Decision | None = None
        if role is not None:
            valid_from, valid_to = merged_span(role_intervals(world, calendar, person_id, org_id), t, role)
            scopes = _scopes(world, calendar, person, org, role, kept, t)
        else:
            assert org is not None  # orgs_of_person lists known organizations only
            why_not = why_no_role(world, calendar, person, org, t, affiliation)
        roles = tuple(roles_of(grants))
        out.append(OrgRights(org_id, role, roles, valid_from, valid_to, tuple(scopes), sources, why_not))
    return Rights(person_id, True, terms, tuple(out))


def _scopes(
    world: World,
    calendar: LedgerCalendar,
    person: PersonView,
    org: SchoolView | DistrictView | None,
    role: Role,
    kept: list[int],
    t: datetime,
) -> list[dict[str, object]]:
    if isinstance(org, DistrictView):
        schools = world.schools_of(org.district_id)
        return [
            {
                "schools": schools,
                "reports": [r.value for r in Report],
                "exam_years": kept,
                "levels": [Level.STUDENT.value, Level.AGGREGATE.value],
            }
        ]
    assert isinstance(org, SchoolView)
    if role is Role.SCHOOL_ADMIN:
        return [
            {
                "schools": [org.school_id],
                "reports": [r.value for r in SCHOOL_REPORTS],
                "exam_years": kept,
                "levels": [Level.STUDENT.value, Level.AGGREGATE.value],
            }
        ]
    out: list[dict[str, object]] = []
    for scope in teacher_scopes(person, org, kept, t):
        reports = [Report.INSTRUCTIONAL_PLANNING.value]
        levels = [Level.AGGREGATE.value]
        if scope.student_data:
            reports.append(Report.SUBJECT_SCORE_ROSTER.value)
            levels.insert(0, Level.STUDENT.value)
        out.append(
            {
                "schools": [org.school_id],
                "subject": scope.authorization.subject,
                "exam_year": scope.authorization.school_year,
                "school_year": scope.authorization.school_year,
                "sections": sorted(s.section_id for s in scope.sections),
                "reports": reports,
                "levels": levels,
                "restricted": scope.restriction is not None,
            }
        )
    return out
