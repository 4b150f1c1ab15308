"""The rules of access (SPEC §5) as small pure functions over aggregate views.

Each function is named as the sentence it decides and cites its rule id. Valid
time `t` is a UTC instant; every fact holds from its `effective_at`. A fact that
ends another (a withdrawal, a removal, a revocation) ends only facts effective at
or before it: "grants effective after the removal count again" (R14). Intervals
are half-open `[from, to)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.streams import CalendarView, DistrictView, PersonView, SchoolView

STAFF_PLACES = 5  # R9
SYSTEMS = ("registration_ordering", "course_audit")  # R7


def first_ender(start: datetime, enders: Iterable[ev.LedgerEvent], t: datetime | None = None) -> ev.LedgerEvent | None:
    """The earliest ending fact effective in [start, t] (or at/after start when t is None)."""
    found: ev.LedgerEvent | None = None
    for e in enders:
        if e.effective_at < start:
            continue
        if t is not None and e.effective_at > t:
            continue
        if found is None or e.effective_at < found.effective_at:
            found = e
    return found


# --- R1 account, R2 terms ----------------------------------------------------------


def person_is_registered(person: PersonView, t: datetime) -> ev.PersonRegistered | None:
    """R1: only a registered person can hold access; registration holds from its effective time."""
    for reg in person.registrations:
        if reg.effective_at <= t:
            return reg
    return None


def person_has_accepted_terms(person: PersonView, t: datetime) -> ev.TermsAccepted | None:
    """R2: the latest acceptance of the terms of use effective at or before t."""
    found = None
    for acc in person.terms:
        if acc.effective_at <= t:
            found = acc
    return found


# --- affiliations and who acts --------------------------------------------------------


def person_is_affiliated_with(person: PersonView, org_id: str, t: datetime) -> ev.AffiliationAdded | None:
    """R10/R13: the affiliation with `org_id` in force at t, if any."""
    current: ev.AffiliationAdded | None = None
    for e in person.affiliation_events:
        if e.org_id != org_id or e.effective_at > t:
            continue
        current = e if isinstance(e, ev.AffiliationAdded) else None
    return current


def principal_of(school: SchoolView, t: datetime) -> ev.PrincipalDesignated | None:
    """Who acts: the designation for the school with the latest effective time at or before t."""
    found = None
    for d in school.principals:
        if d.effective_at <= t:
            found = d
    return found


def principal_designated_for_year(school: SchoolView, exam_year: int, t: datetime) -> ev.PrincipalDesignated | None:
    """Who acts: the latest designation for this exam year effective at or before t (codes are issued to them)."""
    found = None
    for d in school.principals:
        if d.exam_year == exam_year and d.effective_at <= t:
            found = d
    return found


def superintendent_of(district: DistrictView, t: datetime) -> ev.SuperintendentDesignated | None:
    """Who acts: the district's latest superintendent designation effective at or before t."""
    found = None
    for d in district.superintendents:
        if d.effective_at <= t:
            found = d
    return found


def person_is_principal_of(school: SchoolView, person_id: str, t: datetime) -> bool:
    """Whether `person_id` is the school's principal at t."""
    d = principal_of(school, t)
    return d is not None and d.person_id == person_id


def person_is_superintendent_of(district: DistrictView, person_id: str, t: datetime) -> bool:
    """Whether `person_id` is the district's superintendent at t."""
    d = superintendent_of(district, t)
    return d is not None and d.person_id == person_id


# --- releases and kept years (SPEC §2, R3, R16) ------------------------------------------


def _memo(calendar: CalendarView, name: str) -> dict[tuple[object, ...], Any]:
    """A small per-calendar-state memo: sweeps ask the same instants many times."""
    memos: dict[str, dict[tuple[object, ...], Any]] = calendar.__dict__.setdefault("_memos", {})
    memo = memos.setdefault(name, {})
    if len(memo) > 4096:  # "now" is a new instant on every query: keep the memo small
        memo.clear()
    return memo


def current_released_year(calendar: CalendarView, cal: LedgerCalendar, t: datetime) -> ev.ScoresReleased | None:
    """Y*(t): the release of the largest exam year released at or before t (none before the first)."""
    memo = _memo(calendar, "current")
    key = (cal.zone_name, t)
    if key in memo:
        found_before: ev.ScoresReleased | None = memo[key]
        return found_before
    found: ev.ScoresReleased | None = None
    for r in calendar.releases:
        if cal.release_start(r.released_on) <= t and (found is None or r.exam_year > found.exam_year):
            found = r
    memo[key] = found
    return found


def release_of_year(calendar: CalendarView, exam_year: int) -> ev.ScoresReleased | None:
    """The release of one exam year, if recorded."""
    for r in calendar.releases:
        if r.exam_year == exam_year:
            return r
    return None


