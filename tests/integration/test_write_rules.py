"""Every write-time rule accepts what it should and refuses what it should.

Each refusal is checked for its type, its `code`, its `rule` and for having recorded
nothing (the ledger position does not move). Every test runs on memory, SQLite
and PostgreSQL through the `ledger` fixture.

The standard world (`standard_world`):
- districts D1 (superintendent SUP) and D2 (superintendent SUP2);
- school S1 in D1 with principal P1 designated for exam year 2025 from 2024-09-01;
  school S2 in D1 with no principal;
- staff T1…T8 and the principal affiliated with S1, OUT registered but affiliated nowhere;
- everyone registered, affiliated and bound by the terms since 2020; scores of 2025 released on 2025-07-07.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.errors import LedgerError, LockedOut, NotFound, RuleViolation, WrongCode
from ledger.events import AccessCodeRedeemed, AccessCodeRedemptionFailed, person_stream
from ledger.rules.codes import LockoutPolicy
from projections.system import LedgerSystem
from storage.outcomes import Outcome
from tests.conftest import Clock, last_position, run, run_batch

LONG_AGO = "2020-01-01"
STAFF = tuple(f"T{i}" for i in range(1, 9))
UNKNOWN_EVENT = "00000000-0000-4000-8000-000000000000"


# --- helpers ---------------------------------------------------------------------------------


def refused(
    ledger: LedgerSystem, error_type: type[LedgerError], code: str, rule: str | None, /, **command: Any
) -> LedgerError:
    """Run a command that must be refused with exactly this error, and check that nothing was recorded."""
    before = last_position(ledger)
    with pytest.raises(LedgerError) as caught:
        run(ledger, **command)
    error = caught.value
    assert type(error) is error_type, f"{type(error).__name__}: {error.message}"
    assert (error.code, error.rule) == (code, rule), error.message
    assert last_position(ledger) == before, "a refused command recorded something"
    return error


def accepted(ledger: LedgerSystem, /, **command: Any) -> Outcome:
    """Run a command that must be accepted, and check that it recorded its events."""
    before = last_position(ledger)
    outcome = run(ledger, **command)
    assert outcome.events, "an accepted command records at least one event"
    assert last_position(ledger) == before + len(outcome.events) == outcome.position
    return outcome


def standard_world(ledger: LedgerSystem, clock: Clock) -> None:
    """The world of the module docstring, appended as one batch."""
    clock.set("2025-06-01T12:00:00Z")
    people = ("P1", "SUP", "SUP2", "OUT", *STAFF)
    commands: list[dict[str, Any]] = [
        {"type": "register_district", "district_id": "D1", "name": "District One"},
        {"type": "register_district", "district_id": "D2", "name": "District Two"},
        {"type": "register_school", "school_id": "S1", "name": "School One", "district_id": "D1"},
        {"type": "register_school", "school_id": "S2", "name": "School Two", "district_id": "D1"},
    ]
    for pid in people:
        commands.append({"type": "register_person", "person_id": pid, "name": pid, "email": f"{pid}@example.org"})
        commands.append({"type": "accept_terms", "person_id": pid, "terms_version": "v1"})
    for pid in ("P1", *STAFF):
        commands.append({"type": "add_affiliation", "person_id": pid, "org_id": "S1"})
    commands.append({"type": "add_affiliation", "person_id": "SUP", "org_id": "D1"})
    commands.append({"type": "add_affiliation", "person_id": "SUP2", "org_id": "D2"})
    for c in commands:
        c["effective_at"] = LONG_AGO
    commands += [
        {
            "type": "designate_principal",
            "school_id": "S1",
            "person_id": "P1",
            "exam_year": 2025,
            "effective_at": "2024-09-01",
        },
        {"type": "designate_superintendent", "district_id": "D1", "person_id": "SUP", "effective_at": LONG_AGO},
        {"type": "designate_superintendent", "district_id": "D2", "person_id": "SUP2", "effective_at": LONG_AGO},
        {"type": "release_scores", "exam_year": 2025, "released_on": "2025-07-07"},
    ]
    run_batch(ledger, commands, "setup")


@pytest.fixture
def world(ledger: LedgerSystem, clock: Clock) -> LedgerSystem:
    standard_world(ledger, clock)
    return ledger


def issue_code(ledger: LedgerSystem, effective_at: str = "2025-07-01", school_id: str = "S1") -> str:
    code = run(ledger, type="issue_access_code", school_id=school_id, exam_year=2025, effective_at=effective_at).result[
        "code"
    ]
    assert isinstance(code, str)
    assert code
    return code


def redeem(ledger: LedgerSystem, person_id: str, code: str, effective_at: str, school_id: str = "S1") -> Outcome:
    return run(
        ledger,
        type="redeem_access_code",
        school_id=school_id,
        exam_year=2025,
        person_id=person_id,
        code=code,
        effective_at=effective_at,
    )


# Refusals given once the code presented was found right: the attempt is recorded (R10), nothing else.
AFTER_A_RIGHT_CODE = {"already_redeemed", "five_staff_limit"}


def redeem_refused(
    ledger: LedgerSystem,
    person_id: str,
    code: str,
    effective_at: str,
    *,
    error_code: str,
    rule: str | None = "R10",
    code_judged: bool | None = None,
) -> LedgerError:
    command: dict[str, Any] = {
        "type": "redeem_access_code",
        "school_id": "S1",
        "exam_year": 2025,
        "person_id": person_id,
        "code": code,
        "effective_at": effective_at,
    }
    if not (error_code in AFTER_A_RIGHT_CODE if code_judged is None else code_judged):
        return refused(ledger, RuleViolation, error_code, rule, **command)
    before = last_position(ledger)
    with pytest.raises(RuleViolation) as caught:
        run(ledger, **command)
    assert (caught.value.code, caught.value.rule) == (error_code, rule), caught.value.message
    assert last_position(ledger) == before + 1, "a code judged right but refused records its attempt, and only that"
    failure = ledger.service.stream(person_stream(person_id)).events[-1]
    assert isinstance(failure, AccessCodeRedemptionFailed)
    assert failure.reason == f"right code, but refused ({error_code})"
    return caught.value


def five_staff_redeem(ledger: LedgerSystem, code: str, effective_at: str = "2025-07-10") -> None:
    for pid in STAFF[:5]:
        assert redeem(ledger, pid, code, effective_at).result["staff"] is True


# --- unknown things: NotFound -------------------------------------------------------------------


def test_a_command_about_an_unknown_person_is_refused_as_not_found_with_r1(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world,
        NotFound,
        "unknown_person",
        "R1",
        type="authorize_course",
        person_id="P-NOBODY",
        school_id="S1",
        subject="AP-BIO",
        school_year=2025,
    )


def test_a_command_about_a_registered_person_and_school_is_accepted(world: LedgerSystem, clock: Clock) -> None:
    accepted(world, type="authorize_course", person_id="T1", school_id="S1", subject="AP-BIO", school_year=2025)


def test_a_command_about_an_unknown_school_is_refused_as_not_found(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world,
        NotFound,
        "unknown_school",
        None,
        type="authorize_course",
        person_id="T1",
        school_id="S-NOWHERE",
        subject="AP-BIO",
        school_year=2025,
    )


def test_an_affiliation_with_an_unknown_organization_is_refused_as_not_found(world: LedgerSystem, clock: Clock) -> None:
    refused(world, NotFound, "unknown_organization", None, type="add_affiliation", person_id="OUT", org_id="X-1")


def test_a_school_in_an_unknown_district_is_refused_as_not_found(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world,
        NotFound,
        "unknown_district",
        None,
        type="register_school",
        school_id="S9",
        name="Nine",
        district_id="D-NOWHERE",
    )


def test_a_school_in_a_registered_district_is_accepted(world: LedgerSystem, clock: Clock) -> None:
    accepted(world, type="register_school", school_id="S9", name="Nine", district_id="D2")


def test_designating_a_superintendent_of_an_unknown_district_is_refused_as_not_found(
    world: LedgerSystem, clock: Clock
) -> None:
    refused(
        world,
        NotFound,
        "unknown_district",
        None,
        type="designate_superintendent",
        district_id="D-NOWHERE",
        person_id="SUP",
    )


def test_voiding_an_unknown_event_is_refused_as_not_found_with_r15(world: LedgerSystem, clock: Clock) -> None:
    refused(world, NotFound, "unknown_event", "R15", type="void_event", event_id=UNKNOWN_EVENT, reason="typo")


# --- registrations ------------------------------------------------------------------------------


def test_registering_a_person_twice_is_refused_with_r1(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world,
        RuleViolation,
        "already_registered",
        "R1",
        type="register_person",
        person_id="T1",
        name="Again",
        email="again@example.org",
    )


def test_registering_a_new_person_is_accepted(world: LedgerSystem, clock: Clock) -> None:
    accepted(world, type="register_person", person_id="P-NEW", name="New", email="new@example.org")


def test_a_district_cannot_take_the_id_of_a_school(world: LedgerSystem, clock: Clock) -> None:
    refused(world, RuleViolation, "already_registered", None, type="register_district", district_id="S1", name="X")


def test_a_school_cannot_take_the_id_of_a_district(world: LedgerSystem, clock: Clock) -> None:
    refused(world, RuleViolation, "already_registered", None, type="register_school", school_id="D1", name="X")


def test_registering_a_school_twice_is_refused(world: LedgerSystem, clock: Clock) -> None:
    refused(world, RuleViolation, "already_registered", None, type="register_school", school_id="S1", name="X")


def test_a_command_effective_before_the_persons_registration_is_refused_with_r1(
    world: LedgerSystem, clock: Clock
) -> None:
    run(world, type="register_person", person_id="P-NEW", name="New", email="n@example.org", effective_at="2025-03-01")
    refused(
        world,
        RuleViolation,
        "not_registered_yet",
        "R1",
        type="accept_terms",
        person_id="P-NEW",
        terms_version="v1",
        effective_at="2025-02-28",
    )


def test_a_command_effective_at_the_persons_registration_is_accepted(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="register_person", person_id="P-NEW", name="New", email="n@example.org", effective_at="2025-03-01")
    accepted(world, type="accept_terms", person_id="P-NEW", terms_version="v1", effective_at="2025-03-01")


def test_a_command_effective_before_the_schools_registration_is_refused(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="register_school", school_id="S9", name="Nine", district_id="D1", effective_at="2025-03-01")
    refused(
        world,
        RuleViolation,
        "not_registered_yet",
        None,
        type="authorize_course",
        person_id="T1",
        school_id="S9",
        subject="AP-BIO",
        school_year=2025,
        effective_at="2025-02-01",
    )


def test_a_command_effective_after_the_schools_registration_is_accepted(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="register_school", school_id="S9", name="Nine", district_id="D1", effective_at="2025-03-01")
    accepted(
        world,
        type="authorize_course",
        person_id="T1",
        school_id="S9",
        subject="AP-BIO",
        school_year=2025,
        effective_at="2025-03-02",
    )


# --- affiliations ---------------------------------------------------------------------------------


def test_adding_an_affiliation_the_person_already_has_is_refused(world: LedgerSystem, clock: Clock) -> None:
    refused(world, RuleViolation, "already_affiliated", None, type="add_affiliation", person_id="T1", org_id="S1")


def test_adding_a_new_affiliation_is_accepted(world: LedgerSystem, clock: Clock) -> None:
    accepted(world, type="add_affiliation", person_id="OUT", org_id="S2")


def test_ending_an_affiliation_the_person_does_not_have_is_refused(world: LedgerSystem, clock: Clock) -> None:
    refused(world, RuleViolation, "not_affiliated", None, type="end_affiliation", person_id="OUT", org_id="S1")


def test_ending_an_affiliation_twice_is_refused_the_second_time(world: LedgerSystem, clock: Clock) -> None:
    accepted(world, type="end_affiliation", person_id="T1", org_id="S1")
    refused(world, RuleViolation, "not_affiliated", None, type="end_affiliation", person_id="T1", org_id="S1")


def test_an_ended_affiliation_can_be_added_again(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="end_affiliation", person_id="T1", org_id="S1", effective_at="2025-01-01")
    accepted(world, type="add_affiliation", person_id="T1", org_id="S1", effective_at="2025-02-01")


# --- course authorizations and sections (R3, R4) ----------------------------------------------------


AUTH: dict[str, Any] = {"person_id": "T1", "school_id": "S1", "subject": "AP-BIO", "school_year": 2025}


def test_authorizing_a_course_twice_is_refused_with_r3(world: LedgerSystem, clock: Clock) -> None:
    accepted(world, type="authorize_course", **AUTH)
    refused(world, RuleViolation, "already_authorized", "R3", type="authorize_course", **AUTH)


def test_withdrawing_a_held_authorization_is_accepted(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="authorize_course", **AUTH, effective_at="2024-09-01")
    accepted(world, type="withdraw_course_authorization", **AUTH, effective_at="2025-01-15")


def test_withdrawing_an_authorization_that_never_existed_is_refused_with_r3(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="authorize_course", **AUTH)
    refused(
        world,
        RuleViolation,
        "authorization_not_found",
        "R3",
        type="withdraw_course_authorization",
        **{**AUTH, "subject": "AP-CHEM"},
    )


def test_withdrawing_an_authorization_twice_is_refused_with_r3(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="authorize_course", **AUTH, effective_at="2024-09-01")
    run(world, type="withdraw_course_authorization", **AUTH, effective_at="2025-01-15")
    refused(
        world,
        RuleViolation,
        "authorization_not_found",
        "R3",
        type="withdraw_course_authorization",
        **AUTH,
        effective_at="2025-02-01",
    )


def test_withdrawing_an_authorization_before_it_was_effective_is_refused_with_r3(
    world: LedgerSystem, clock: Clock
) -> None:
    run(world, type="authorize_course", **AUTH, effective_at="2024-09-01")
    refused(
        world,
        RuleViolation,
        "authorization_not_found",
        "R3",
        type="withdraw_course_authorization",
        **AUTH,
        effective_at="2024-08-01",
    )


SECTION: dict[str, Any] = {
    "person_id": "T1",
    "school_id": "S1",
    "subject": "AP-BIO",
    "section_id": "BIO-1",
    "school_year": 2025,
}


def test_assigning_a_section_is_accepted(world: LedgerSystem, clock: Clock) -> None:
    accepted(world, type="assign_section", **SECTION)


def test_assigning_the_same_section_twice_is_refused_with_r4(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="assign_section", **SECTION)
    refused(world, RuleViolation, "already_assigned", "R4", type="assign_section", **SECTION)


# --- system access (R7) -------------------------------------------------------------------------------


SYSTEM: dict[str, Any] = {"person_id": "T1", "org_id": "S1", "system": "course_audit"}


def test_granting_system_access_is_accepted(world: LedgerSystem, clock: Clock) -> None:
    accepted(world, type="grant_system_access", **SYSTEM)


def test_granting_system_access_the_person_already_has_is_refused_with_r7(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="grant_system_access", **SYSTEM)
    refused(world, RuleViolation, "already_granted", "R7", type="grant_system_access", **SYSTEM)


def test_removing_held_system_access_is_accepted(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="grant_system_access", **SYSTEM, effective_at="2025-01-01")
    accepted(world, type="remove_system_access", **SYSTEM, effective_at="2025-02-01")


def test_removing_system_access_that_was_never_granted_is_refused_with_r7(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="grant_system_access", **{**SYSTEM, "system": "registration_ordering"})
    refused(world, RuleViolation, "system_access_not_found", "R7", type="remove_system_access", **SYSTEM)


def test_removing_system_access_twice_is_refused_with_r7(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="grant_system_access", **SYSTEM, effective_at="2025-01-01")
    run(world, type="remove_system_access", **SYSTEM, effective_at="2025-02-01")
    refused(
        world,
        RuleViolation,
        "system_access_not_found",
        "R7",
        type="remove_system_access",
        **SYSTEM,
        effective_at="2025-03-01",
    )


# --- score releases ---------------------------------------------------------------------------------


def test_releasing_a_new_exam_year_is_accepted(world: LedgerSystem, clock: Clock) -> None:
    accepted(world, type="release_scores", exam_year=2026, released_on="2026-07-06")


def test_releasing_an_exam_year_twice_is_refused(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world, RuleViolation, "already_released", "R3", type="release_scores", exam_year=2025, released_on="2025-07-08"
    )


# --- issuing, reissuing and revoking codes (R8) ----------------------------------------------------------


def test_issuing_a_code_for_the_designated_principals_year_is_accepted_and_returns_the_code_once(
    world: LedgerSystem, clock: Clock
) -> None:
    outcome = accepted(world, type="issue_access_code", school_id="S1", exam_year=2025)
    assert [e.type for e in outcome.events] == ["AccessCodeIssued"]
    assert outcome.result["principal_id"] == "P1"
    code = outcome.result["code"]
    assert isinstance(code, str)
    assert len(code.replace("-", "")) >= 10
    row = world.service.recorder.read_rows(outcome.position - 1, 1)[0]
    assert code.encode() not in bytes(row.stored.state)
    assert code.replace("-", "").encode() not in bytes(row.stored.state)


def test_issuing_a_code_without_a_principal_for_that_exam_year_is_refused(world: LedgerSystem, clock: Clock) -> None:
    # P1 is designated for 2025 only: that does not count for the code of 2026.
    refused(
        world,
        RuleViolation,
        "no_principal_designated",
        "R8",
        type="issue_access_code",
        school_id="S1",
        exam_year=2026,
        effective_at="2025-09-01",
    )


def test_issuing_a_code_at_a_school_without_any_principal_is_refused(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world, RuleViolation, "no_principal_designated", "R8", type="issue_access_code", school_id="S2", exam_year=2025
    )


def test_issuing_a_code_before_the_principal_is_designated_is_refused(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world,
        RuleViolation,
        "no_principal_designated",
        "R8",
        type="issue_access_code",
        school_id="S1",
        exam_year=2025,
        effective_at="2024-08-01",
    )


def test_issuing_a_code_once_a_principal_is_designated_for_that_year_is_accepted(
    world: LedgerSystem, clock: Clock
) -> None:
    run(world, type="designate_principal", school_id="S1", person_id="P1", exam_year=2026, effective_at="2025-08-15")
    outcome = accepted(world, type="issue_access_code", school_id="S1", exam_year=2026, effective_at="2025-09-01")
    assert outcome.result["principal_id"] == "P1"


def test_reissuing_a_code_supersedes_the_old_one_and_only_the_new_one_works(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-25")
    old = issue_code(world, "2025-07-01")
    reissue = accepted(world, type="issue_access_code", school_id="S1", exam_year=2025, effective_at="2025-07-02")
    assert [e.type for e in reissue.events] == ["AccessCodeIssued"]  # the new issuance alone ends the old code
    new = reissue.result["code"]
    assert new != old
    # The old code matches a revoked issuance: judged, so the attempt is recorded.
    redeem_refused(world, "T1", old, "2025-07-10", error_code="code_revoked", code_judged=True)
    assert redeem(world, "T1", new, "2025-07-10").result["staff"] is True


def test_revoking_a_valid_code_is_accepted_and_the_code_is_then_refused_as_revoked(
    world: LedgerSystem, clock: Clock
) -> None:
    clock.set("2025-07-25")
    code = issue_code(world, "2025-07-01")
    accepted(
        world, type="revoke_access_code", school_id="S1", exam_year=2025, reason="leaked", effective_at="2025-07-05"
    )
    redeem_refused(world, "T1", code, "2025-07-10", error_code="code_revoked")


def test_revoking_when_no_code_was_issued_is_refused(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world,
        RuleViolation,
        "code_not_found",
        "R8",
        type="revoke_access_code",
        school_id="S1",
        exam_year=2025,
        reason="leaked",
    )


def test_revoking_a_code_twice_is_refused_the_second_time(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-25")
    issue_code(world, "2025-07-01")
    run(world, type="revoke_access_code", school_id="S1", exam_year=2025, reason="leaked", effective_at="2025-07-05")
    refused(
        world,
        RuleViolation,
        "code_not_found",
        "R8",
        type="revoke_access_code",
        school_id="S1",
        exam_year=2025,
        reason="again",
        effective_at="2025-07-06",
    )


# --- redeeming codes (R8, R10) ------------------------------------------------------------------------------


def test_an_affiliated_staff_member_with_the_right_code_redeems_it(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-25")
    code = issue_code(world)
    outcome = accepted(
        world,
        type="redeem_access_code",
        school_id="S1",
        exam_year=2025,
        person_id="T1",
        code=code,
        effective_at="2025-07-10",
    )
    assert [e.type for e in outcome.events] == ["AccessCodeRedeemed"]
    assert outcome.result["staff"] is True


def test_a_person_not_affiliated_with_the_school_cannot_redeem_its_code(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-25")
    code = issue_code(world)
    redeem_refused(world, "OUT", code, "2025-07-10", error_code="not_affiliated")


def test_a_person_whose_affiliation_ended_cannot_redeem_the_code(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-25")
    code = issue_code(world)
    run(world, type="end_affiliation", person_id="T1", org_id="S1", effective_at="2025-07-05")
    redeem_refused(world, "T1", code, "2025-07-10", error_code="not_affiliated")


def test_an_unknown_person_cannot_redeem_a_code(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-25")
    code = issue_code(world)
    refused(
        world,
        NotFound,
        "unknown_person",
        "R1",
        type="redeem_access_code",
        school_id="S1",
        exam_year=2025,
        person_id="P-NOBODY",
        code=code,
    )


def test_redeeming_when_no_code_was_issued_is_refused(world: LedgerSystem, clock: Clock) -> None:
    redeem_refused(world, "T1", "ABCD-EFGH-JKMN", "2025-07-10", error_code="code_not_found")


def test_a_wrong_code_is_refused_and_only_its_failure_is_recorded_without_the_code(
    world: LedgerSystem, clock: Clock
) -> None:
    clock.set("2025-07-25")
    right = issue_code(world)
    wrong = "ABCD-EFGH-JKMN" if right != "ABCD-EFGH-JKMN" else "ABCD-EFGH-JKMP"
    before = last_position(world)
    with pytest.raises(WrongCode) as caught:
        redeem(world, "T1", wrong.lower(), "2025-07-10")
    assert (caught.value.code, caught.value.rule) == ("wrong_code", "R10")
    assert wrong.lower() not in str(caught.value)  # the refusal does not echo the code
    # R10: each failure is visible to auditors, so exactly one event is appended: the failure.
    rows = world.service.recorder.read_rows(before, 100)
    assert len(rows) == 1
    failure = world.service.mapper.decode(rows[0].stored)
    assert isinstance(failure, AccessCodeRedemptionFailed)
    assert (failure.person_id, failure.school_id, failure.exam_year) == ("T1", "S1", 2025)
    stored = bytes(rows[0].stored.state).upper()
    for secret in (wrong, right):
        assert secret.encode() not in stored
        assert secret.replace("-", "").encode() not in stored
    assert not any(isinstance(world.service.mapper.decode(r.stored), AccessCodeRedeemed) for r in rows)


def test_repeated_wrong_codes_lock_the_person_out_until_the_window_passes(world: LedgerSystem, clock: Clock) -> None:
    policy = LockoutPolicy()
    clock.set("2025-07-25T10:00:00Z")
    code = issue_code(world)
    for _ in range(policy.failures):
        with pytest.raises(WrongCode):
            redeem(world, "T1", "ABCD-EFGH-JKMN", "2025-07-10")
    clock.advance(minutes=1)
    error = refused(
        world,
        LockedOut,
        "locked_out",
        "R10",
        type="redeem_access_code",
        school_id="S1",
        exam_year=2025,
        person_id="T1",
        code=code,
        effective_at="2025-07-10",
    )
    assert isinstance(error, LockedOut)
    assert error.retry_after_seconds > 0
    # Another person is not locked out by T1's failures.
    assert redeem(world, "T2", code, "2025-07-10").result["staff"] is True
    clock.advance(seconds=policy.window.total_seconds())
    assert redeem(world, "T1", code, "2025-07-10").result["staff"] is True


def test_a_code_is_accepted_up_to_the_end_of_july_31_of_the_following_year(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2026-08-02")
    code = issue_code(world)
    outcome = redeem(world, "T1", code, "2026-07-31T23:59:00-04:00")
    assert outcome.result["staff"] is True


def test_a_code_is_refused_as_expired_from_august_1_of_the_following_year(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2026-08-02")
    code = issue_code(world)
    redeem_refused(world, "T2", code, "2026-08-01T00:00:00-04:00", error_code="code_expired")


def test_redeeming_the_same_code_twice_is_refused(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-25")
    code = issue_code(world)
    redeem(world, "T1", code, "2025-07-10")
    redeem_refused(world, "T1", code, "2025-07-11", error_code="already_redeemed", rule="R8")


# --- five staff (R9) -------------------------------------------------------------------------------------------


def test_five_staff_redeem_one_code_and_a_sixth_is_refused_with_r9(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-25")
    code = issue_code(world)
    five_staff_redeem(world, code)
    redeem_refused(world, "T6", code, "2025-07-11", error_code="five_staff_limit", rule="R9")


def test_the_principals_own_redemption_does_not_take_a_staff_place(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-25")
    code = issue_code(world)
    assert redeem(world, "P1", code, "2025-07-09").result["staff"] is False
    five_staff_redeem(world, code)  # five staff places are still free after the principal's redemption
    redeem_refused(world, "T6", code, "2025-07-11", error_code="five_staff_limit", rule="R9")


def test_a_removal_frees_a_staff_place_for_a_later_redemption(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-25")
    code = issue_code(world)
    five_staff_redeem(world, code, "2025-07-10")
    run(world, type="remove_access", person_id="T1", org_id="S1", removed_by="P1", effective_at="2025-07-15")
    # Before the removal six would hold the code; after it, five.
    redeem_refused(world, "T6", code, "2025-07-14", error_code="five_staff_limit", rule="R9")
    assert redeem(world, "T6", code, "2025-07-16").result["staff"] is True


def test_a_backdated_redemption_that_would_make_six_staff_on_a_later_day_is_refused(
    world: LedgerSystem, clock: Clock
) -> None:
    clock.set("2025-07-09")
    code = issue_code(world, "2025-07-01")
    clock.set("2025-07-10")
    five_staff_redeem(world, code, "2025-07-10")
    clock.set("2025-07-20")
    run(world, type="remove_access", person_id="T1", org_id="S1", removed_by="P1", effective_at="2025-07-20")
    clock.set("2025-07-25")
    # On Jul 5 nobody holds the code yet, but from Jul 10 to Jul 20 six staff would.
    redeem_refused(world, "T6", code, "2025-07-05", error_code="five_staff_limit", rule="R9")


def test_a_redemption_after_a_removal_is_accepted_even_when_recorded_late(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-09")
    code = issue_code(world, "2025-07-01")
    clock.set("2025-07-10")
    five_staff_redeem(world, code, "2025-07-10")
    clock.set("2025-07-20")
    run(world, type="remove_access", person_id="T1", org_id="S1", removed_by="P1", effective_at="2025-07-20")
    clock.set("2025-07-25")
    assert redeem(world, "T6", code, "2025-07-21").result["staff"] is True


def test_voiding_a_removal_that_would_make_six_staff_hold_the_code_is_refused_with_r9(
    world: LedgerSystem, clock: Clock
) -> None:
    clock.set("2025-07-25")
    code = issue_code(world)
    five_staff_redeem(world, code, "2025-07-10")
    removal = run(world, type="remove_access", person_id="T1", org_id="S1", removed_by="P1", effective_at="2025-07-15")
    redeem(world, "T6", code, "2025-07-16")
    refused(
        world,
        RuleViolation,
        "five_staff_limit",
        "R9",
        type="void_event",
        event_id=removal.events[0].event_id,
        reason="removed by mistake",
    )


def test_voiding_a_removal_that_keeps_five_staff_is_accepted(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-25")
    code = issue_code(world)
    five_staff_redeem(world, code, "2025-07-10")
    removal = run(world, type="remove_access", person_id="T1", org_id="S1", removed_by="P1", effective_at="2025-07-15")
    accepted(world, type="void_event", event_id=removal.events[0].event_id, reason="removed by mistake")
    # T1 holds the code again, so the place is taken.
    redeem_refused(world, "T6", code, "2025-07-16", error_code="five_staff_limit", rule="R9")


# --- restrictions (R6) ---------------------------------------------------------------------------------------------


def test_the_designated_principal_restricts_student_data(world: LedgerSystem, clock: Clock) -> None:
    accepted(world, type="restrict_student_data", school_id="S1", requested_by="P1")
    accepted(world, type="restrict_student_data", school_id="S1", teacher_id="T1", requested_by="P1")


def test_someone_other_than_the_principal_cannot_restrict_student_data(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world, RuleViolation, "not_principal", "R6", type="restrict_student_data", school_id="S1", requested_by="T1"
    )


def test_the_superintendent_cannot_restrict_student_data_at_a_school(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world, RuleViolation, "not_principal", "R6", type="restrict_student_data", school_id="S1", requested_by="SUP"
    )


def test_a_principal_cannot_restrict_before_being_designated(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world,
        RuleViolation,
        "not_principal",
        "R6",
        type="restrict_student_data",
        school_id="S1",
        requested_by="P1",
        effective_at="2024-08-01",
    )


def test_a_former_principal_cannot_restrict_once_a_successor_is_designated(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="designate_principal", school_id="S1", person_id="T8", exam_year=2026, effective_at="2025-08-15")
    refused(
        world,
        RuleViolation,
        "not_principal",
        "R6",
        type="restrict_student_data",
        school_id="S1",
        requested_by="P1",
        effective_at="2025-09-01",
    )
    accepted(world, type="restrict_student_data", school_id="S1", requested_by="T8", effective_at="2025-09-01")


def test_restricting_what_is_already_restricted_is_refused(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="restrict_student_data", school_id="S1", teacher_id="T1", requested_by="P1")
    refused(
        world,
        RuleViolation,
        "already_restricted",
        "R6",
        type="restrict_student_data",
        school_id="S1",
        teacher_id="T1",
        requested_by="P1",
    )


def test_the_principal_lifts_a_restriction(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="restrict_student_data", school_id="S1", requested_by="P1", effective_at="2025-01-01")
    accepted(world, type="lift_student_data_restriction", school_id="S1", requested_by="P1", effective_at="2025-02-01")


def test_someone_other_than_the_principal_cannot_lift_a_restriction(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="restrict_student_data", school_id="S1", requested_by="P1", effective_at="2025-01-01")
    refused(
        world,
        RuleViolation,
        "not_principal",
        "R6",
        type="lift_student_data_restriction",
        school_id="S1",
        requested_by="T1",
        effective_at="2025-02-01",
    )


def test_lifting_when_nothing_is_restricted_is_refused(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world,
        RuleViolation,
        "restriction_not_found",
        "R6",
        type="lift_student_data_restriction",
        school_id="S1",
        requested_by="P1",
    )


def test_lifting_a_restriction_of_another_scope_is_refused(world: LedgerSystem, clock: Clock) -> None:
    run(
        world,
        type="restrict_student_data",
        school_id="S1",
        teacher_id="T1",
        requested_by="P1",
        effective_at="2025-01-01",
    )
    refused(
        world,
        RuleViolation,
        "restriction_not_found",
        "R6",
        type="lift_student_data_restriction",
        school_id="S1",
        requested_by="P1",
        effective_at="2025-02-01",
    )


# --- removals at a school (R14) ---------------------------------------------------------------------------------------


def _t1_holds_the_code(world: LedgerSystem, clock: Clock) -> None:
    clock.set("2025-07-25")
    code = issue_code(world)
    redeem(world, "T1", code, "2025-07-10")


def test_the_principal_removes_a_staff_member_at_the_school(world: LedgerSystem, clock: Clock) -> None:
    _t1_holds_the_code(world, clock)
    accepted(world, type="remove_access", person_id="T1", org_id="S1", removed_by="P1", effective_at="2025-07-12")


def test_the_superintendent_of_the_schools_district_removes_a_staff_member_at_the_school(
    world: LedgerSystem, clock: Clock
) -> None:
    _t1_holds_the_code(world, clock)
    accepted(world, type="remove_access", person_id="T1", org_id="S1", removed_by="SUP", effective_at="2025-07-12")


def test_a_staff_member_cannot_remove_another_at_the_school(world: LedgerSystem, clock: Clock) -> None:
    _t1_holds_the_code(world, clock)
    refused(
        world,
        RuleViolation,
        "not_authorized_to_remove",
        "R14",
        type="remove_access",
        person_id="T1",
        org_id="S1",
        removed_by="T2",
        effective_at="2025-07-12",
    )


def test_the_superintendent_of_another_district_cannot_remove_at_the_school(world: LedgerSystem, clock: Clock) -> None:
    _t1_holds_the_code(world, clock)
    refused(
        world,
        RuleViolation,
        "not_authorized_to_remove",
        "R14",
        type="remove_access",
        person_id="T1",
        org_id="S1",
        removed_by="SUP2",
        effective_at="2025-07-12",
    )


def test_removing_a_person_who_holds_nothing_at_the_school_is_refused_with_r14(
    world: LedgerSystem, clock: Clock
) -> None:
    _t1_holds_the_code(world, clock)
    refused(
        world,
        RuleViolation,
        "nothing_to_remove",
        "R14",
        type="remove_access",
        person_id="T7",
        org_id="S1",
        removed_by="P1",
        effective_at="2025-07-12",
    )


def test_removing_a_person_twice_is_refused_the_second_time(world: LedgerSystem, clock: Clock) -> None:
    _t1_holds_the_code(world, clock)
    run(world, type="remove_access", person_id="T1", org_id="S1", removed_by="P1", effective_at="2025-07-12")
    refused(
        world,
        RuleViolation,
        "nothing_to_remove",
        "R14",
        type="remove_access",
        person_id="T1",
        org_id="S1",
        removed_by="P1",
        effective_at="2025-07-13",
    )


# --- district users and removals in the district (R11, R14) ---------------------------------------------------------


DISTRICT_USER: dict[str, Any] = {"person_id": "T1", "district_id": "D1", "access_year": 2025}


def test_the_superintendent_adds_a_district_user(world: LedgerSystem, clock: Clock) -> None:
    accepted(world, type="add_district_user", **DISTRICT_USER, requested_by="SUP")


def test_someone_other_than_the_superintendent_cannot_add_a_district_user(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world, RuleViolation, "not_superintendent", "R11", type="add_district_user", **DISTRICT_USER, requested_by="P1"
    )


def test_the_superintendent_of_another_district_cannot_add_a_district_user(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world,
        RuleViolation,
        "not_superintendent",
        "R11",
        type="add_district_user",
        **DISTRICT_USER,
        requested_by="SUP2",
    )


def test_adding_the_same_district_user_for_the_same_access_year_twice_is_refused(
    world: LedgerSystem, clock: Clock
) -> None:
    run(world, type="add_district_user", **DISTRICT_USER, requested_by="SUP")
    refused(world, RuleViolation, "already_added", "R11", type="add_district_user", **DISTRICT_USER, requested_by="SUP")


def test_the_superintendent_removes_a_district_user(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="add_district_user", **DISTRICT_USER, requested_by="SUP", effective_at="2025-06-01")
    accepted(world, type="remove_district_user", person_id="T1", district_id="D1", requested_by="SUP")


def test_someone_other_than_the_superintendent_cannot_remove_a_district_user(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="add_district_user", **DISTRICT_USER, requested_by="SUP", effective_at="2025-06-01")
    refused(
        world,
        RuleViolation,
        "not_superintendent",
        "R11",
        type="remove_district_user",
        person_id="T1",
        district_id="D1",
        requested_by="P1",
    )


def test_removing_a_district_user_who_was_never_added_is_refused(world: LedgerSystem, clock: Clock) -> None:
    refused(
        world,
        RuleViolation,
        "district_access_not_found",
        "R11",
        type="remove_district_user",
        person_id="T2",
        district_id="D1",
        requested_by="SUP",
    )


def test_the_superintendent_removes_access_at_the_district(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="add_district_user", **DISTRICT_USER, requested_by="SUP", effective_at="2025-06-01")
    accepted(world, type="remove_access", person_id="T1", org_id="D1", removed_by="SUP", effective_at="2025-09-01")


def test_a_principal_cannot_remove_access_at_the_district(world: LedgerSystem, clock: Clock) -> None:
    run(world, type="add_district_user", **DISTRICT_USER, requested_by="SUP", effective_at="2025-06-01")
    refused(
        world,
        RuleViolation,
        "not_authorized_to_remove",
        "R14",
        type="remove_access",
        person_id="T1",
        org_id="D1",
        removed_by="P1",
        effective_at="2025-09-01",
    )


def test_removing_a_person_who_holds_nothing_at_the_district_is_refused_with_r14(
    world: LedgerSystem, clock: Clock
) -> None:
    refused(
        world,
        RuleViolation,
        "nothing_to_remove",
        "R14",
        type="remove_access",
        person_id="T2",
        org_id="D1",
        removed_by="SUP",
        effective_at="2025-09-01",
    )


# --- voids (R15) ------------------------------------------------------------------------------------------------------


def test_voiding_a_recorded_event_is_accepted(world: LedgerSystem, clock: Clock) -> None:
    grant = run(world, type="grant_system_access", **SYSTEM)
    outcome = accepted(world, type="void_event", event_id=grant.events[0].event_id, reason="entered twice")
    assert [e.type for e in outcome.events] == ["EventVoided"]
    # The voided grant counts as never recorded: granting again is accepted.
    accepted(world, type="grant_system_access", **SYSTEM)


def test_a_void_cannot_itself_be_voided(world: LedgerSystem, clock: Clock) -> None:
    grant = run(world, type="grant_system_access", **SYSTEM)
    void = run(world, type="void_event", event_id=grant.events[0].event_id, reason="entered twice")
    refused(
        world,
        RuleViolation,
        "cannot_void_a_void",
        "R15",
        type="void_event",
        event_id=void.events[0].event_id,
        reason="undo",
    )


def test_voiding_an_event_twice_is_refused(world: LedgerSystem, clock: Clock) -> None:
    grant = run(world, type="grant_system_access", **SYSTEM)
    run(world, type="void_event", event_id=grant.events[0].event_id, reason="entered twice")
    refused(
        world,
        RuleViolation,
        "already_voided",
        "R15",
        type="void_event",
        event_id=grant.events[0].event_id,
        reason="again",
    )
