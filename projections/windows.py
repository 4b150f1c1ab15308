"""The annual-window state of a school (codes, staff places, teachers' renewals) or a district (its users)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.rules.admins import district_access_end, district_access_window
from ledger.rules.codes import STAFF_PLACES, code_is_valid, code_life, code_principal, staff_intervals
from ledger.rules.designations import principal_of, superintendent_of
from ledger.rules.teachers import active_restriction, authorization_is_held, school_gives_teacher_access
from ledger.streams import DistrictView
from ledger.world import World


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def school_windows(
    world: World,
    calendar: LedgerCalendar,
    school_id: str,
    persons: list[str],
    current: ev.ScoresReleased | None,
    t: datetime,
) -> dict[str, Any]:
    school = world.school(school_id)
    codes = []
    # By valid time, then exam year: at one instant, codes of one year keep their recording order (R8 ties).
    for code in sorted(school.codes, key=lambda c: (c.effective_at, c.exam_year)):
        life = code_life(school, code, calendar)
        staff = staff_intervals(school, code.exam_year, calendar, code.event_id)
        holders = sorted({p for p, start, end in staff if start <= t < end})
        ended = life.ended_by
        codes.append(
            {
                "exam_year": code.exam_year,
                "code_event_id": code.event_id,
                "principal_id": code_principal(school, code),
                "valid_from": _iso(code.effective_at),
                "valid_to": _iso(life.end),
                "expires_at": _iso(calendar.code_expiry(code.exam_year)),
                "revoked": ended is not None and ended.effective_at <= t,  # revoked or reissued (R8)
                "revoked_reason": life.revoked_by.reason if life.revoked_by else ("reissued" if ended else None),
                "valid_at": code_is_valid(life, t),
                "staff_places_used": len(holders),
                "staff_places_free": max(0, STAFF_PLACES - len(holders)) if code_is_valid(life, t) else 0,
                "staff": holders,
            }
        )
    teachers = []
    current_year = current.exam_year if current else None
    for pid in persons:
        person = world.person(pid)
        removals = school.removals_of(pid)
        by_year: dict[int, list[str]] = {}
        for a in person.authorizations:
            if a.school_id == school_id and authorization_is_held(a, person, removals, t):
                by_year.setdefault(a.school_year, []).append(a.subject)
        if not by_year:
            continue
        holds_current = current_year is not None and current_year in by_year
        teachers.append(
            {
                "person_id": pid,
                "authorizations": [{"school_year": y, "subjects": sorted(s)} for y, s in sorted(by_year.items())],
                "current_school_year": current_year,
                "holds_current_year": holds_current,
                "renewal_due": current_year is not None and not holds_current,
                "next_school_year_authorized": current_year is not None and current_year + 1 in by_year,
                "teacher_access": holds_current and school_gives_teacher_access(school),
            }
        )
    principal = principal_of(school, t)
    restriction_all = active_restriction(school, None, t)
    return {
        "homeschool": school.homeschool,
        "district_id": school.district_id,
        "principal_id": principal.person_id if principal else None,
        "codes": codes,
        "teachers": teachers,
        "student_data_restricted_for_all": restriction_all is not None,
    }


def district_windows(world: World, calendar: LedgerCalendar, district: DistrictView, t: datetime) -> dict[str, Any]:
    users = []
    for a in district.additions:
        start, window_end = district_access_window(a, calendar)
        end, ended_by = district_access_end(a, district, calendar)
        users.append(
            {
                "person_id": a.person_id,
                "access_year": a.access_year,
                "window_from": _iso(calendar.access_window(a.access_year)[0]),
                "window_to": _iso(window_end),
                "valid_from": _iso(start),
                "valid_to": _iso(max(start, end)),
                "active": start <= t < end,
                "ended_by": ended_by.event_id if ended_by else None,
                "source": a.event_id,
            }
        )
    superintendent = superintendent_of(district, t)
    return {
        "superintendent_id": superintendent.person_id if superintendent else None,
        "current_access_year": t.astimezone(calendar.zone).year - (1 if calendar.local_date(t).month < 8 else 0),
        "users": users,
    }
