"""Removals of access (R14) and voids of recorded facts (R15)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import commands as cmd
from ledger import events as ev
from ledger.access.grants import grants_at
from ledger.calendar import LedgerCalendar
from ledger.decide.checks import iso, registered_org, registered_person
from ledger.decide.codes import must_leave_staff_places
from ledger.decide.core import Builder, Context, Handler, Prepared, registrar
from ledger.errors import NotFound, RuleViolation
from ledger.rules.admins import held_system_grants, pending_district_additions
from ledger.rules.codes import redemption_is_held
from ledger.rules.designations import person_is_principal_of, person_is_superintendent_of
from ledger.rules.teachers import authorization_is_held
from ledger.streams import DistrictView, SchoolView, evolve
from ledger.world import World

HANDLERS: dict[type[cmd.Command], Handler] = {}
handles = registrar(HANDLERS)


def has_something_to_remove(
    world: World, calendar: LedgerCalendar, person_id: str, org: SchoolView | DistrictView, t: datetime
) -> bool:
    """R14: whether the person holds any role or not-yet-ended grant at the organization at t."""
    org_id = org.school_id if isinstance(org, SchoolView) else org.district_id
    if grants_at(world, calendar, person_id, org_id, t):
        return True
    person = world.person(person_id)
    if isinstance(org, SchoolView):
        removals = org.removals_of(person_id)
        if any(authorization_is_held(a, person, removals, t) for a in person.authorizations_at_school(org_id)):
            return True
        if held_system_grants(person, org_id, removals, t):
            return True
        return any(redemption_is_held(r, org, calendar, t) for r in org.redemptions_of(person_id))
    return bool(
        pending_district_additions(org, person_id, calendar, t)
        or held_system_grants(person, org_id, org.removals_of(person_id), t)
    )


@handles(cmd.RemoveAccess)
def _remove_access(command: cmd.RemoveAccess, ctx: Context, builder: Builder, at: datetime, prepared: Prepared) -> None:
    world = ctx.world(ev.CALENDAR_STREAM)
    org = registered_org(world, command.org_id, at)
    registered_person(world, command.removed_by, at, "removed_by")
    registered_person(world, command.person_id, at)
    if isinstance(org, SchoolView):
        allowed = person_is_principal_of(org, command.removed_by, at)
        if not allowed and org.district_id is not None:
            allowed = person_is_superintendent_of(world.district(org.district_id), command.removed_by, at)
        stream = ev.school_stream(command.org_id)
        who = "the principal of the school or the superintendent of its district"
    else:
        allowed = person_is_superintendent_of(org, command.removed_by, at)
        stream = ev.district_stream(command.org_id)
        who = "the superintendent of the district"
    if not allowed:
        raise RuleViolation(
            f"{command.removed_by} may not remove access at {command.org_id}: only {who} may",
            code="not_authorized_to_remove",
            rule="R14",
        )
    if not has_something_to_remove(world, ctx.calendar, command.person_id, org, at):
        raise RuleViolation(
            f"{command.person_id} holds no access at {command.org_id} at {iso(at)}: nothing to remove",
            code="nothing_to_remove",
            rule="R14",
        )
    builder.add(
        ev.AccessRemoved, stream, person_id=command.person_id, org_id=command.org_id, removed_by=command.removed_by
    )


@handles(cmd.VoidEvent)
def _void_event(
    command: cmd.VoidEvent, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> dict[str, Any]:
    stream_id = ctx.locate(command.event_id)
    if stream_id is None:
        raise NotFound(f"unknown event {command.event_id}", code="unknown_event", rule="R15", field="event_id")
    stream = ctx.stream(stream_id)
    target = stream.find(command.event_id)
    if target is None:
        if any(v.event_id == command.event_id for v in stream.voids):
            raise RuleViolation(
                "a void cannot itself be voided: record the fact again instead", code="cannot_void_a_void", rule="R15"
            )
        raise RuleViolation(f"event {command.event_id} is already voided", code="already_voided", rule="R15")
    void = builder.add(ev.EventVoided, stream_id, voided_event_id=command.event_id, reason=command.reason)
    kind, school_id = ev.parse_stream_id(stream_id)
    if kind == "school":
        after = SchoolView(evolve(stream, void), school_id)
        must_leave_staff_places(after, ctx.calendar, f"voiding {target.type}")
    return {"voided_event_id": command.event_id, "voided_type": target.type}
