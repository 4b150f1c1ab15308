"""Administrator commands: system access (R7), district users (R11)."""

from __future__ import annotations

from datetime import datetime

from ledger import commands as cmd
from ledger import events as ev
from ledger.decide.checks import iso, must_be_superintendent, registered_district, registered_org, registered_person
from ledger.decide.core import Builder, Context, Handler, Prepared, registrar
from ledger.errors import RuleViolation
from ledger.rules.admins import held_system_grants, pending_district_additions

HANDLERS: dict[type[cmd.Command], Handler] = {}
handles = registrar(HANDLERS)


@handles(cmd.GrantSystemAccess)
def _grant_system_access(c: cmd.GrantSystemAccess, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    org = registered_org(world, c.org_id, t)
    if held_system_grants(person, c.org_id, org.removals_of(c.person_id), t, c.system):
        raise RuleViolation(
            f"{c.person_id} already has {c.system} access at {c.org_id}", code="already_granted", rule="R7"
        )
    b.add(
        ev.SystemAccessGranted, ev.person_stream(c.person_id), person_id=c.person_id, org_id=c.org_id, system=c.system
    )


@handles(cmd.RemoveSystemAccess)
def _remove_system_access(c: cmd.RemoveSystemAccess, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    org = registered_org(world, c.org_id, t)
    if not held_system_grants(person, c.org_id, org.removals_of(c.person_id), t, c.system):
        raise RuleViolation(
            f"{c.person_id} has no {c.system} access at {c.org_id} at {iso(t)}",
            code="system_access_not_found",
            rule="R7",
        )
    b.add(
        ev.SystemAccessRemoved, ev.person_stream(c.person_id), person_id=c.person_id, org_id=c.org_id, system=c.system
    )


@handles(cmd.AddDistrictUser)
def _add_district_user(c: cmd.AddDistrictUser, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    district = registered_district(world, c.district_id, t)
    registered_person(world, c.requested_by, t, "requested_by")
    must_be_superintendent(district, c.requested_by, t, "R11", "add district users")
    registered_person(world, c.person_id, t)
    for a in pending_district_additions(district, c.person_id, ctx.calendar, t):
        if a.access_year == c.access_year:
            raise RuleViolation(
                f"{c.person_id} is already a district user of {c.district_id} for access year {c.access_year}",
                code="already_added",
                rule="R11",
            )
    b.add(
        ev.DistrictAccessAdded,
        ev.district_stream(c.district_id),
        person_id=c.person_id,
        district_id=c.district_id,
        access_year=c.access_year,
        requested_by=c.requested_by,
    )


@handles(cmd.RemoveDistrictUser)
def _remove_district_user(c: cmd.RemoveDistrictUser, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    district = registered_district(world, c.district_id, t)
    registered_person(world, c.requested_by, t, "requested_by")
    must_be_superintendent(district, c.requested_by, t, "R11", "remove district users")
    registered_person(world, c.person_id, t)
    if not pending_district_additions(district, c.person_id, ctx.calendar, t):
        raise RuleViolation(
            f"{c.person_id} has no district access at {c.district_id} at {iso(t)}",
            code="district_access_not_found",
            rule="R11",
        )
    b.add(
        ev.DistrictAccessRemoved,
        ev.district_stream(c.district_id),
        person_id=c.person_id,
        district_id=c.district_id,
        requested_by=c.requested_by,
    )
