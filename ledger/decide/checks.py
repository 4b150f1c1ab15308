"""Checks shared by every command: registered people and organizations, who acts."""

from __future__ import annotations

from datetime import datetime

from ledger import events as ev
from ledger.errors import NotFound, RuleViolation
from ledger.rules.accounts import person_is_registered
from ledger.rules.designations import (
    person_is_principal_of,
    person_is_superintendent_of,
    principal_of,
    superintendent_of,
)
from ledger.streams import DistrictView, PersonView, SchoolView
from ledger.world import World


def iso(t: datetime) -> str:
    return t.isoformat()


def registered_person(world: World, person_id: str, t: datetime, field_name: str = "person_id") -> PersonView:
    """R1: the person must be registered, and registered at the command's valid time."""
    person = world.person(person_id)
    if not person.registrations:
        raise NotFound(f"unknown person {person_id} ({field_name})", code="unknown_person", rule="R1", field=field_name)
    if person_is_registered(person, t) is None:
        first = person.registrations[0].effective_at
        raise RuleViolation(
            f"person {person_id} ({field_name}) is registered only from {iso(first)}, after {iso(t)}",
            code="not_registered_yet",
            rule="R1",
            field=field_name,
        )
    return person


def _must_be_registered(
    kind: str,
    org_id: str,
    registration: ev.SchoolRegistered | ev.DistrictRegistered | None,
    t: datetime,
    field_name: str,
) -> None:
    """A school or district named by a command exists and is registered at the command's valid time."""
    if registration is None:
        raise NotFound(f"unknown {kind} {org_id} ({field_name})", code=f"unknown_{kind}", field=field_name)
    if registration.effective_at > t:
        raise RuleViolation(
            f"{kind} {org_id} is registered only from {iso(registration.effective_at)}",
            code="not_registered_yet",
            field=field_name,
        )


def registered_school(world: World, school_id: str, t: datetime, field_name: str = "school_id") -> SchoolView:
    """The school must be registered at the command's valid time."""
    school = world.school(school_id)
    _must_be_registered("school", school_id, school.registration, t, field_name)
    return school


def registered_district(world: World, district_id: str, t: datetime, field_name: str = "district_id") -> DistrictView:
    """The district must be registered at the command's valid time."""
    district = world.district(district_id)
    _must_be_registered("district", district_id, district.registration, t, field_name)
    return district


def registered_org(world: World, org_id: str, t: datetime, field_name: str = "org_id") -> SchoolView | DistrictView:
    """A school or a district registered at the command's valid time."""
    org = world.org(org_id)
    if org is None:
        raise NotFound(f"unknown organization {org_id} ({field_name})", code="unknown_organization", field=field_name)
    if isinstance(org, SchoolView):
        return registered_school(world, org_id, t, field_name)
    return registered_district(world, org_id, t, field_name)


def org_id_is_free(world: World, org_id: str) -> None:
    """Schools and districts share one id space (affiliations and removals name either)."""
    if world.org(org_id) is not None:
        raise RuleViolation(f"organization {org_id} is already registered", code="already_registered")


def must_be_principal(school: SchoolView, person_id: str, t: datetime, rule: str, what: str) -> None:
    """Only the school's designated principal at t may do `what`."""
    if not person_is_principal_of(school, person_id, t):
        current = principal_of(school, t)
        who = current.person_id if current else "nobody"
        raise RuleViolation(
            f"only the principal of {school.school_id} may {what}; at {iso(t)} that is {who}, not {person_id}",
            code="not_principal",
            rule=rule,
        )


def must_be_superintendent(district: DistrictView, person_id: str, t: datetime, rule: str, what: str) -> None:
    """Only the district's designated superintendent at t may do `what`."""
    if not person_is_superintendent_of(district, person_id, t):
        current = superintendent_of(district, t)
        who = current.person_id if current else "nobody"
        raise RuleViolation(
            f"only the superintendent of {district.district_id} may {what}; at {iso(t)} that is {who}, not {person_id}",
            code="not_superintendent",
            rule=rule,
        )
