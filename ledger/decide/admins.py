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
def _grant_system_access(
    command: cmd.GrantSystemAccess, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    person = registered_person(world, command.person_id, at)
    org = registered_org(world, command.org_id, at)
    if held_system_grants(person, command.org_id, org.removals_of(command.person_id), at, command.system):
        raise RuleViolation(
            f"{command.person_id} already has {command.system} access at {command.org_id}",
            code="already_granted",
            rule="R7",
        )
    builder.add(
        ev.SystemAccessGranted,
        ev.person_stream(command.person_id),
        person_id=command.person_id,
        org_id=command.org_id,
        system=command.system,
    )


@handles(cmd.RemoveSystemAccess)
def _remove_system_access(
    command: cmd.RemoveSystemAccess, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    person = registered_person(world, command.person_id, at)
    org = registered_org(world, command.org_id, at)
    if not held_system_grants(person, command.org_id, org.removals_of(command.person_id), at, command.system):
        raise RuleViolation(
            f"{command.person_id} has no {command.system} access at {command.org_id} at {iso(at)}",
            code="system_access_not_found",
            rule="R7",
        )
    builder.add(
        ev.SystemAccessRemoved,
        ev.person_stream(command.person_id),
        person_id=command.person_id,
        org_id=command.org_id,
        system=command.system,
    )


@handles(cmd.AddDistrictUser)
def _add_district_user(
    command: cmd.AddDistrictUser, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    district = registered_district(world, command.district_id, at)
    registered_person(world, command.requested_by, at, "requested_by")
    must_be_superintendent(district, command.requested_by, at, "R11", "add district users")
    registered_person(world, command.person_id, at)
    for a in pending_district_additions(district, command.person_id, ctx.calendar, at):
        if a.access_year == command.access_year:
            raise RuleViolation(
                f"{command.person_id} is already a district user of {command.district_id} for access year {command.access_year}",
                code="already_added",
                rule="R11",
            )
    builder.add(
        ev.DistrictAccessAdded,
        ev.district_stream(command.district_id),
        person_id=command.person_id,
        district_id=command.district_id,
        access_year=command.access_year,
        requested_by=command.requested_by,
    )


@handles(cmd.RemoveDistrictUser)
def _remove_district_user(
    command: cmd.RemoveDistrictUser, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    district = registered_district(world, command.district_id, at)
    registered_person(world, command.requested_by, at, "requested_by")
    must_be_superintendent(district, command.requested_by, at, "R11", "remove district users")
    registered_person(world, command.person_id, at)
    if not pending_district_additions(district, command.person_id, ctx.calendar, at):
        raise RuleViolation(
            f"{command.person_id} has no district access at {command.district_id} at {iso(at)}",
            code="district_access_not_found",
            rule="R11",
        )
    builder.add(
        ev.DistrictAccessRemoved,
        ev.district_stream(command.district_id),
        person_id=command.person_id,
        district_id=command.district_id,
        requested_by=command.requested_by,
    )
