"""Administrators: by system access (R7) and district users (R11)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.rules.enders import first_ender
from ledger.streams import DistrictView, PersonView


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


def district_access_window(addition: ev.DistrictAccessAdded, calendar: LedgerCalendar) -> tuple[datetime, datetime]:
    """R11: from the later of the addition's effective time and Aug 1 of A, until Aug 1 of A+1."""
    opens, closes = calendar.access_window(addition.access_year)
    return max(addition.effective_at, opens), closes


def district_access_end(
    addition: ev.DistrictAccessAdded, district: DistrictView, calendar: LedgerCalendar
) -> tuple[datetime, ev.LedgerEvent | None]:
    """R11/R14: when a district addition stops counting, and the fact that stops it (None = window end)."""
    key = ("district_access_end", addition.event_id, calendar.zone_name)
    found = district.memo.get(key)
    if isinstance(found, tuple):
        return found
    _, end = district_access_window(addition, calendar)
    enders: list[ev.LedgerEvent] = [*district.access_removals_of(addition.person_id)]
    enders.extend(district.removals_of(addition.person_id))
    first = first_ender(addition.effective_at, enders)
    result: tuple[datetime, ev.LedgerEvent | None] = (
        (first.effective_at, first) if first is not None and first.effective_at < end else (end, None)
    )
    district.memo[key] = result
    return result


def district_access_is_held(
    addition: ev.DistrictAccessAdded, district: DistrictView, calendar: LedgerCalendar, t: datetime
) -> bool:
    """R11: a superintendent's addition makes a district admin within its access window."""
    start, _ = district_access_window(addition, calendar)
    end, _ = district_access_end(addition, district, calendar)
    return start <= t < end


def held_district_additions(
    district: DistrictView, person_id: str, calendar: LedgerCalendar, t: datetime
) -> list[ev.DistrictAccessAdded]:
    """R11: the person's additions to the district that count at t."""
    return [a for a in district.additions_of(person_id) if district_access_is_held(a, district, calendar, t)]


def pending_district_additions(
    district: DistrictView, person_id: str, calendar: LedgerCalendar, t: datetime
) -> list[ev.DistrictAccessAdded]:
    """R11: additions effective at t that are not yet ended (current or future windows)."""
    out = []
    for a in district.additions_of(person_id):
        if a.effective_at > t:
            continue
        end, _ = district_access_end(a, district, calendar)
        if end > t:
            out.append(a)
    return out
