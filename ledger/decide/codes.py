"""Access-code commands: issue and revoke (R8), redeem (R9, R10), the lockout and its audit record (R10)."""

from __future__ import annotations

from collections.abc import Iterable
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
    code_has_a_free_staff_place,
    code_life,
    codes_valid_at,
    latest_code,
    lockout_until,
    redemption_is_held,
)
from ledger.rules.designations import principal_designated_for_year, principal_of
from ledger.streams import PersonView, SchoolView, World, evolve

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
    stream = ev.school_stream(command.school_id)
    for life in codes_valid_at(school, command.exam_year, ctx.calendar, at):
        builder.add(
            ev.AccessCodeRevoked,
            stream,
            school_id=command.school_id,
            exam_year=command.exam_year,
            reason="reissued",
            code_event_id=life.issued.event_id,
        )
    issued = builder.add(
        ev.AccessCodeIssued,
        stream,
        school_id=command.school_id,
        exam_year=command.exam_year,
        principal_id=principal.person_id,
        code_digest=prepared.code_digest,
    )
    return {
        "code": prepared.code,
        "school_id": command.school_id,
        "exam_year": command.exam_year,
        "principal_id": principal.person_id,
        "code_event_id": issued.event_id,
        "valid_from": iso(at),
        "valid_to": iso(ctx.calendar.code_expiry(command.exam_year)),
    }


@handles(cmd.RevokeAccessCode)
def _revoke_access_code(
    command: cmd.RevokeAccessCode, ctx: Context, builder: Builder, at: datetime, prepared: Prepared
) -> None:
    world = ctx.world()
    school = registered_school(world, command.school_id, at)
    valid = codes_valid_at(school, command.exam_year, ctx.calendar, at)
    if not valid:
        raise RuleViolation(
            f"{command.school_id} has no valid code for exam year {command.exam_year} at {iso(at)}",
            code="code_not_found",
            rule="R8",
        )
    for life in valid:
        builder.add(
            ev.AccessCodeRevoked,
            ev.school_stream(command.school_id),
            school_id=command.school_id,
            exam_year=command.exam_year,
            reason=command.reason,
            code_event_id=life.issued.event_id,
        )


def redemption_refusal(school: SchoolView, exam_year: int, cal: LedgerCalendar, t: datetime) -> RuleViolation | None:
    """R10: why no code of this school and exam year can be redeemed at t, if none is valid."""
    if codes_valid_at(school, exam_year, cal, t):
        return None
    latest = latest_code(school, exam_year)
    if latest is None or latest.effective_at > t:
        return RuleViolation(
            f"no access code was issued for {school.school_id} and exam year {exam_year}",
            code="code_not_found",
            rule="R10",
        )
    life = code_life(school, latest, cal)
    if life.revoked_by is not None and life.revoked_by.effective_at <= t:
        return RuleViolation(
            f"the access code of {school.school_id} for {exam_year} was revoked ({life.revoked_by.reason})",
            code="code_revoked",
            rule="R10",
        )
    return RuleViolation(
        f"the access code of {school.school_id} for {exam_year} expired at {iso(life.end)} (end of Jul 31, {exam_year + 1})",
        code="code_expired",
        rule="R10",
    )


def must_not_be_locked_out(person: PersonView, policy: LockoutPolicy, now: datetime) -> None:
    """R10: a person locked out by wrong codes may not redeem until the lockout ends (by the clock, not valid time)."""
    until = lockout_until(person, policy)
    if until is not None and now < until:
        raise LockedOut(
            f"too many wrong access codes: {person.person_id} may try again at {iso(until)}",
            retry_after_seconds=max(1, int((until - now).total_seconds()) + 1),
        )


def must_leave_staff_places(
    school: SchoolView, codes: Iterable[ev.AccessCodeIssued], cal: LedgerCalendar, change: str
) -> None:
    """R9: after `change` (already folded into `school`), at most five staff hold each code at every valid time."""
    for code in codes:
        ok, when = code_has_a_free_staff_place(school, code.event_id, cal)
        if not ok:
            moment = f" at {iso(when)}" if when else ""
            raise RuleViolation(
                f"{change} would let six staff hold the code of {school.school_id} for {code.exam_year}{moment}; "
                "five staff places per code (a principal's removal frees one)",
                code="five_staff_limit",
                rule="R9",
            )


def attempts_left(person: PersonView, policy: LockoutPolicy, now: datetime) -> int:
    """R10: at most how many codes the person may still present before the lockout (the codes one request may judge)."""
    recent = sum(1 for f in person.failed_redemptions if now - f.recorded_at < policy.window)
    return max(0, policy.failures - recent)


def redemption_refused_before_the_code(
    command: cmd.RedeemAccessCode,
    world: World,
    policy: LockoutPolicy,
    cal: LedgerCalendar,
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
    refusal = redemption_refusal(school, command.exam_year, cal, at)
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
    valid = {life.issued.event_id: life for life in codes_valid_at(school, command.exam_year, ctx.calendar, at)}
    if prepared.matched_code_event_id is None:
        if not set(valid) <= prepared.checked_code_event_ids:
            raise StalePreparation("a code was issued while the one presented was being checked")
        raise WrongCode(f"wrong access code for {command.school_id} and exam year {command.exam_year}", rule="R10")
    life = valid.get(prepared.matched_code_event_id)
    if life is None:  # matched a code that was revoked or reissued meanwhile
        raise after_a_right_code(
            RuleViolation(
                f"the access code presented for {command.school_id} was revoked or reissued",
                code="code_revoked",
                rule="R10",
            )
        )
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
    principal = principal_of(school, at)
    staff = command.person_id != code.principal_id and (principal is None or principal.person_id != command.person_id)
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
            must_leave_staff_places(after, [code], ctx.calendar, "this redemption")
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
