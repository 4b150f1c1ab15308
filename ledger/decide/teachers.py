"""Teacher commands: course authorizations (R3), sections (R4), restrictions of student data (R6)."""

from __future__ import annotations

from datetime import datetime

from ledger import commands as cmd
from ledger import events as ev
from ledger.decide.checks import iso, must_be_principal, registered_person, registered_school
from ledger.decide.core import Builder, Context, Handler, Prepared, registrar
from ledger.errors import RuleViolation
from ledger.rules.teachers import active_restriction, held_authorizations, sections_assigned

HANDLERS: dict[type[cmd.Command], Handler] = {}
handles = registrar(HANDLERS)


@handles(cmd.AuthorizeCourse)
def _authorize_course(
    command: cmd.AuthorizeCourse, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    person = registered_person(world, command.person_id, at)
    school = registered_school(world, command.school_id, at)
    if held_authorizations(person, school, command.school_year, at, command.subject):
        raise RuleViolation(
            f"{command.person_id} already holds {command.subject} at {command.school_id} for school year {command.school_year}",
            code="already_authorized",
            rule="R3",
        )
    builder.add(
        ev.CourseAuthorized,
        ev.person_stream(command.person_id),
        person_id=command.person_id,
        school_id=command.school_id,
        subject=command.subject,
        school_year=command.school_year,
    )


@handles(cmd.WithdrawCourseAuthorization)
def _withdraw_course(
    command: cmd.WithdrawCourseAuthorization, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    person = registered_person(world, command.person_id, at)
    school = registered_school(world, command.school_id, at)
    if not held_authorizations(person, school, command.school_year, at, command.subject):
        raise RuleViolation(
            f"{command.person_id} holds no {command.subject} authorization at {command.school_id} for school year {command.school_year} at {iso(at)}",
            code="authorization_not_found",
            rule="R3",
        )
    builder.add(
        ev.CourseAuthorizationWithdrawn,
        ev.person_stream(command.person_id),
        person_id=command.person_id,
        school_id=command.school_id,
        subject=command.subject,
        school_year=command.school_year,
    )


@handles(cmd.AssignSection)
def _assign_section(
    command: cmd.AssignSection, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    person = registered_person(world, command.person_id, at)
    school = registered_school(world, command.school_id, at)
    assigned = sections_assigned(person, school, command.school_year, command.subject, at)
    if any(s.section_id == command.section_id for s in assigned):
        raise RuleViolation(
            f"section {command.section_id} ({command.subject}, {command.school_year}) is already assigned to {command.person_id}",
            code="already_assigned",
            rule="R4",
        )
    builder.add(
        ev.SectionAssigned,
        ev.person_stream(command.person_id),
        person_id=command.person_id,
        school_id=command.school_id,
        subject=command.subject,
        section_id=command.section_id,
        school_year=command.school_year,
    )


@handles(cmd.RestrictStudentData)
def _restrict(
    command: cmd.RestrictStudentData, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    school = registered_school(world, command.school_id, at)
    registered_person(world, command.requested_by, at, "requested_by")
    must_be_principal(school, command.requested_by, at, "R6", "restrict student data")
    if command.teacher_id is not None:
        registered_person(world, command.teacher_id, at, "teacher_id")
    if active_restriction(school, command.teacher_id, at) is not None:
        scope = command.teacher_id or "all teachers"
        raise RuleViolation(
            f"student data at {command.school_id} is already restricted for {scope}",
            code="already_restricted",
            rule="R6",
        )
    builder.add(
        ev.StudentDataRestricted,
        ev.school_stream(command.school_id),
        school_id=command.school_id,
        teacher_id=command.teacher_id,
        requested_by=command.requested_by,
    )


@handles(cmd.LiftStudentDataRestriction)
def _lift(
    command: cmd.LiftStudentDataRestriction, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    school = registered_school(world, command.school_id, at)
    registered_person(world, command.requested_by, at, "requested_by")
    must_be_principal(school, command.requested_by, at, "R6", "lift a restriction of student data")
    if active_restriction(school, command.teacher_id, at) is None:
        scope = command.teacher_id or "all teachers"
        raise RuleViolation(
            f"student data at {command.school_id} is not restricted for {scope} at {iso(at)}",
            code="restriction_not_found",
            rule="R6",
        )
    builder.add(
        ev.StudentDataRestrictionLifted,
        ev.school_stream(command.school_id),
        school_id=command.school_id,
        teacher_id=command.teacher_id,
        requested_by=command.requested_by,
    )
