"""Access-code commands: issue and revoke (R8), redeem (R9, R10), the lockout and its audit record (R10)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import commands as cmd
from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.decide.checks import iso, registered_person, registered_school
from ledger.decide.core import Builder, Context, Handler, Prepared, registrar
from ledger.errors import InvalidInput, LockedOut, RuleViolation, StalePreparation, WrongCode
from ledger.rules.accounts import person_is_affiliated_with
from ledger.rules.codes import (
    code_has_a_free_staff_place,
    code_life,
    codes_valid_at,
    latest_code,
    lockout_until,
    redemption_is_held,
)
from ledger.rules.designations import principal_designated_for_year, principal_of
from ledger.streams import SchoolView, evolve

HANDLERS: dict[type[cmd.Command], Handler] = {}
handles = registrar(HANDLERS)


@handles(cmd.IssueAccessCode)
def _issue_access_code(c: cmd.IssueAccessCode, ctx: Context, b: Builder, t: datetime, p: Prepared) -> dict[str, Any]:
    world = ctx.world()
    school = registered_school(world, c.school_id, t)
    principal = principal_designated_for_year(school, c.exam_year, t)
    if principal is None:
        raise RuleViolation(
            f"no principal is designated for {c.school_id} and exam year {c.exam_year}: the code is issued to them",
            code="no_principal_designated",
            rule="R8",
        )
    if p.code is None or p.code_digest is None:  # pragma: no cover - the service always prepares it
        raise InvalidInput("the code must be prepared before the append", field="code")
    stream = ev.school_stream(c.school_id)
    for life in codes_valid_at(school, c.exam_year, ctx.calendar, t):
        b.add(
            ev.AccessCodeRevoked,
            stream,
            school_id=c.school_id,
            exam_year=c.exam_year,
            reason="reissued",
            code_event_id=life.issued.event_id,
        )
    issued = b.add(
        ev.AccessCodeIssued,
        stream,
        school_id=c.school_id,
        exam_year=c.exam_year,
        principal_id=principal.person_id,
        code_digest=p.code_digest,
    )
    return {
        "code": p.code,
        "school_id": c.school_id,
        "exam_year": c.exam_year,
        "principal_id": principal.person_id,
        "code_event_id": issued.event_id,
        "valid_from": iso(t),
        "valid_to": iso(ctx.calendar.code_expiry(c.exam_year)),
    }


@handles(cmd.RevokeAccessCode)
def _revoke_access_code(c: cmd.RevokeAccessCode, ctx: Context, b: Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    school = registered_school(world, c.school_id, t)
    valid = codes_valid_at(school, c.exam_year, ctx.calendar, t)
    if not valid:
        raise RuleViolation(
            f"{c.school_id} has no valid code for exam year {c.exam_year} at {iso(t)}",
            code="code_not_found",
            rule="R8",
        )
    for life in valid:
        b.add(
            ev.AccessCodeRevoked,
            ev.school_stream(c.school_id),
            school_id=c.school_id,
            exam_year=c.exam_year,
            reason=c.reason,
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


@handles(cmd.RedeemAccessCode)
def _redeem_access_code(c: cmd.RedeemAccessCode, ctx: Context, b: Builder, t: datetime, p: Prepared) -> dict[str, Any]:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    school = registered_school(world, c.school_id, t)
    until = lockout_until(person, ctx.lockout)
    if until is not None and ctx.now < until:
        raise LockedOut(
            f"too many wrong access codes: {c.person_id} may try again at {iso(until)}",
            retry_after_seconds=max(1, int((until - ctx.now).total_seconds()) + 1),
        )
    if person_is_affiliated_with(person, c.school_id, t) is None:
        raise RuleViolation(
            f"{c.person_id} is not affiliated with {c.school_id} at {iso(t)}", code="not_affiliated", rule="R10"
        )
    refusal = redemption_refusal(school, c.exam_year, ctx.calendar, t)
    if refusal is not None:
        raise refusal
    valid = {life.issued.event_id: life for life in codes_valid_at(school, c.exam_year, ctx.calendar, t)}
    if p.matched_code_event_id is None:
        if not set(valid) <= p.checked_code_event_ids:
            raise StalePreparation("a code was issued while the one presented was being checked")
        raise WrongCode(f"wrong access code for {c.school_id} and exam year {c.exam_year}", rule="R10")
    life = valid.get(p.matched_code_event_id)
    if life is None:  # matched a code that was revoked or reissued meanwhile
        raise RuleViolation(
            f"the access code presented for {c.school_id} was revoked or reissued", code="code_revoked", rule="R10"
        )
    code = life.issued
    if any(
        r.person_id == c.person_id
        and r.code_event_id == code.event_id
        and redemption_is_held(r, school, ctx.calendar, t)
        for r in school.redemptions
    ):
        raise RuleViolation(f"{c.person_id} already holds access through this code", code="already_redeemed", rule="R8")
    principal = principal_of(school, t)
    staff = c.person_id != code.principal_id and (principal is None or principal.person_id != c.person_id)
    redeemed = b.add(
        ev.AccessCodeRedeemed,
        ev.school_stream(c.school_id),
        school_id=c.school_id,
        exam_year=c.exam_year,
        person_id=c.person_id,
        staff=staff,
        code_event_id=code.event_id,
    )
    if staff:
        after = SchoolView(evolve(school.stream, redeemed), school.school_id)
        ok, when = code_has_a_free_staff_place(after, code.event_id, ctx.calendar)
        if not ok:
            moment = f" at {iso(when)}" if when else ""
            raise RuleViolation(
                f"five staff already hold access through the code of {c.school_id} for {c.exam_year}{moment}; "
                "a principal's removal frees a place",
                code="five_staff_limit",
                rule="R9",
            )
    return {"staff": staff, "code_event_id": code.event_id, "valid_to": iso(life.end)}


def failed_redemption(c: cmd.RedeemAccessCode, ctx: Context, reason: str) -> ev.AccessCodeRedemptionFailed:
    """R10: the audit record of a wrong code (never the code), appended to the person's stream."""
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
