"""Teachers: course authorizations (R3), scope by subject and section (R4), homeschools (R5), restrictions (R6)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ledger import events as ev
from ledger.rules.enders import first_ender
from ledger.rules.removals import removal_ending
from ledger.streams import PersonView, SchoolView


def authorization_end(
    auth: ev.CourseAuthorized,
    person: PersonView,
    removals: Sequence[ev.AccessRemoved],
) -> ev.LedgerEvent | None:
    """The withdrawal (or R14 removal) that ends an authorization, if any."""
    key = ("authorization_end", auth.event_id, tuple(r.event_id for r in removals))
    found = person.memo.get(key)
    if isinstance(found, tuple):  # (the ender,): None is an answer too
        end: ev.LedgerEvent | None = found[0]
        return end
    withdrawals = person.withdrawals_of(auth.school_id, auth.subject, auth.school_year)
    end = first_ender(auth.effective_at, [*withdrawals, *removals])
    person.memo[key] = (end,)
    return end


def authorization_is_held(
    auth: ev.CourseAuthorized,
    person: PersonView,
    removals: Sequence[ev.AccessRemoved],
    t: datetime,
) -> bool:
    """R3: an authorization holds from its effective time until withdrawn or ended by a removal."""
    if auth.effective_at > t:
        return False
    end = authorization_end(auth, person, removals)
    return end is None or end.effective_at > t


def held_authorizations(
    person: PersonView,
    school: SchoolView,
    school_year: int,
    t: datetime,
    subject: str | None = None,
) -> list[ev.CourseAuthorized]:
    """R3/R4: authorizations at the school for a school year (and subject) held at t."""
    removals = school.removals_of(person.person_id)
    return [
        a
        for a in person.authorizations_at(school.school_id, school_year)
        if (subject is None or a.subject == subject) and authorization_is_held(a, person, removals, t)
    ]


def school_gives_teacher_access(school: SchoolView) -> bool:
    """R5: authorizations at a homeschool organization give no access to score reports."""
    return not school.homeschool


def sections_assigned(
    person: PersonView,
    school: SchoolView,
    school_year: int,
    subject: str,
    t: datetime,
) -> list[ev.SectionAssigned]:
    """R4: section assignments at the school for a school year and subject effective at t."""
    removals = school.removals_of(person.person_id)
    return [
        s
        for s in person.sections_of(school.school_id, school_year, subject)
        if s.effective_at <= t and removal_ending(s.effective_at, removals, t) is None
    ]


def restriction_in_force(school: SchoolView, teacher_id: str, t: datetime) -> ev.StudentDataRestricted | None:
    """R6: a restriction of student data for all teachers or this teacher, in force at t."""
    active: dict[str | None, ev.StudentDataRestricted] = {}
    for e in school.restriction_events:
        if e.effective_at > t:
            break
        if isinstance(e, ev.StudentDataRestricted):
            active.setdefault(e.teacher_id, e)
        else:
            active.pop(e.teacher_id, None)
    return active.get(None) or active.get(teacher_id)


def active_restriction(school: SchoolView, teacher_id: str | None, t: datetime) -> ev.StudentDataRestricted | None:
    """R6: the restriction with exactly this scope (None = all teachers) in force at t."""
    current: ev.StudentDataRestricted | None = None
    for e in school.restriction_events:
        if e.effective_at > t:
            break
        if e.teacher_id != teacher_id:
            continue
        if isinstance(e, ev.StudentDataRestricted):
            current = current or e
        else:
            current = None
    return current


@dataclass(frozen=True)
class TeacherScope:
    """R4/R6: what one held course authorization lets a teacher see at an instant."""

    authorization: ev.CourseAuthorized
    sections: tuple[ev.SectionAssigned, ...]  # R4: the teacher's sections in that subject and school year
    restriction: ev.StudentDataRestricted | None  # R6: a restriction of student data in force, if any

    @property
    def student_data(self) -> bool:
        """R4/R6: section rosters need an assigned section and no restriction; planning reports need neither."""
        return bool(self.sections) and self.restriction is None


def teacher_scopes(
    person: PersonView, school: SchoolView, school_years: Iterable[int], t: datetime, subject: str | None = None
) -> list[TeacherScope]:
    """R3/R4/R6: per school year and authorization held at t (in `subject`, if given), its sections and restriction.

    The check, the data-level intervals and the rights' scopes all read a teacher's reach from here.
    """
    restriction = restriction_in_force(school, person.person_id, t)
    return [
        TeacherScope(auth, tuple(sections_assigned(person, school, year, auth.subject, t)), restriction)
        for year in school_years
        for auth in held_authorizations(person, school, year, t, subject)
    ]
