"""Commands on a person's account: registration (R1), profile, affiliations, terms (R2)."""

from __future__ import annotations

from datetime import datetime

from ledger import commands as cmd
from ledger import events as ev
from ledger.decide.checks import iso, registered_org, registered_person
from ledger.decide.core import Builder, Context, Handler, Prepared, registrar
from ledger.errors import RuleViolation
from ledger.rules.accounts import person_is_affiliated_with

HANDLERS: dict[type[cmd.Command], Handler] = {}
handles = registrar(HANDLERS)


@handles(cmd.RegisterPerson)
def _register_person(
    command: cmd.RegisterPerson, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world(ev.person_stream(command.person_id))
    if world.person(command.person_id).registrations:
        raise RuleViolation(f"person {command.person_id} is already registered", code="already_registered", rule="R1")
    builder.add(
        ev.PersonRegistered,
        ev.person_stream(command.person_id),
        person_id=command.person_id,
        name=command.name,
        email=command.email,
    )


@handles(cmd.UpdateProfile)
def _update_profile(
    command: cmd.UpdateProfile, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    registered_person(ctx.world(), command.person_id, at)
    builder.add(
        ev.ProfileUpdated,
        ev.person_stream(command.person_id),
        person_id=command.person_id,
        name=command.name,
        email=command.email,
        title=command.title,
    )


@handles(cmd.AddAffiliation)
def _add_affiliation(
    command: cmd.AddAffiliation, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    person = registered_person(world, command.person_id, at)
    registered_org(world, command.org_id, at)
    if person_is_affiliated_with(person, command.org_id, at) is not None:
        raise RuleViolation(
            f"{command.person_id} is already affiliated with {command.org_id}", code="already_affiliated"
        )
    builder.add(
        ev.AffiliationAdded, ev.person_stream(command.person_id), person_id=command.person_id, org_id=command.org_id
    )


@handles(cmd.EndAffiliation)
def _end_affiliation(
    command: cmd.EndAffiliation, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    person = registered_person(world, command.person_id, at)
    if person_is_affiliated_with(person, command.org_id, at) is None:
        raise RuleViolation(
            f"{command.person_id} is not affiliated with {command.org_id} at {iso(at)}", code="not_affiliated"
        )
    builder.add(
        ev.AffiliationEnded, ev.person_stream(command.person_id), person_id=command.person_id, org_id=command.org_id
    )


@handles(cmd.AcceptTerms)
def _accept_terms(command: cmd.AcceptTerms, ctx: Context, builder: Builder, at: datetime, prepared: Prepared) -> None:
    registered_person(ctx.world(), command.person_id, at)
    builder.add(
        ev.TermsAccepted,
        ev.person_stream(command.person_id),
        person_id=command.person_id,
        terms_version=command.terms_version,
    )
