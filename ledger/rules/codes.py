"""Access codes: lifetimes and reissue (R8), staff places (R9), redemption (R10)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.rules.enders import first_ender
from ledger.rules.removals import removal_ending
from ledger.streams import PersonView, SchoolView

STAFF_PLACES = 5  # R9


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


# --- R10 lockout ---


@dataclass(frozen=True)
class LockoutPolicy:
    """R10: this many wrong codes within `window` lock the person out of redemption for `window`."""

    failures: int = 5
    window: timedelta = timedelta(minutes=15)


def lockout_until(person: PersonView, policy: LockoutPolicy) -> datetime | None:
    """R10: when the person's redemption lockout ends, if `policy.failures` wrong codes fell within one window."""
    failures = sorted(f.recorded_at for f in person.failed_redemptions)
    if len(failures) < policy.failures:
        return None
    last = failures[-policy.failures :]
    if last[-1] - last[0] >= policy.window:
        return None
    return last[-1] + policy.window
