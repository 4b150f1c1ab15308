"""Commands on organizations and the calendar: registrations, designations, score releases."""

from __future__ import annotations

from datetime import datetime

from ledger import commands as cmd
from ledger import events as ev
from ledger.decide.checks import org_id_is_free, registered_district, registered_person, registered_school
from ledger.decide.codes import must_leave_staff_places
from ledger.decide.core import Builder, Context, Handler, Prepared, registrar
from ledger.errors import RuleViolation
from ledger.rules.years import release_of_year
from ledger.streams import SchoolView, evolve

HANDLERS: dict[type[cmd.Command], Handler] = {}
handles = registrar(HANDLERS)


@handles(cmd.RegisterDistrict)
def _register_district(
    command: cmd.RegisterDistrict, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world(ev.district_stream(command.district_id), ev.school_stream(command.district_id))
    org_id_is_free(world, command.district_id)
    builder.add(
        ev.DistrictRegistered,
        ev.district_stream(command.district_id),
        district_id=command.district_id,
        name=command.name,
    )


@handles(cmd.RegisterSchool)
def _register_school(
    command: cmd.RegisterSchool, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world(ev.school_stream(command.school_id), ev.district_stream(command.school_id))
    org_id_is_free(world, command.school_id)
    if command.district_id is not None:
        registered_district(world, command.district_id, at)
    builder.add(
        ev.SchoolRegistered,
        ev.school_stream(command.school_id),
        school_id=command.school_id,
        name=command.name,
        district_id=command.district_id,
        homeschool=command.homeschool,
    )


@handles(cmd.DesignatePrincipal)
def _designate_principal(
    command: cmd.DesignatePrincipal, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    school = registered_school(world, command.school_id, at)
    registered_person(world, command.person_id, at)
    designated = builder.add(
        ev.PrincipalDesignated,
        ev.school_stream(command.school_id),
        school_id=command.school_id,
        person_id=command.person_id,
        exam_year=command.exam_year,
    )
    # Who is staff is read in valid time (R9): a backdated designation may turn a former
    # principal's redemption into a staff one.
    after = SchoolView(evolve(school.stream, designated), school.school_id)
    must_leave_staff_places(after, ctx.calendar, "this designation")


@handles(cmd.DesignateSuperintendent)
def _designate_superintendent(
    command: cmd.DesignateSuperintendent, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    registered_district(world, command.district_id, at)
    registered_person(world, command.person_id, at)
    builder.add(
        ev.SuperintendentDesignated,
        ev.district_stream(command.district_id),
        district_id=command.district_id,
        person_id=command.person_id,
    )


@handles(cmd.ReleaseScores)
def _release_scores(
    command: cmd.ReleaseScores, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world(ev.CALENDAR_STREAM)
    existing = release_of_year(world.releases(), command.exam_year)
    if existing is not None:
        raise RuleViolation(
            f"scores of {command.exam_year} were already released on {existing.released_on} (void that event to correct it)",
            code="already_released",
            rule="R3",
        )
    builder.add(ev.ScoresReleased, ev.CALENDAR_STREAM, exam_year=command.exam_year, released_on=command.released_on)
