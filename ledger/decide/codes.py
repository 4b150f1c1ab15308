"""Access-code commands: issue and revoke (R8), redeem (R9, R10), the lockout and its audit record (R10)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import commands as cmd
from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.decide.checks import iso, registered_person, registered_school
from ledger.decide.core import Builder, Context, Handler, Prepared, registrar
from ledger.errors import InvalidInput, LedgerError, LockedOut, RuleViolation, StalePreparation, WrongCode
from ledger.rules.accounts import person_is_affiliated_with
from ledger.rules.codes import (
    LockoutPolicy,
    code_in_force,
    code_life,
    exam_years_with_codes,
    five_staff_at_most,
    last_code_issued,
    lockout_until,
    next_attempt_at,
    redeemer_is_staff,
    redemption_is_held,
)
from ledger.rules.designations import principal_designated_for_year
from ledger.streams import PersonView, SchoolView, evolve
from ledger.world import World

HANDLERS: dict[type[cmd.Command], Handler] = {}
handles = registrar(HANDLERS)


@handles(cmd.IssueAccessCode)
def _issue_access_code(
    command: cmd.IssueAccessCode, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> dict[str, Any]:
    world = ctx.world()
    school = registered_school(world, command.school_id, at)
    principal = principal_designated_for_year(school, command.exam_year, at)
    if principal is None:
        raise RuleViolation(
            f"no principal is designated for {command.school_id} and exam year {command.exam_year}: the code is issued to them",
            code="no_principal_designated",
            rule="R8",
        )
    if prepared.code is None or prepared.code_digest is None:  # pragma: no cover - the service always prepares it
        raise InvalidInput("the code must be prepared before the append", field="code")
    # No revocation is recorded for the code this one replaces: in valid time, the latest
    # issuance effective at or before an instant is the code in force then (R8), so a
    # reissue supersedes the code before it, and a backdated issuance recorded late ends
    # where the next one begins.
    issued = builder.add(
        ev.AccessCodeIssued,
        ev.school_stream(command.school_id),
        school_id=command.school_id,
        exam_year=command.exam_year,
        principal_id=principal.person_id,
        code_digest=prepared.code_digest,
    )
    assert isinstance(issued, ev.AccessCodeIssued)
    life = code_life(SchoolView(evolve(school.stream, issued), school.school_id), issued, ctx.calendar)
    return {
        "code": prepared.code,
        "school_id": command.school_id,
        "exam_year": command.exam_year,
        "principal_id": principal.person_id,
        "code_event_id": issued.event_id,
        "valid_from": iso(at),
        "valid_to": iso(max(at, life.end)),
    }


@handles(cmd.RevokeAccessCode)
def _revoke_access_code(
    command: cmd.RevokeAccessCode, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    school = registered_school(world, command.school_id, at)
    life = code_in_force(school, command.exam_year, ctx.calendar, at)
    if life is None:
        raise RuleViolation(
            f"{command.school_id} has no valid code for exam year {command.exam_year} at {iso(at)}",
            code="code_not_found",
            rule="R8",
        )
    # The code named is the one in force as recorded so far; in valid time the revocation
    # ends whichever code is in force at its effective time, as later facts may tell (R8).
    builder.add(
        ev.AccessCodeRevoked,
        ev.school_stream(command.school_id),
        school_id=command.school_id,
        exam_year=command.exam_year,
        reason=command.reason,
        code_event_id=life.issued.event_id,
    )


def redemption_refusal(
    school: SchoolView, exam_year: int, calendar: LedgerCalendar, t: datetime
) -> RuleViolation | None:
    """R10: why no code of this school and exam year can be redeemed at t, if none is in force."""
    if code_in_force(school, exam_year, calendar, t) is not None:
        return None
    last = last_code_issued(school, exam_year, calendar, t)
    if last is None:
        return RuleViolation(
            f"no access code was issued for {school.school_id} and exam year {exam_year}",
            code="code_not_found",
            rule="R10",
        )
    if last.revoked_by is not None:
        return code_revoked(school.school_id, exam_year, f"revoked ({last.revoked_by.reason})")
    return RuleViolation(
        f"the access code of {school.school_id} for {exam_year} expired at {iso(last.end)} (end of Jul 31, {exam_year + 1})",
        code="code_expired",
        rule="R10",
    )


def code_revoked(school_id: str, exam_year: int, how: str) -> RuleViolation:
    """R10: the code presented was revoked or reissued."""
    return RuleViolation(f"the access code of {school_id} for {exam_year} was {how}", code="code_revoked", rule="R10")


def must_not_be_locked_out(person: PersonView, policy: LockoutPolicy, now: datetime) -> None:
    """R10: a person locked out by wrong codes may not redeem until the lockout ends (by the clock, not valid time)."""
    until = lockout_until(person, policy)
    if until is not None and now < until:
        raise LockedOut(
            f"too many wrong access codes: {person.person_id} may try again at {iso(until)}",
            retry_after_seconds=max(1, int((until - now).total_seconds()) + 1),
        )


def must_leave_staff_places(school: SchoolView, calendar: LedgerCalendar, change: str) -> None:
    """R9: after `change` (already folded into `school`), at most five staff hold the school's code of each exam
    year at every valid time (one code is in force at a time, so this counts across reissues)."""
    for exam_year in exam_years_with_codes(school):
        ok, when = five_staff_at_most(school, exam_year, calendar)
        if not ok:
            moment = f" at {iso(when)}" if when else ""
            raise RuleViolation(
                f"{change} would let six staff hold the code of {school.school_id} for {exam_year}{moment}; "
                "five staff places per school and exam year (a principal's removal frees one)",
                code="five_staff_limit",
                rule="R9",
            )


def too_many_codes_presented(person: PersonView, policy: LockoutPolicy, now: datetime) -> LockedOut:
    """R10: the refusal of codes one request presents beyond the attempts the lockout still allows."""
    retry_at = next_attempt_at(person, policy, now)
    return LockedOut(
        f"this request presents more access codes for {person.person_id} than the R10 lockout still allows",
        retry_after_seconds=max(1, int((retry_at - now).total_seconds()) + 1),
    )


def redemption_refused_before_the_code(
    command: cmd.RedeemAccessCode,
    world: World,
    policy: LockoutPolicy,
    calendar: LedgerCalendar,
    now: datetime,
    at: datetime,
) -> SchoolView:
    """R1, R10: the refusals that need no code judged (unknown person or school, lockout, no affiliation, no valid code).

    Raises the refusal; judged before any slow hashing, and again, in order, under the append lock.
    """
    person = registered_person(world, command.person_id, at)
    school = registered_school(world, command.school_id, at)
    must_not_be_locked_out(person, policy, now)
    if person_is_affiliated_with(person, command.school_id, at) is None:
        raise RuleViolation(
            f"{command.person_id} is not affiliated with {command.school_id} at {iso(at)}",
            code="not_affiliated",
            rule="R10",
        )
    refusal = redemption_refusal(school, command.exam_year, calendar, at)
    if refusal is not None:
        raise refusal
    return school


def after_a_right_code(error: LedgerError) -> LedgerError:
    """R10: a refusal given once the code was found right; the service records the attempt all the same."""
    error.code_judged = True
    return error


@handles(cmd.RedeemAccessCode)
def _redeem_access_code(
    command: cmd.RedeemAccessCode, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> dict[str, Any]:
    if prepared.refusal is not None:
        raise prepared.refusal
    school = redemption_refused_before_the_code(command, ctx.world(), ctx.lockout, ctx.calendar, ctx.now, at)
    in_force = code_in_force(school, command.exam_year, ctx.calendar, at)
    valid = {in_force.issued.event_id: in_force} if in_force is not None else {}
    if prepared.matched_code_event_id is None:
        if not set(valid) <= prepared.checked_code_event_ids:
            raise StalePreparation("a code was issued while the one presented was being checked")
        raise WrongCode(f"wrong access code for {command.school_id} and exam year {command.exam_year}", rule="R10")
    life = valid.get(prepared.matched_code_event_id)
    if life is None:  # matched a code revoked or reissued by then, in valid time
        raise after_a_right_code(code_revoked(command.school_id, command.exam_year, "revoked or reissued by then"))
    code = life.issued
    if any(
        r.person_id == command.person_id
        and r.code_event_id == code.event_id
        and redemption_is_held(r, school, ctx.calendar, at)
        for r in school.redemptions
    ):
        raise after_a_right_code(
            RuleViolation(
                f"{command.person_id} already holds access through this code", code="already_redeemed", rule="R8"
            )
        )
    staff = redeemer_is_staff(school, command.person_id, command.exam_year, at)
    redeemed = builder.add(
        ev.AccessCodeRedeemed,
        ev.school_stream(command.school_id),
        school_id=command.school_id,
        exam_year=command.exam_year,
        person_id=command.person_id,
        staff=staff,
        code_event_id=code.event_id,
    )
    if staff:
        after = SchoolView(evolve(school.stream, redeemed), school.school_id)
        try:
            must_leave_staff_places(after, ctx.calendar, "this redemption")
        except RuleViolation as error:
            raise after_a_right_code(error) from None
    return {"staff": staff, "code_event_id": code.event_id, "valid_to": iso(life.end)}


def failed_redemption(c: cmd.RedeemAccessCode, ctx: Context, reason: str) -> ev.AccessCodeRedemptionFailed:
    """R10: the audit record of a code judged in vain (never the code), appended to the person's stream."""
    b = Builder(ctx, c, ctx.now)
    event = b.add(
        ev.AccessCodeRedemptionFailed,
        ev.person_stream(c.person_id),
        school_id=c.school_id,
        exam_year=c.exam_year,
        person_id=c.person_id,
        reason=reason,
    )
    assert isinstance(event, ev.AccessCodeRedemptionFailed)
    return event
