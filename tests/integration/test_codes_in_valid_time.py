"""Access codes are read in valid time, whatever order their facts were recorded in (R8, R9, R10).

The story every test starts from, on memory, SQLite and PostgreSQL: school S (principal PR
designated for exam year 2025), scores of 2025 released on 2025-07-07, staff X, Y and
U1…U9 affiliated with S. Then code A is issued effective 2025-07-24 and recorded first,
and code B effective 2025-07-10 is recorded second (learned late, backdated). In valid
time B came first and A is its reissue: B is in force on [Jul 10, Jul 24) only.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.access.vocabulary import Report
from ledger.errors import LedgerError
from ledger.events import AccessCodeRedemptionFailed
from projections.system import LedgerSystem
from storage.outcomes import Outcome
from tests.conftest import CALENDAR, Clock, caught_up, last_position, run, run_batch

STAFF = ("X", "Y", *(f"U{i}" for i in range(1, 10)))
JUL_24 = CALENDAR.parse_instant("2025-07-24")


def refusal(ledger: LedgerSystem, /, attempts: int = 0, **command: Any) -> LedgerError:
    """Run a command that must be refused: nothing is recorded but, for a right code refused, its attempt (R10)."""
    before = last_position(ledger)
    with pytest.raises(LedgerError) as caught:
        run(ledger, **command)
    assert last_position(ledger) == before + attempts, "a refused command recorded something"
    recorded = [ledger.service.mapper.decode(r.stored) for r in ledger.service.recorder.read_rows(before, 10)]
    assert all(isinstance(e, AccessCodeRedemptionFailed) for e in recorded)
    return caught.value


def school_with_a_principal(ledger: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-01T12:00:00Z")
    commands: list[dict[str, Any]] = [{"type": "register_school", "school_id": "S", "name": "S"}]
    for pid in ("PR", *STAFF):
        commands += [
            {"type": "register_person", "person_id": pid, "name": pid, "email": f"{pid}@example.org"},
            {"type": "accept_terms", "person_id": pid, "terms_version": "v1"},
            {"type": "add_affiliation", "person_id": pid, "org_id": "S"},
        ]
    for c in commands:
        c["effective_at"] = "2025-01-01"
    commands += [
        {"type": "designate_principal", "school_id": "S", "person_id": "PR", "exam_year": 2025},
        {"type": "release_scores", "exam_year": 2025, "released_on": "2025-07-07"},
    ]
    for c in commands[-2:]:
        c["effective_at"] = "2025-01-01"
    run_batch(ledger, commands, "setup")


def issue(ledger: LedgerSystem, effective_at: str) -> Outcome:
    return run(ledger, type="issue_access_code", school_id="S", exam_year=2025, effective_at=effective_at)


def redeem(ledger: LedgerSystem, person_id: str, code: str, effective_at: str) -> Outcome:
    return run(
        ledger,
        type="redeem_access_code",
        school_id="S",
        exam_year=2025,
        person_id=person_id,
        code=code,
        effective_at=effective_at,
    )


@pytest.fixture
def codes(ledger: LedgerSystem, clock: Clock) -> dict[str, Outcome]:
    """Code A effective Jul 24 recorded first, then code B effective Jul 10 recorded second."""
    school_with_a_principal(ledger, clock)
    clock.set("2025-07-24T15:00:00Z")
    a = issue(ledger, "2025-07-24")
    clock.set("2025-07-26T15:00:00Z")
    b = issue(ledger, "2025-07-10")
    return {"A": a, "B": b}


def code(outcome: Outcome) -> str:
    value = outcome.result["code"]
    assert isinstance(value, str)
    return value


def school_admin_at(ledger: LedgerSystem, person_id: str, at: str) -> bool:
    answer = caught_up(ledger).queries.check(
        person_id=person_id,
        org_id="S",
        report=Report.SCORE_SUMMARY,
        exam_year=2025,
        school_id="S",
        at=CALENDAR.parse_instant(at),
    )
    return answer.decision.allowed and answer.decision.role == "school_admin"


def test_redeeming_the_backdated_code_after_its_reissue_is_refused_as_revoked(
    ledger: LedgerSystem, codes: dict[str, Outcome]
) -> None:
    error = refusal(
        ledger,
        attempts=1,  # the code was right: its attempt counts toward the lockout
        type="redeem_access_code",
        school_id="S",
        exam_year=2025,
        person_id="X",
        code=code(codes["B"]),
        effective_at="2025-07-25",
    )
    assert (error.code, error.rule) == ("code_revoked", "R10"), error.message


def test_the_later_issued_code_is_the_one_in_force_after_its_effective_time(
    ledger: LedgerSystem, codes: dict[str, Outcome]
) -> None:
    outcome = redeem(ledger, "Y", code(codes["A"]), "2025-07-25")
    assert outcome.result["staff"] is True
    assert school_admin_at(ledger, "Y", "2025-07-25T13:00:00Z")


def test_a_redemption_of_the_backdated_code_ends_when_the_later_code_takes_over(
    ledger: LedgerSystem, codes: dict[str, Outcome]
) -> None:
    outcome = redeem(ledger, "X", code(codes["B"]), "2025-07-12")
    assert outcome.result["valid_to"] == JUL_24.isoformat()
    assert school_admin_at(ledger, "X", "2025-07-23T23:00:00Z")
    assert not school_admin_at(ledger, "X", "2025-07-24T04:00:00Z")  # Jul 24 00:00 in New York
    rights = caught_up(ledger).queries.rights("X", at=CALENDAR.parse_instant("2025-07-20"))
    (at_s,) = [o for o in rights.rights.organizations if o.org_id == "S"]
    assert at_s.valid_to == JUL_24


def test_windows_list_one_valid_2025_code_with_its_staff_places(
    ledger: LedgerSystem, codes: dict[str, Outcome]
) -> None:
    redeem(ledger, "X", code(codes["A"]), "2025-07-25")
    answer = caught_up(ledger).queries.windows("S", at=CALENDAR.parse_instant("2025-07-25T13:00:00Z"))
    valid = [c for c in answer.body["codes"] if c["valid_at"]]
    assert [c["code_event_id"] for c in valid] == [codes["A"].result["code_event_id"]]
    assert (valid[0]["staff_places_used"], valid[0]["staff_places_free"]) == (1, 4)
    (b,) = [c for c in answer.body["codes"] if c["code_event_id"] == codes["B"].result["code_event_id"]]
    assert (b["valid_from"], b["valid_to"]) == (CALENDAR.parse_instant("2025-07-10").isoformat(), JUL_24.isoformat())


def test_five_staff_places_hold_per_school_and_exam_year_across_a_reissue(
    ledger: LedgerSystem, codes: dict[str, Outcome]
) -> None:
    for pid in STAFF[:5]:
        redeem(ledger, pid, code(codes["B"]), "2025-07-12")
    # B's five end on Jul 24, so A has its own five places from then on.
    for pid in STAFF[5:10]:
        redeem(ledger, pid, code(codes["A"]), "2025-07-25")
    error = refusal(
        ledger,
        attempts=1,  # the code was right: its attempt counts toward the lockout
        type="redeem_access_code",
        school_id="S",
        exam_year=2025,
        person_id=STAFF[10],
        code=code(codes["A"]),
        effective_at="2025-07-26",
    )
    assert (error.code, error.rule) == ("five_staff_limit", "R9"), error.message
    for at in ("2025-07-13", "2025-07-25T13:00:00Z"):
        body = caught_up(ledger).queries.windows("S", at=CALENDAR.parse_instant(at)).body
        used = sum(c["staff_places_used"] for c in body["codes"] if c["exam_year"] == 2025)
        assert used == 5, (at, body["codes"])


def test_a_void_that_would_let_six_staff_hold_the_code_of_one_school_and_year_is_refused(
    ledger: LedgerSystem, clock: Clock
) -> None:
    school_with_a_principal(ledger, clock)
    clock.set("2025-07-24T15:00:00Z")
    a = issue(ledger, "2025-07-01")
    for pid in STAFF[:5]:
        redeem(ledger, pid, code(a), "2025-07-10")
    revocation = run(
        ledger, type="revoke_access_code", school_id="S", exam_year=2025, reason="leaked", effective_at="2025-07-08"
    )
    for pid in STAFF[5:10]:  # A is in force on [Jul 1, Jul 8): these five hold it there, the first five never did
        redeem(ledger, pid, code(a), "2025-07-02")
    for at in ("2025-07-03", "2025-07-09", "2025-07-11"):
        body = caught_up(ledger).queries.windows("S", at=CALENDAR.parse_instant(at)).body
        used = sum(c["staff_places_used"] for c in body["codes"] if c["exam_year"] == 2025)
        assert used <= 5, (at, body["codes"])
    error = refusal(ledger, type="void_event", event_id=revocation.events[-1].event_id, reason="mistake")
    assert (error.code, error.rule) == ("five_staff_limit", "R9"), error.message


def test_a_revocation_ends_the_code_in_force_at_its_time_even_if_that_code_was_recorded_later(
    ledger: LedgerSystem, clock: Clock
) -> None:
    school_with_a_principal(ledger, clock)
    clock.set("2025-07-24T15:00:00Z")
    a = issue(ledger, "2025-07-01")
    redeem(ledger, "X", code(a), "2025-07-02")
    run(ledger, type="revoke_access_code", school_id="S", exam_year=2025, reason="leaked", effective_at="2025-07-20")
    clock.set("2025-07-26T15:00:00Z")
    b = issue(ledger, "2025-07-15")  # learned late: B was the code in force when the leak was revoked
    redeem(ledger, "Y", code(b), "2025-07-16")
    assert school_admin_at(ledger, "Y", "2025-07-19")
    assert not school_admin_at(ledger, "Y", "2025-07-21")
    error = refusal(
        ledger,
        # no code is in force then: refused before any code is judged, nothing recorded
        type="redeem_access_code",
        school_id="S",
        exam_year=2025,
        person_id="U1",
        code=code(b),
        effective_at="2025-07-22",
    )
    assert (error.code, error.rule) == ("code_revoked", "R10"), error.message