def exam_year_is_kept(calendar: CalendarView, cal: LedgerCalendar, exam_year: int, t: datetime) -> bool:
    """R16: reports exist only for exam years Y*(t)-k+1 … Y*(t) that were released by t."""
    current = current_released_year(calendar, cal, t)
    if current is None:
        return False
    if not current.exam_year - cal.kept_years < exam_year <= current.exam_year:
        return False
    release = release_of_year(calendar, exam_year)
    return release is not None and cal.release_start(release.released_on) <= t


def kept_years(calendar: CalendarView, cal: LedgerCalendar, t: datetime) -> list[int]:
    """R16: the kept exam years at t, newest first."""
    memo = _memo(calendar, "kept")
    key = (cal.zone_name, cal.kept_years, t)
    found: list[int] | None = memo.get(key)
    if found is None:
        found = memo[key] = sorted(
            (r.exam_year for r in calendar.releases if exam_year_is_kept(calendar, cal, r.exam_year, t)),
            reverse=True,
        )
    return list(found)


# --- removals (R14) ----------------------------------------------------------------------


def removal_ending(
    grant_start: datetime, removals: Sequence[ev.AccessRemoved], t: datetime | None = None
) -> ev.AccessRemoved | None:
    """R14: the removal that ends a grant effective at `grant_start` (by t, if given)."""
    found = first_ender(grant_start, removals, t)
    assert found is None or isinstance(found, ev.AccessRemoved)
    return found


# --- teachers (R3, R4, R5, R6) ---------------------------------------------------------------


def authorization_end(
    auth: ev.CourseAuthorized,
    person: PersonView,
    removals: Sequence[ev.AccessRemoved],
) -> ev.LedgerEvent | None:
    """The withdrawal (or R14 removal) that ends an authorization, if any."""
    withdrawals = person.withdrawals_of(auth.school_id, auth.subject, auth.school_year)
    return first_ender(auth.effective_at, [*withdrawals, *removals])


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


# --- administrators by system access (R7) ---------------------------------------------------


def system_access_end(
    grant: ev.SystemAccessGranted,
    person: PersonView,
    removals: Sequence[ev.AccessRemoved],
) -> ev.LedgerEvent | None:
    """R7/R14: the removal of the system access (or of the person) that ends a grant."""
    system_removals = person.system_removals_of(grant.org_id, grant.system)
    return first_ender(grant.effective_at, [*system_removals, *removals])


def system_access_is_held(
    grant: ev.SystemAccessGranted,
    person: PersonView,
    removals: Sequence[ev.AccessRemoved],
    t: datetime,
) -> bool:
    """R7: registration-and-ordering or course-audit access makes an administrator while it lasts."""
    if grant.effective_at > t:
        return False
    end = system_access_end(grant, person, removals)
    return end is None or end.effective_at > t


def held_system_grants(
    person: PersonView,
    org_id: str,
    removals: Sequence[ev.AccessRemoved],
    t: datetime,
    system: str | None = None,
) -> list[ev.SystemAccessGranted]:
    """R7: system access grants at the organization held at t."""
    return [
        g
        for g in person.system_grants_at(org_id)
        if (system is None or g.system == system) and system_access_is_held(g, person, removals, t)
    ]


# --- access codes (R8, R9, R10) ---------------------------------------------------------------


@dataclass(frozen=True)
class CodeLife:
    """When one issued code is valid: [issued, end), and why it ends."""

    issued: ev.AccessCodeIssued
    end: datetime
    revoked_by: ev.AccessCodeRevoked | None


def code_life(school: SchoolView, code: ev.AccessCodeIssued, cal: LedgerCalendar) -> CodeLife:
    """R8: a code is valid from issuance until the end of Jul 31 of Y+1, or until revoked or reissued."""
    key = ("code_life", code.event_id, cal.zone_name)
    found = school.memo.get(key)
    if isinstance(found, CodeLife):
        return found
    expiry = cal.code_expiry(code.exam_year)
    revocation = first_ender(code.effective_at, school.revocations_of(code.event_id))
    if revocation is not None and revocation.effective_at < expiry:
        assert isinstance(revocation, ev.AccessCodeRevoked)
        life = CodeLife(code, revocation.effective_at, revocation)
    else:
        life = CodeLife(code, expiry, None)
    school.memo[key] = life
    return life


def code_is_valid(life: CodeLife, t: datetime) -> bool:
    """R8/R10: the code is unexpired and unrevoked at t."""
    return life.issued.effective_at <= t < life.end


def codes_valid_at(school: SchoolView, exam_year: int, cal: LedgerCalendar, t: datetime) -> list[CodeLife]:
    """R10: the school's codes of one exam year valid at t (one, unless a revocation was voided)."""
    lives = [code_life(school, c, cal) for c in school.codes if c.exam_year == exam_year]
    return [life for life in lives if code_is_valid(life, t)]


def latest_code(school: SchoolView, exam_year: int) -> ev.AccessCodeIssued | None:
    """The most recently effective code of an exam year (the one a reissue replaces)."""
    found = None
    for c in school.codes:
        if c.exam_year == exam_year:
            found = c
    return found


