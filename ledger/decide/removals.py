"""Removals of access (R14) and voids of recorded facts (R15)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import commands as cmd
from ledger import events as ev
from ledger.access.grants import grants_at
from ledger.calendar import LedgerCalendar
from ledger.decide.checks import iso, registered_org, registered_person
from ledger.decide.core import Builder, Context, Handler, Prepared, registrar
from ledger.errors import NotFound, RuleViolation
from ledger.rules.admins import held_system_grants, pending_district_additions
from ledger.rules.codes import code_has_a_free_staff_place, redemption_is_held
from ledger.rules.designations import person_is_principal_of, person_is_superintendent_of
from ledger.rules.teachers import authorization_is_held
from ledger.streams import DistrictView, SchoolView, World, evolve

HANDLERS: dict[type[cmd.Command], Handler] = {}
handles = registrar(HANDLERS)


def has_something_to_remove(
    world: World, cal: LedgerCalendar, person_id: str, org: SchoolView | DistrictView, t: datetime
) -> bool:
    """R14: whether the person holds any role or not-yet-ended grant at the organization at t."""
    org_id = org.school_id if isinstance(org, SchoolView) else org.district_id
    if grants_at(world, cal, person_id, org_id, t):
        return True
    person = world.person(person_id)
    if isinstance(org, SchoolView):
        removals = org.removals_of(person_id)
        if any(authorization_is_held(a, person, removals, t) for a in person.authorizations_at_school(org_id)):
            return True
        if held_system_grants(person, org_id, removals, t):
            return True
        return any(redemption_is_held(r, org, cal, t) for r in org.redemptions_of(person_id))
    return bool(
        pending_district_additions(org, person_id, cal, t)
        or held_system_grants(person, org_id, org.removals_of(person_id), t)
    )


@handles(cmd.RemoveAccess)
def _remove_access(c: cmd.RemoveAccess, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world(ev.CALENDAR_STREAM)
    org = registered_org(world, c.org_id, t)
    registered_person(world, c.removed_by, t, "removed_by")
    registered_person(world, c.person_id, t)
    if isinstance(org, SchoolView):
        allowed = person_is_principal_of(org, c.removed_by, t)
        if not allowed and org.district_id is not None:
            allowed = person_is_superintendent_of(world.district(org.district_id), c.removed_by, t)
        stream = ev.school_stream(c.org_id)
        who = "the principal of the school or the superintendent of its district"
    else:
        allowed = person_is_superintendent_of(org, c.removed_by, t)
        stream = ev.district_stream(c.org_id)
        who = "the superintendent of the district"
    if not allowed:
        raise RuleViolation(
            f"{c.removed_by} may not remove access at {c.org_id}: only {who} may",
            code="not_authorized_to_remove",
            rule="R14",
        )
    if not has_something_to_remove(world, ctx.calendar, c.person_id, org, t):
        raise RuleViolation(
            f"{c.person_id} holds no access at {c.org_id} at {iso(t)}: nothing to remove",
            code="nothing_to_remove",
            rule="R14",
        )
    b.add(ev.AccessRemoved, stream, person_id=c.person_id, org_id=c.org_id, removed_by=c.removed_by)


@handles(cmd.VoidEvent)
def _void_event(c: cmd.VoidEvent, ctx: Context, b: Builder, t: datetime, p: Prepared) -> dict[str, Any]:
    stream_id = ctx.locate(c.event_id)
    if stream_id is None:
        raise NotFound(f"unknown event {c.event_id}", code="unknown_event", rule="R15")
    stream = ctx.stream(stream_id)
    target = stream.find(c.event_id)
    if target is None:
        if any(v.event_id == c.event_id for v in stream.voids):
            raise RuleViolation(
                "a void cannot itself be voided: record the fact again instead", code="cannot_void_a_void", rule="R15"
            )
        raise RuleViolation(f"event {c.event_id} is already voided", code="already_voided", rule="R15")
    void = b.add(ev.EventVoided, stream_id, voided_event_id=c.event_id, reason=c.reason)
    if stream_id.startswith("school:"):
        after = SchoolView(evolve(stream, void), stream_id.split(":", 1)[1])
        for code in after.codes:
            ok, when = code_has_a_free_staff_place(after, code.event_id, ctx.calendar)
            if not ok:
                moment = f" at {iso(when)}" if when else ""
                raise RuleViolation(
                    f"voiding {target.type} would let six staff hold one code{moment}",
                    code="five_staff_limit",
                    rule="R9",
                )
    return {"voided_event_id": c.event_id, "voided_type": target.type}
