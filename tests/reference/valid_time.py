"""An independent reading of the rules in valid time: a plain fold over the final events.

Written from the rules' text, without the ledger's rule functions (`ledger.rules`,
`ledger.access`, `ledger.decide` are not imported), so that a mistake in one is not
silently shared by the other. It answers four questions about the final picture
(every event recorded, voids applied): whether a check is allowed, the highest role of a
person at an organization at an instant, the access code of a school and exam year in force
at an instant (with the valid interval of every code) and the staff holding a school's code
at an instant.

The readings it encodes:
- facts are applied in valid-time order; facts effective at the same instant in the
  order they were recorded;
- the code of school S and exam year Y in force at t is the one of the latest issuance
  effective at or before t, unless a revocation (of S and Y) effective after it and at or
  before t ended it, or it expired (end of Jul 31 of Y+1);
- a redemption gives access while the code it redeemed is in force, from the
  redemption's effective time, if that code was in force then; a removal at the school
  ends it;
- an ender (withdrawal, removal of system access, removal of district access, R14
  removal) ends every matching grant effective at or before it; grants effective after
  it count again;
- a redeemer is staff unless, at the redemption's effective time, they are the school's
  principal or the principal designated for the code's exam year (latest designation
  effective at or before then wins).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from ledger import events as ev
from ledger.calendar import LedgerCalendar

RANK = {"teacher": 1, "school_admin": 2, "district_admin": 3}


class ValidTimePicture:
    """The final valid-time picture of a log of events (given in recording order)."""

    def __init__(self, log: Sequence[ev.LedgerEvent], calendar: LedgerCalendar) -> None:
        voided = {e.voided_event_id for e in log if isinstance(e, ev.EventVoided)}
        kept = [(i, e) for i, e in enumerate(log) if not isinstance(e, ev.EventVoided) and e.event_id not in voided]
        kept.sort(key=lambda pair: (pair[1].effective_at, pair[0]))
        self.facts: list[ev.LedgerEvent] = [e for _, e in kept]
        self.calendar = calendar
        self.by_id = {e.event_id: e for e in self.facts}

    # --- small readings -----------------------------------------------------------------------

    def _of(self, cls: type[ev.LedgerEvent], until: datetime | None = None) -> Iterable[ev.LedgerEvent]:
        for e in self.facts:
            if until is not None and e.effective_at > until:
                break
            if isinstance(e, cls):
                yield e

    def registered(self, person_id: str, t: datetime) -> bool:
        return any(e.person_id == person_id for e in self._of(ev.PersonRegistered, t))  # type: ignore[attr-defined]

    def school(self, org_id: str) -> ev.SchoolRegistered | None:
        for e in self._of(ev.SchoolRegistered):
            assert isinstance(e, ev.SchoolRegistered)
            if e.school_id == org_id:
                return e
        return None

    def is_district(self, org_id: str) -> bool:
        return any(e.district_id == org_id for e in self._of(ev.DistrictRegistered))  # type: ignore[attr-defined]

    def released_year(self, t: datetime) -> int | None:
        years = [
            e.exam_year
            for e in self._of(ev.ScoresReleased)
            if isinstance(e, ev.ScoresReleased) and self.calendar.release_start(e.released_on) <= t
        ]
        return max(years) if years else None

    def principal(self, school_id: str, t: datetime, exam_year: int | None = None) -> str | None:
        """The latest designation effective at or before t (for one exam year, if given)."""
        found = None
        for e in self._of(ev.PrincipalDesignated, t):
            assert isinstance(e, ev.PrincipalDesignated)
            if e.school_id == school_id and (exam_year is None or e.exam_year == exam_year):
                found = e.person_id
        return found

    def _ended(self, start: datetime, t: datetime, enders: Iterable[ev.LedgerEvent]) -> bool:
        return any(start <= e.effective_at <= t for e in enders)

    def _removals(self, person_id: str, org_id: str) -> list[ev.LedgerEvent]:
        return [
            e
            for e in self._of(ev.AccessRemoved)
            if isinstance(e, ev.AccessRemoved) and e.person_id == person_id and e.org_id == org_id
        ]

    # --- codes ---------------------------------------------------------------------------------

    def code_facts(self, school_id: str, exam_year: int) -> list[ev.LedgerEvent]:
        return [
            e
            for e in self.facts
            if isinstance(e, ev.AccessCodeIssued | ev.AccessCodeRevoked)
            and e.school_id == school_id
            and e.exam_year == exam_year
        ]

    def code_in_force(self, school_id: str, exam_year: int, t: datetime) -> ev.AccessCodeIssued | None:
        if t >= self.calendar.code_expiry(exam_year):
            return None
        current: ev.AccessCodeIssued | None = None
        for e in self.code_facts(school_id, exam_year):
            if e.effective_at > t:
                break
            current = e if isinstance(e, ev.AccessCodeIssued) else None
        return current

    def code_end(self, issued: ev.AccessCodeIssued) -> datetime:
        """When the code stops being in force: the next issuance or revocation of its school and year, or expiry."""
        facts = self.code_facts(issued.school_id, issued.exam_year)
        after = facts[facts.index(issued) + 1 :]
        end = self.calendar.code_expiry(issued.exam_year)
        return min(end, after[0].effective_at) if after else end

    def redemption_held(self, r: ev.AccessCodeRedeemed, t: datetime) -> bool:
        if r.effective_at > t:
            return False
        code = self.by_id.get(r.code_event_id)
        if not isinstance(code, ev.AccessCodeIssued):
            return False
        if self.code_in_force(code.school_id, code.exam_year, r.effective_at) is not code:
            return False
        if self.code_in_force(code.school_id, code.exam_year, t) is not code:
            return False
        return not self._ended(r.effective_at, t, self._removals(r.person_id, r.school_id))

    def is_staff(self, r: ev.AccessCodeRedeemed) -> bool:
        at = r.effective_at
        return r.person_id not in (self.principal(r.school_id, at), self.principal(r.school_id, at, r.exam_year))

    def staff_holding(self, school_id: str, exam_year: int, t: datetime) -> set[str]:
        return {
            r.person_id
            for r in self._of(ev.AccessCodeRedeemed, t)
            if isinstance(r, ev.AccessCodeRedeemed)
            and r.school_id == school_id
            and r.exam_year == exam_year
            and self.is_staff(r)
            and self.redemption_held(r, t)
        }

    # --- roles ---------------------------------------------------------------------------------

    def _authorized(
        self, person_id: str, school_id: str, school_year: int, t: datetime, subject: str | None = None
    ) -> bool:
        for a in self._of(ev.CourseAuthorized, t):
            assert isinstance(a, ev.CourseAuthorized)
            if (a.person_id, a.school_id, a.school_year) != (person_id, school_id, school_year):
                continue
            if subject is not None and a.subject != subject:
                continue
            withdrawals = [
                w
                for w in self._of(ev.CourseAuthorizationWithdrawn)
                if isinstance(w, ev.CourseAuthorizationWithdrawn)
                and (w.person_id, w.school_id, w.subject, w.school_year)
                == (a.person_id, a.school_id, a.subject, a.school_year)
            ]
            if not self._ended(a.effective_at, t, [*withdrawals, *self._removals(person_id, school_id)]):
                return True
        return False

    def _system_access(self, person_id: str, org_id: str, t: datetime) -> bool:
        for g in self._of(ev.SystemAccessGranted, t):
            assert isinstance(g, ev.SystemAccessGranted)
            if (g.person_id, g.org_id) != (person_id, org_id):
                continue
            removed = [
                r
                for r in self._of(ev.SystemAccessRemoved)
                if isinstance(r, ev.SystemAccessRemoved)
                and (r.person_id, r.org_id, r.system) == (person_id, org_id, g.system)
            ]
            if not self._ended(g.effective_at, t, [*removed, *self._removals(person_id, org_id)]):
                return True
        return False

    def _district_user(self, person_id: str, district_id: str, t: datetime) -> bool:
        for a in self._of(ev.DistrictAccessAdded, t):
            assert isinstance(a, ev.DistrictAccessAdded)
            if (a.person_id, a.district_id) != (person_id, district_id):
                continue
            opens, closes = self.calendar.access_window(a.access_year)
            if not max(opens, a.effective_at) <= t < closes:
                continue
            removed = [
                r
                for r in self._of(ev.DistrictAccessRemoved)
                if isinstance(r, ev.DistrictAccessRemoved) and (r.person_id, r.district_id) == (person_id, district_id)
            ]
            if not self._ended(a.effective_at, t, [*removed, *self._removals(person_id, district_id)]):
                return True
        return False

    def role(self, person_id: str, org_id: str, t: datetime) -> str | None:
        """The highest role of the person at the organization at t (R1, R3, R5, R7, R8, R11, R12, R14)."""
        if not self.registered(person_id, t):
            return None
        roles: set[str] = set()
        school = self.school(org_id)
        if school is not None:
            year = self.released_year(t)
            if year is not None and not school.homeschool and self._authorized(person_id, org_id, year, t):
                roles.add("teacher")
            if self._system_access(person_id, org_id, t):
                roles.add("school_admin")
            redemptions = [r for r in self._of(ev.AccessCodeRedeemed, t) if isinstance(r, ev.AccessCodeRedeemed)]
            if any(
                r.person_id == person_id and r.school_id == org_id and self.redemption_held(r, t) for r in redemptions
            ):
                roles.add("school_admin")
        elif self.is_district(org_id) and (
            self._system_access(person_id, org_id, t) or self._district_user(person_id, org_id, t)
        ):
            roles.add("district_admin")
        return max(roles, key=RANK.__getitem__) if roles else None

    # --- checks --------------------------------------------------------------------------------

    def _district_of(self, school_id: str | None) -> str | None:
        school = self.school(school_id) if school_id is not None else None
        return school.district_id if school is not None else None

    def _kept(self, exam_year: int, t: datetime) -> bool:
        """R16: released by t, and one of the kept years below the current released year."""
        current = self.released_year(t)
        if current is None or not current - self.calendar.kept_years < exam_year <= current:
            return False
        return any(
            e.exam_year == exam_year and self.calendar.release_start(e.released_on) <= t
            for e in self._of(ev.ScoresReleased)
            if isinstance(e, ev.ScoresReleased)
        )

    def _restricted(self, school_id: str, teacher_id: str, t: datetime) -> bool:
        """R6: a restriction for all teachers or for this one, not lifted by t (same instant: recording order)."""
        active: dict[str | None, bool] = {}
        for e in self.facts:
            if e.effective_at > t:
                break
            if isinstance(e, ev.StudentDataRestricted | ev.StudentDataRestrictionLifted) and e.school_id == school_id:
                active[e.teacher_id] = isinstance(e, ev.StudentDataRestricted)
        return active.get(None, False) or active.get(teacher_id, False)

    def _subjects_held(self, person_id: str, school_id: str, school_year: int, t: datetime) -> set[str]:
        return {
            a.subject
            for a in self._of(ev.CourseAuthorized, t)
            if isinstance(a, ev.CourseAuthorized)
            and (a.person_id, a.school_id, a.school_year) == (person_id, school_id, school_year)
            and self._authorized(person_id, school_id, school_year, t, a.subject)
        }

    def _section_held(self, person_id: str, school_id: str, year: int, subject: str, section: str, t: datetime) -> bool:
        return any(
            (s.person_id, s.school_id, s.school_year, s.subject, s.section_id)
            == (person_id, school_id, year, subject, section)
            and not self._ended(s.effective_at, t, self._removals(person_id, school_id))
            for s in self._of(ev.SectionAssigned, t)
            if isinstance(s, ev.SectionAssigned)
        )

    def allowed(
        self,
        person_id: str,
        org_id: str,
        report: str,
        exam_year: int,
        school_id: str | None,
        subject: str | None,
        section_id: str | None,
        t: datetime,
    ) -> bool:
        """Whether the person, acting for the organization, may see the report at t (R1–R16)."""
        registration = [e for e in self.facts if isinstance(e, ev.SchoolRegistered | ev.DistrictRegistered)]
        org_registered = [
            e for e in registration if (e.school_id if isinstance(e, ev.SchoolRegistered) else e.district_id) == org_id
        ]
        if not org_registered or org_registered[0].effective_at > t:  # R13: acting for an organization that exists
            return False
        role = self.role(person_id, org_id, t)
        if role is None:
            return False
        acting_for_school = self.school(org_id) is not None
        if report == "district_score_summary":  # R11: district admins, for their own district
            if acting_for_school or (school_id is not None and self._district_of(school_id) != org_id):
                return False
        elif school_id is None or (
            school_id != org_id if acting_for_school else self._district_of(school_id) != org_id
        ):
            return False  # R13: the report's school is the organization acted for, or one of its district
        if not any(e.person_id == person_id for e in self._of(ev.TermsAccepted, t)):  # type: ignore[attr-defined]
            return False  # R2
        if not self._kept(exam_year, t):  # R16
            return False
        if role != "teacher":  # R12: administrators see every report of their organization
            return True
        assert school_id is not None
        if report not in ("instructional_planning", "subject_score_roster"):  # R4
            return False
        subjects = self._subjects_held(person_id, school_id, exam_year, t)
        if subject is not None:
            subjects &= {subject}
        if not subjects:
            return False
        if report == "instructional_planning":  # aggregate: R6 does not apply
            return subject is not None
        if section_id is None or self._restricted(school_id, person_id, t):
            return False
        return any(self._section_held(person_id, school_id, exam_year, s, section_id, t) for s in subjects)
