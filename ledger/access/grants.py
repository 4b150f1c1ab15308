"""Grants: every reason a person holds a role at an organization at an instant, and the highest role (R12)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ledger.access.vocabulary import ROLE_RANK, Role
from ledger.calendar import LedgerCalendar
from ledger.rules.accounts import person_is_registered
from ledger.rules.admins import held_district_additions, held_system_grants
from ledger.rules.codes import redemption_is_held
from ledger.rules.teachers import held_authorizations, school_gives_teacher_access
from ledger.rules.years import current_released_year
from ledger.streams import DistrictView, PersonView, SchoolView
from ledger.world import World


@dataclass(frozen=True)
class Grant:
    """One reason a person holds a role at an organization at an instant."""

    role: Role
    rule: str
    evidence: tuple[str, ...]
    school_year: int | None = None  # teacher grants: the authorization's school year
    subject: str | None = None


def grants_at(world: World, calendar: LedgerCalendar, person_id: str, org_id: str, t: datetime) -> list[Grant]:
    """Every grant (R3, R5, R7, R8, R11, less R14 removals) of the person at the organization at t; R1 gates all."""
    person = world.person(person_id)
    if person_is_registered(person, t) is None:
        return []
    org = world.org(org_id)
    if isinstance(org, SchoolView):
        return _school_grants(world, calendar, person, org, t)
    if isinstance(org, DistrictView):
        return _district_grants(calendar, person, org, t)
    return []


def _school_grants(
    world: World, calendar: LedgerCalendar, person: PersonView, school: SchoolView, t: datetime
) -> list[Grant]:
    out: list[Grant] = []
    removals = school.removals_of(person.person_id)
    current = current_released_year(world.releases(), calendar, t)
    if current is not None and school_gives_teacher_access(school):
        for auth in held_authorizations(person, school, current.exam_year, t):
            out.append(
                Grant(
                    Role.TEACHER,
                    "R3",
                    (auth.event_id, current.event_id),
                    school_year=auth.school_year,
                    subject=auth.subject,
                )
            )
    for g in held_system_grants(person, school.school_id, removals, t):
        out.append(Grant(Role.SCHOOL_ADMIN, "R7", (g.event_id,)))
    for r in school.redemptions_of(person.person_id):
        if redemption_is_held(r, school, calendar, t):
            out.append(Grant(Role.SCHOOL_ADMIN, "R8", (r.event_id, r.code_event_id)))
    return out


def _district_grants(calendar: LedgerCalendar, person: PersonView, district: DistrictView, t: datetime) -> list[Grant]:
    out: list[Grant] = []
    removals = district.removals_of(person.person_id)
    for g in held_system_grants(person, district.district_id, removals, t):
        out.append(Grant(Role.DISTRICT_ADMIN, "R7", (g.event_id,)))
    for a in held_district_additions(district, person.person_id, calendar, t):
        out.append(Grant(Role.DISTRICT_ADMIN, "R11", (a.event_id,)))
    return out


def highest_role(grants: Iterable[Grant]) -> Role | None:
    """R12: within one organization the highest role decides."""
    best: Role | None = None
    for g in grants:
        if best is None or ROLE_RANK[g.role] > ROLE_RANK[best]:
            best = g.role
    return best


def roles_of(grants: Iterable[Grant]) -> list[Role]:
    """Distinct roles, highest first."""
    return sorted({g.role for g in grants}, key=lambda r: -ROLE_RANK[r])


def unique(ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in ids if i))


def grant_evidence(grants: Iterable[Grant]) -> list[str]:
    return [i for g in grants for i in g.evidence]