def redemption_end(
    redemption: ev.AccessCodeRedeemed, school: SchoolView, cal: LedgerCalendar
) -> tuple[datetime, ev.LedgerEvent | None]:
    """R8/R14: when access through a redemption ends, and the fact that ends it (None = expiry)."""
    key = ("redemption_end", redemption.event_id, cal.zone_name)
    found = school.memo.get(key)
    if found is not None:
        return found  # type: ignore[return-value]
    code = school.code(redemption.code_event_id)
    if code is None:  # the issuance was voided: the redemption gives nothing
        result: tuple[datetime, ev.LedgerEvent | None] = (redemption.effective_at, None)
    else:
        life = code_life(school, code, cal)
        end: datetime = life.end
        why: ev.LedgerEvent | None = life.revoked_by
        removal = removal_ending(redemption.effective_at, school.removals_of(redemption.person_id))
        if removal is not None and removal.effective_at < end:
            end, why = removal.effective_at, removal
        result = (end, why)
    school.memo[key] = result
    return result


def redemption_is_held(redemption: ev.AccessCodeRedeemed, school: SchoolView, cal: LedgerCalendar, t: datetime) -> bool:
    """R8: redeeming the valid code makes a school admin until expiry, revocation, reissue or removal."""
    if redemption.effective_at > t:
        return False
    end, _ = redemption_end(redemption, school, cal)
    return t < end


def staff_intervals(
    school: SchoolView, code_event_id: str, cal: LedgerCalendar
) -> list[tuple[str, datetime, datetime]]:
    """R9: (person, from, to) for every staff redemption of one code."""
    out = []
    for r in school.redemptions:
        if r.code_event_id != code_event_id or not r.staff:
            continue
        end, _ = redemption_end(r, school, cal)
        if end > r.effective_at:
            out.append((r.person_id, r.effective_at, end))
    return out


def most_staff_at_once(
    intervals: Sequence[tuple[str, datetime, datetime]],
) -> tuple[int, datetime | None]:
    """R9: the largest number of distinct staff holding one code at the same instant, and the first such instant."""
    instants = sorted({start for _, start, _ in intervals})
    best, when = 0, None
    for t in instants:
        holders = {p for p, start, end in intervals if start <= t < end}
        if len(holders) > best:
            best, when = len(holders), t
    return best, when


def code_has_a_free_staff_place(
    school: SchoolView, code_event_id: str, cal: LedgerCalendar
) -> tuple[bool, datetime | None]:
    """R9: at most five staff hold access through one school's code at any moment."""
    count, when = most_staff_at_once(staff_intervals(school, code_event_id, cal))
    return count <= STAFF_PLACES, when


# --- district administrators (R11) -----------------------------------------------------------


def district_access_window(addition: ev.DistrictAccessAdded, cal: LedgerCalendar) -> tuple[datetime, datetime]:
    """R11: from the later of the addition's effective time and Aug 1 of A, until Aug 1 of A+1."""
    opens, closes = cal.access_window(addition.access_year)
    return max(addition.effective_at, opens), closes


def district_access_end(
    addition: ev.DistrictAccessAdded, district: DistrictView, cal: LedgerCalendar
) -> tuple[datetime, ev.LedgerEvent | None]:
    """R11/R14: when a district addition stops counting, and the fact that stops it (None = window end)."""
    _, end = district_access_window(addition, cal)
    enders: list[ev.LedgerEvent] = [*district.access_removals_of(addition.person_id)]
    enders.extend(district.removals_of(addition.person_id))
    first = first_ender(addition.effective_at, enders)
    if first is not None and first.effective_at < end:
        return first.effective_at, first
    return end, None


def district_access_is_held(
    addition: ev.DistrictAccessAdded, district: DistrictView, cal: LedgerCalendar, t: datetime
) -> bool:
    """R11: a superintendent's addition makes a district admin within its access window."""
    start, _ = district_access_window(addition, cal)
    end, _ = district_access_end(addition, district, cal)
    return start <= t < end


def held_district_additions(
    district: DistrictView, person_id: str, cal: LedgerCalendar, t: datetime
) -> list[ev.DistrictAccessAdded]:
    """R11: the person's additions to the district that count at t."""
    return [a for a in district.additions_of(person_id) if district_access_is_held(a, district, cal, t)]


def pending_district_additions(
    district: DistrictView, person_id: str, cal: LedgerCalendar, t: datetime
) -> list[ev.DistrictAccessAdded]:
    """R11: additions effective at t that are not yet ended (current or future windows)."""
    out = []
    for a in district.additions_of(person_id):
        if a.effective_at > t:
            continue
        end, _ = district_access_end(a, district, cal)
        if end > t:
            out.append(a)
    return out


# --- R10 lockout ---------------------------------------------------------------------------


def recent_failed_redemptions(
    person: PersonView, t: datetime, window_seconds: int
) -> list[ev.AccessCodeRedemptionFailed]:
    """R10: failed redemptions recorded within the lockout window before t."""
    return [f for f in person.failed_redemptions if 0 <= (t - f.recorded_at).total_seconds() < window_seconds]
