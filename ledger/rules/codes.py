"""Access codes: lifetimes and reissue (R8), staff places (R9), redemption (R10)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.rules.designations import principal_designated_for_year, principal_of
from ledger.rules.removals import removal_ending
from ledger.streams import PersonView, SchoolView

STAFF_PLACES = 5  # R9


@dataclass(frozen=True)
class CodeLife:
    """When one issued code is in force: [issued, end), and the fact that ends it (None = expiry).

    `ended_by` is the revocation that ended it, or the next issuance of its school and exam
    year that superseded it (a reissue).
    """

    issued: ev.AccessCodeIssued
    end: datetime
    ended_by: ev.AccessCodeRevoked | ev.AccessCodeIssued | None

    @property
    def revoked_by(self) -> ev.AccessCodeRevoked | None:
        """The revocation that ended the code, if one did."""
        return self.ended_by if isinstance(self.ended_by, ev.AccessCodeRevoked) else None

    @property
    def reissued_by(self) -> ev.AccessCodeIssued | None:
        """The issuance that superseded the code, if one did."""
        return self.ended_by if isinstance(self.ended_by, ev.AccessCodeIssued) else None


def code_lives(school: SchoolView, exam_year: int, calendar: LedgerCalendar) -> list[CodeLife]:
    """R8: the life of every code of one school and exam year, read in valid time.

    The code in force at t is the one of the latest issuance effective at or before t;
    a revocation ends the code in force at its effective time; facts effective at the
    same instant apply in the order they were recorded. So each issuance is in force
    until the next issuance or revocation of its school and year, or its expiry
    (end of Jul 31 of Y+1), whichever comes first — whatever order they were recorded in.
    """
    key = ("code_lives", exam_year, calendar.zone_name)
    found = school.memo.get(key)
    if isinstance(found, list):
        return found
    facts = school.code_facts_of_year(exam_year)
    expiry = calendar.code_expiry(exam_year)
    lives: list[CodeLife] = []
    for i, fact in enumerate(facts):
        if not isinstance(fact, ev.AccessCodeIssued):
            continue
        following = facts[i + 1] if i + 1 < len(facts) else None
        if following is not None and following.effective_at < expiry:
            lives.append(CodeLife(fact, following.effective_at, following))
        else:
            lives.append(CodeLife(fact, expiry, None))
    school.memo[key] = lives
    return lives


def code_life(school: SchoolView, code: ev.AccessCodeIssued, calendar: LedgerCalendar) -> CodeLife:
    """R8: a code is in force from its issuance until expiry, its revocation or its reissue."""
    for life in code_lives(school, code.exam_year, calendar):
        if life.issued.event_id == code.event_id:
            return life
    raise KeyError(code.event_id)  # pragma: no cover - the code is one of the school's


def code_is_valid(life: CodeLife, t: datetime) -> bool:
    """R8/R10: the code is in force at t (issued, not yet expired, revoked or reissued)."""
    return life.issued.effective_at <= t < life.end


def code_in_force(school: SchoolView, exam_year: int, calendar: LedgerCalendar, t: datetime) -> CodeLife | None:
    """R8/R10: the code of the school and exam year in force at t; at no instant are there two."""
    for life in code_lives(school, exam_year, calendar):
        if code_is_valid(life, t):
            return life
    return None


def last_code_issued(school: SchoolView, exam_year: int, calendar: LedgerCalendar, t: datetime) -> CodeLife | None:
    """R10: the latest issuance of the school and exam year effective at or before t (in force or not)."""
    found = None
    for life in code_lives(school, exam_year, calendar):
        if life.issued.effective_at <= t:
            found = life
    return found


def code_principal(school: SchoolView, code: ev.AccessCodeIssued) -> str:
    """R8: the code is issued to the principal designated for its exam year, as known now at its effective time."""
    designated = principal_designated_for_year(school, code.exam_year, code.effective_at)
    return designated.person_id if designated is not None else code.principal_id


def redeemer_is_staff(school: SchoolView, person_id: str, exam_year: int, t: datetime) -> bool:
    """R9: a redeemer is staff unless, at the redemption's effective time, they are the school's principal
    or the principal designated for the code's exam year (as known now)."""
    for designation in (principal_of(school, t), principal_designated_for_year(school, exam_year, t)):
        if designation is not None and designation.person_id == person_id:
            return False
    return True


