"""Commands on organizations and the calendar: registrations, designations, score releases."""

from __future__ import annotations

from datetime import datetime

from ledger import commands as cmd
from ledger import events as ev
from ledger.decide.checks import org_id_is_free, registered_district, registered_person, registered_school
from ledger.decide.core import Builder, Context, Handler, Prepared, registrar
from ledger.errors import RuleViolation
from ledger.rules.years import release_of_year

HANDLERS: dict[type[cmd.Command], Handler] = {}
handles = registrar(HANDLERS)


@handles(cmd.RegisterDistrict)
def _register_district(c: cmd.RegisterDistrict, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world(ev.district_stream(c.district_id), ev.school_stream(c.district_id))
    org_id_is_free(world, c.district_id)
    b.add(ev.DistrictRegistered, ev.district_stream(c.district_id), district_id=c.district_id, name=c.name)


@handles(cmd.RegisterSchool)
def _register_school(c: cmd.RegisterSchool, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world(ev.school_stream(c.school_id), ev.district_stream(c.school_id))
    org_id_is_free(world, c.school_id)
    if c.district_id is not None:
        registered_district(world, c.district_id, t)
    b.add(
        ev.SchoolRegistered,
        ev.school_stream(c.school_id),
        school_id=c.school_id,
        name=c.name,
        district_id=c.district_id,
        homeschool=c.homeschool,
    )


@handles(cmd.DesignatePrincipal)
def _designate_principal(c: cmd.DesignatePrincipal, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    registered_school(world, c.school_id, t)
    registered_person(world, c.person_id, t)
    b.add(
        ev.PrincipalDesignated,
        ev.school_stream(c.school_id),
        school_id=c.school_id,
        person_id=c.person_id,
        exam_year=c.exam_year,
    )


@handles(cmd.DesignateSuperintendent)
def _designate_superintendent(
    c: cmd.DesignateSuperintendent, ctx: Context, b: Builder, t: datetime, p: Prepared
) -> None:
    world = ctx.world()
    registered_district(world, c.district_id, t)
    registered_person(world, c.person_id, t)
    b.add(
        ev.SuperintendentDesignated, ev.district_stream(c.district_id), district_id=c.district_id, person_id=c.person_id
    )


@handles(cmd.ReleaseScores)
def _release_scores(c: cmd.ReleaseScores, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world(ev.CALENDAR_STREAM)
    existing = release_of_year(world.calendar(), c.exam_year)
    if existing is not None:
        raise RuleViolation(
            f"scores of {c.exam_year} were already released on {existing.released_on} (void that event to correct it)",
            code="already_released",
            rule="R3",
        )
    b.add(ev.ScoresReleased, ev.CALENDAR_STREAM, exam_year=c.exam_year, released_on=c.released_on)
