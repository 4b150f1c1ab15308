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
def _authorize_course(c: cmd.AuthorizeCourse, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    school = registered_school(world, c.school_id, t)
    if held_authorizations(person, school, c.school_year, t, c.subject):
        raise RuleViolation(
            f"{c.person_id} already holds {c.subject} at {c.school_id} for school year {c.school_year}",
            code="already_authorized",
            rule="R3",
        )
    b.add(
        ev.CourseAuthorized,
        ev.person_stream(c.person_id),
        person_id=c.person_id,
        school_id=c.school_id,
        subject=c.subject,
        school_year=c.school_year,
    )


@handles(cmd.WithdrawCourseAuthorization)
def _withdraw_course(c: cmd.WithdrawCourseAuthorization, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    school = registered_school(world, c.school_id, t)
    if not held_authorizations(person, school, c.school_year, t, c.subject):
        raise RuleViolation(
            f"{c.person_id} holds no {c.subject} authorization at {c.school_id} for school year {c.school_year} at {iso(t)}",
            code="authorization_not_found",
            rule="R3",
        )
    b.add(
        ev.CourseAuthorizationWithdrawn,
        ev.person_stream(c.person_id),
        person_id=c.person_id,
        school_id=c.school_id,
        subject=c.subject,
        school_year=c.school_year,
    )


@handles(cmd.AssignSection)
def _assign_section(c: cmd.AssignSection, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    school = registered_school(world, c.school_id, t)
    assigned = sections_assigned(person, school, c.school_year, c.subject, t)
    if any(s.section_id == c.section_id for s in assigned):
        raise RuleViolation(
            f"section {c.section_id} ({c.subject}, {c.school_year}) is already assigned to {c.person_id}",
            code="already_assigned",
            rule="R4",
        )
    b.add(
        ev.SectionAssigned,
        ev.person_stream(c.person_id),
        person_id=c.person_id,
        school_id=c.school_id,
        subject=c.subject,
        section_id=c.section_id,
        school_year=c.school_year,
    )


@handles(cmd.RestrictStudentData)
def _restrict(c: cmd.RestrictStudentData, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    school = registered_school(world, c.school_id, t)
    registered_person(world, c.requested_by, t, "requested_by")
    must_be_principal(school, c.requested_by, t, "R6", "restrict student data")
    if c.teacher_id is not None:
        registered_person(world, c.teacher_id, t, "teacher_id")
    if active_restriction(school, c.teacher_id, t) is not None:
        scope = c.teacher_id or "all teachers"
        raise RuleViolation(
            f"student data at {c.school_id} is already restricted for {scope}", code="already_restricted", rule="R6"
        )
    b.add(
        ev.StudentDataRestricted,
        ev.school_stream(c.school_id),
        school_id=c.school_id,
        teacher_id=c.teacher_id,
        requested_by=c.requested_by,
    )


@handles(cmd.LiftStudentDataRestriction)
def _lift(c: cmd.LiftStudentDataRestriction, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    school = registered_school(world, c.school_id, t)
    registered_person(world, c.requested_by, t, "requested_by")
    must_be_principal(school, c.requested_by, t, "R6", "lift a restriction of student data")
    if active_restriction(school, c.teacher_id, t) is None:
        scope = c.teacher_id or "all teachers"
        raise RuleViolation(
            f"student data at {c.school_id} is not restricted for {scope} at {iso(t)}",
            code="restriction_not_found",
            rule="R6",
        )
    b.add(
        ev.StudentDataRestrictionLifted,
        ev.school_stream(c.school_id),
        school_id=c.school_id,
        teacher_id=c.teacher_id,
        requested_by=c.requested_by,
    )