def redemption_end(
    redemption: ev.AccessCodeRedeemed, school: SchoolView, calendar: LedgerCalendar
) -> tuple[datetime, ev.LedgerEvent | None]:
    """R8/R14: when access through a redemption ends, and the fact that ends it (None = expiry).

    A redemption counts only if the code it redeemed is in force at its effective time
    (as known now: a backdated reissue or revocation may have ended that code before it).
    """
    key = ("redemption_end", redemption.event_id, calendar.zone_name)
    found = school.memo.get(key)
    if found is not None:
        return found  # type: ignore[return-value]
    code = school.code(redemption.code_event_id)
    if code is None:  # the issuance was voided: the redemption gives nothing
        result: tuple[datetime, ev.LedgerEvent | None] = (redemption.effective_at, None)
    else:
        life = code_life(school, code, calendar)
        if not code_is_valid(life, redemption.effective_at):
            result = (redemption.effective_at, life.ended_by)
        else:
            end: datetime = life.end
            why: ev.LedgerEvent | None = life.ended_by
            removal = removal_ending(redemption.effective_at, school.removals_of(redemption.person_id))
            if removal is not None and removal.effective_at < end:
                end, why = removal.effective_at, removal
            result = (end, why)
    school.memo[key] = result
    return result


def redemption_is_held(
    redemption: ev.AccessCodeRedeemed, school: SchoolView, calendar: LedgerCalendar, t: datetime
) -> bool:
    """R8: redeeming the valid code makes a school admin until expiry, revocation, reissue or removal."""
    if redemption.effective_at > t:
        return False
    end, _ = redemption_end(redemption, school, calendar)
    return t < end


def staff_intervals(
    school: SchoolView, exam_year: int, calendar: LedgerCalendar, code_event_id: str | None = None
) -> list[tuple[str, datetime, datetime]]:
    """R9: (person, from, to) for every staff redemption of the school's codes of one exam year (or of one code)."""
    out = []
    for r in school.redemptions:
        if r.exam_year != exam_year or (code_event_id is not None and r.code_event_id != code_event_id):
            continue
        if not redeemer_is_staff(school, r.person_id, r.exam_year, r.effective_at):
            continue
        end, _ = redemption_end(r, school, calendar)
        if end > r.effective_at:
            out.append((r.person_id, r.effective_at, end))
    return out


def most_staff_at_once(
    intervals: Sequence[tuple[str, datetime, datetime]],
) -> tuple[int, datetime | None]:
    """R9: the largest number of distinct staff holding access at the same instant, and the first such instant."""
    instants = sorted({start for _, start, _ in intervals})
    best, when = 0, None
    for t in instants:
        holders = {p for p, start, end in intervals if start <= t < end}
        if len(holders) > best:
            best, when = len(holders), t
    return best, when


def five_staff_at_most(school: SchoolView, exam_year: int, calendar: LedgerCalendar) -> tuple[bool, datetime | None]:
    """R9: at most five staff hold access through the school's code of one exam year at any moment
    (one code is in force at a time, so this counts across its reissues); else the first instant with six."""
    count, when = most_staff_at_once(staff_intervals(school, exam_year, calendar))
    return count <= STAFF_PLACES, when


def exam_years_with_codes(school: SchoolView) -> list[int]:
    """The exam years the school has codes of."""
    return sorted({c.exam_year for c in school.codes})


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


def _recent_failures(person: PersonView, policy: LockoutPolicy, now: datetime) -> list[datetime]:
    return [f.recorded_at for f in person.failed_redemptions if now - f.recorded_at < policy.window]


def attempts_left(person: PersonView, policy: LockoutPolicy, now: datetime) -> int:
    """R10: at most how many codes the person may still present before the lockout (the codes one request may judge)."""
    return max(0, policy.failures - len(_recent_failures(person, policy, now)))


def next_attempt_at(person: PersonView, policy: LockoutPolicy, now: datetime) -> datetime:
    """R10: when the oldest wrong code within the window stops counting, freeing an attempt."""
    recent = _recent_failures(person, policy, now)
    return min(recent) + policy.window if recent else now + policy.window
