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
def _register_person(c: cmd.RegisterPerson, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world(ev.person_stream(c.person_id))
    if world.person(c.person_id).registrations:
        raise RuleViolation(f"person {c.person_id} is already registered", code="already_registered", rule="R1")
    b.add(ev.PersonRegistered, ev.person_stream(c.person_id), person_id=c.person_id, name=c.name, email=c.email)


@handles(cmd.UpdateProfile)
def _update_profile(c: cmd.UpdateProfile, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    registered_person(ctx.world(), c.person_id, t)
    b.add(
        ev.ProfileUpdated,
        ev.person_stream(c.person_id),
        person_id=c.person_id,
        name=c.name,
        email=c.email,
        title=c.title,
    )


@handles(cmd.AddAffiliation)
def _add_affiliation(c: cmd.AddAffiliation, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    registered_org(world, c.org_id, t)
    if person_is_affiliated_with(person, c.org_id, t) is not None:
        raise RuleViolation(f"{c.person_id} is already affiliated with {c.org_id}", code="already_affiliated")
    b.add(ev.AffiliationAdded, ev.person_stream(c.person_id), person_id=c.person_id, org_id=c.org_id)


@handles(cmd.EndAffiliation)
def _end_affiliation(c: cmd.EndAffiliation, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    if person_is_affiliated_with(person, c.org_id, t) is None:
        raise RuleViolation(f"{c.person_id} is not affiliated with {c.org_id} at {iso(t)}", code="not_affiliated")
    b.add(ev.AffiliationEnded, ev.person_stream(c.person_id), person_id=c.person_id, org_id=c.org_id)


@handles(cmd.AcceptTerms)
def _accept_terms(c: cmd.AcceptTerms, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    registered_person(ctx.world(), c.person_id, t)
    b.add(ev.TermsAccepted, ev.person_stream(c.person_id), person_id=c.person_id, terms_version=c.terms_version)
