"""Which presented access codes one request hashes, decided before any slow hashing (R10).

An argon2id check costs tens of milliseconds of CPU by design, and a batch may hold many
redemptions. So, before hashing anything:

- a redemption refused without judging its code (unknown person or school, lockout, no
  affiliation, no valid code) is not hashed: `decide` refuses it again, in the batch's order;
- a person's codes are judged at most as many times as the lockout still allows; the
  redemptions beyond are refused as locked out, in the batch's order;
- the hashes one request needs (codes checked and codes issued) are capped: over the cap, the batch is refused before any
  code is judged (the refusal depends on the batch, never on whether a code is right);
- hashing stops at the first code that matches nothing, since the batch ends there at the latest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ledger import commands as cmd
from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.decide.codes import redemption_refused_before_the_code, too_many_codes_presented
from ledger.decide.core import Prepared, effective_time
from ledger.errors import InvalidInput, LedgerError
from ledger.rules.codes import LockoutPolicy, attempts_left
from ledger.streams import PersonView, SchoolView, Stream
from ledger.world import World


class Hasher(Protocol):
    def matches(self, code: str, digest: str) -> bool: ...


@dataclass(frozen=True)
class CodeCheck:
    """One redemption whose code is to be compared with every code issued for its school and year."""

    index: int
    command: cmd.RedeemAccessCode
    candidates: tuple[ev.AccessCodeIssued, ...]


@dataclass(frozen=True)
class CodeCheckPlan:
    refusals: dict[int, Prepared]  # redemptions refused as locked out, without hashing
    checks: list[CodeCheck]  # in the batch's order


def plan_code_checks(
    commands: Sequence[cmd.Command],
    load: Callable[[str], Stream],
    calendar: LedgerCalendar,
    policy: LockoutPolicy,
    now: datetime,
    max_checks: int | None,
) -> CodeCheckPlan:
    """Decide which redemptions are hashed; raises InvalidInput (field `commands`) when a request hashes too much."""
    streams: dict[str, Stream] = {}

    def stream(stream_id: str) -> Stream:
        if stream_id not in streams:
            streams[stream_id] = load(stream_id)
        return streams[stream_id]

    named_before: set[str] = set()  # streams an earlier command of the batch may change
    per_person: dict[str, int] = {}
    refusals: dict[int, Prepared] = {}
    checks: list[CodeCheck] = []
    for index, command in enumerate(commands):
        if isinstance(command, cmd.RedeemAccessCode):
            person_sid, school_sid = ev.person_stream(command.person_id), ev.school_stream(command.school_id)
            person = PersonView(stream(person_sid), command.person_id)
            school = SchoolView(stream(school_sid), command.school_id)
            if not {person_sid, school_sid} & named_before and _refused_without_the_code(
                command, person, school, calendar, policy, now
            ):
                pass  # decide refuses it, in order
            else:
                per_person[command.person_id] = judged = per_person.get(command.person_id, 0) + 1
                if judged > attempts_left(person, policy, now):
                    refusals[index] = Prepared(refusal=too_many_codes_presented(person, policy, now))
                else:
                    candidates = tuple(c for c in school.codes if c.exam_year == command.exam_year)
                    checks.append(CodeCheck(index, command, candidates))
        if not isinstance(command, cmd.RedeemAccessCode):  # (a redemption changes nothing judged above)
            named_before.update(command.streams())
    # Issuing a code hashes it too.
    needed = sum(len(check.candidates) for check in checks) + sum(isinstance(c, cmd.IssueAccessCode) for c in commands)
    if max_checks is not None and needed > max_checks:
        raise InvalidInput(
            f"this request would hash {needed} access codes; at most {max_checks} are hashed per request "
            "(LEDGER_MAX_CODE_CHECKS_PER_REQUEST): send the commands in several requests",
            field="commands",
            code="too_many_code_checks",
        )
    return CodeCheckPlan(refusals, checks)


def run_code_checks(plan: CodeCheckPlan, hasher: Hasher) -> dict[int, Prepared]:
    """Hash the planned checks in order, stopping after the first code that matches nothing."""
    prepared = dict(plan.refusals)
    for check in plan.checks:
        matched = next(
            (c.event_id for c in check.candidates if hasher.matches(check.command.code, c.code_digest)), None
        )
        prepared[check.index] = Prepared(
            matched_code_event_id=matched, checked_code_event_ids=frozenset(c.event_id for c in check.candidates)
        )
        if matched is None:
            break  # the batch is refused here, or earlier: later codes are never judged
    return prepared


def _refused_without_the_code(
    command: cmd.RedeemAccessCode,
    person: PersonView,
    school: SchoolView,
    calendar: LedgerCalendar,
    policy: LockoutPolicy,
    now: datetime,
) -> bool:
    world = World({person.stream.id: person.stream, school.stream.id: school.stream})
    try:
        redemption_refused_before_the_code(
            command, world, policy, calendar, now, effective_time(command, calendar, now)
        )
    except LedgerError:
        return True
    return False
