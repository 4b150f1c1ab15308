"""Idempotency keys and batches on memory, SQLite and PostgreSQL.

- the same key and body return the first result and append nothing;
- the same key with another body is refused (`idempotency_key_reused`) and appends nothing;
- a refused command does not consume its key;
- a batch is all or nothing, and its later commands see its earlier ones;
- an access code is returned once: never by a replay, never in a stored idempotency record.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.errors import BatchRefused, IdempotencyConflict, InvalidInput, NotFound, RuleViolation
from projections.system import LedgerSystem
from tests.conftest import Clock, last_position, run, run_batch

LONG_AGO = "2020-01-01"


def person(pid: str, **extra: Any) -> dict[str, Any]:
    return {"type": "register_person", "person_id": pid, "name": pid, "email": f"{pid}@example.org", **extra}


def school_with_principal(ledger: LedgerSystem, clock: Clock) -> None:
    """School S1 whose principal P1 is designated for 2025; staff T1 affiliated."""
    clock.set("2025-07-01T12:00:00Z")
    run_batch(
        ledger,
        [
            {"type": "register_school", "school_id": "S1", "name": "School One", "effective_at": LONG_AGO},
            person("P1", effective_at=LONG_AGO),
            person("T1", effective_at=LONG_AGO),
            {"type": "add_affiliation", "person_id": "T1", "org_id": "S1", "effective_at": LONG_AGO},
            {
                "type": "designate_principal",
                "school_id": "S1",
                "person_id": "P1",
                "exam_year": 2025,
                "effective_at": "2024-09-01",
            },
        ],
    )


def test_the_same_key_and_body_return_the_first_result_and_append_nothing(ledger: LedgerSystem, clock: Clock) -> None:
    first = run(ledger, **person("P1"), idempotency_key="k-1")
    clock.advance(minutes=5)
    run(ledger, **person("P2"))  # the ledger moves on meanwhile
    before = last_position(ledger)
    again = run(ledger, **person("P1"), idempotency_key="k-1")
    assert last_position(ledger) == before
    assert again.position == first.position
    assert again.recorded_at == first.recorded_at
    assert [(e.event_id, e.type, e.position) for e in again.events] == [
        (e.event_id, e.type, e.position) for e in first.events
    ]
    assert again.replayed
    assert not first.replayed


def test_the_first_event_records_its_idempotency_key(ledger: LedgerSystem, clock: Clock) -> None:
    first = run(ledger, **person("P1"), idempotency_key="k-1")
    row = ledger.service.recorder.read_rows(first.position - 1, 1)[0]
    assert ledger.service.mapper.decode(row.stored).idempotency_key == "k-1"


def test_the_same_key_with_another_body_is_refused_and_appends_nothing(ledger: LedgerSystem, clock: Clock) -> None:
    run(ledger, **person("P1"), idempotency_key="k-1")
    before = last_position(ledger)
    with pytest.raises(IdempotencyConflict) as caught:
        run(
            ledger,
            type="register_person",
            person_id="P1",
            name="Someone Else",
            email="else@example.org",
            idempotency_key="k-1",
        )
    assert caught.value.code == "idempotency_key_reused"
    assert last_position(ledger) == before


def test_the_same_key_with_another_command_type_is_refused(ledger: LedgerSystem, clock: Clock) -> None:
    run(ledger, type="register_district", district_id="D1", name="D", idempotency_key="k-1")
    before = last_position(ledger)
    with pytest.raises(IdempotencyConflict):
        run(ledger, type="register_school", school_id="S1", name="S", idempotency_key="k-1")
    assert last_position(ledger) == before


def test_a_refused_command_does_not_consume_its_key(ledger: LedgerSystem, clock: Clock) -> None:
    with pytest.raises(NotFound):
        run(ledger, type="add_affiliation", person_id="P1", org_id="S1", idempotency_key="k-aff")
    run(ledger, type="register_school", school_id="S1", name="S")
    run(ledger, **person("P1"))
    before = last_position(ledger)
    retried = run(ledger, type="add_affiliation", person_id="P1", org_id="S1", idempotency_key="k-aff")
    assert not retried.replayed
    assert [e.type for e in retried.events] == ["AffiliationAdded"]
    assert last_position(ledger) == before + 1


def test_a_batch_whose_third_command_is_refused_records_nothing_and_names_index_2(
    ledger: LedgerSystem, clock: Clock
) -> None:
    run(ledger, type="register_school", school_id="S1", name="S")
    before = last_position(ledger)
    with pytest.raises(BatchRefused) as caught:
        run_batch(
            ledger,
            [
                person("P1", idempotency_key="b-1"),
                {"type": "add_affiliation", "person_id": "P1", "org_id": "S1", "idempotency_key": "b-2"},
                {"type": "add_affiliation", "person_id": "P1", "org_id": "S1", "idempotency_key": "b-3"},  # twice
                person("P2", idempotency_key="b-4"),
            ],
        )
    error = caught.value
    assert error.index == 2
    assert isinstance(error.error, RuleViolation)
    assert error.code == error.error.code == "already_affiliated"
    assert last_position(ledger) == before
    # Nothing of the batch was kept: not its events, not its keys.
    for key in ("b-1", "b-2", "b-3", "b-4"):
        assert ledger.service.recorder.find_idempotency(key) is None
    assert [e.type for e in run(ledger, **person("P1")).events] == ["PersonRegistered"]


def test_a_batch_refused_for_an_unknown_person_names_the_index_and_keeps_the_error_type(
    ledger: LedgerSystem, clock: Clock
) -> None:
    with pytest.raises(BatchRefused) as caught:
        run_batch(ledger, [person("P1"), {"type": "accept_terms", "person_id": "P-NOBODY", "terms_version": "v1"}])
    assert caught.value.index == 1
    assert isinstance(caught.value.error, NotFound)
    assert (caught.value.code, caught.value.rule) == ("unknown_person", "R1")
    assert last_position(ledger) == 0


def test_later_commands_of_a_batch_see_the_earlier_ones(ledger: LedgerSystem, clock: Clock) -> None:
    outcomes = run_batch(
        ledger,
        [
            {"type": "register_school", "school_id": "S1", "name": "S"},
            person("P1"),
            {"type": "add_affiliation", "person_id": "P1", "org_id": "S1"},
            {"type": "accept_terms", "person_id": "P1", "terms_version": "v1"},
        ],
    )
    assert [o.events[0].type for o in outcomes] == [
        "SchoolRegistered",
        "PersonRegistered",
        "AffiliationAdded",
        "TermsAccepted",
    ]
    positions = [o.position for o in outcomes]
    assert positions == sorted(positions)
    assert len(set(positions)) == 4
    assert last_position(ledger) == positions[-1]


def test_a_batch_is_accepted_atomically_with_one_recorded_at(ledger: LedgerSystem, clock: Clock) -> None:
    outcomes = run_batch(ledger, [person("P1"), person("P2"), person("P3")])
    assert len({o.recorded_at for o in outcomes}) == 1


def test_an_empty_batch_is_invalid_input(ledger: LedgerSystem, clock: Clock) -> None:
    with pytest.raises(InvalidInput) as caught:
        ledger.service.execute_batch([], "tester")
    assert caught.value.field == "commands"


def test_a_key_used_twice_within_one_batch_is_invalid_input(ledger: LedgerSystem, clock: Clock) -> None:
    with pytest.raises(InvalidInput) as caught:
        run_batch(ledger, [person("P1", idempotency_key="k"), person("P2", idempotency_key="k")])
    assert caught.value.field == "idempotency_key"
    assert last_position(ledger) == 0


def test_a_batch_replays_an_answered_key_and_appends_only_the_new_commands(ledger: LedgerSystem, clock: Clock) -> None:
    first = run(ledger, **person("P1"), idempotency_key="k-1")
    before = last_position(ledger)
    outcomes = run_batch(ledger, [person("P1", idempotency_key="k-1"), person("P2", idempotency_key="k-2")])
    assert outcomes[0].replayed
    assert outcomes[0].events == first.events
    assert not outcomes[1].replayed
    assert last_position(ledger) == before + 1


def test_a_whole_batch_replayed_appends_nothing(ledger: LedgerSystem, clock: Clock) -> None:
    commands = [person("P1", idempotency_key="k-1"), person("P2", idempotency_key="k-2")]
    first = run_batch(ledger, commands)
    before = last_position(ledger)
    again = run_batch(ledger, commands)
    assert last_position(ledger) == before
    assert [o.events for o in again] == [o.events for o in first]


def test_a_replayed_issue_of_an_access_code_never_returns_the_code_again(ledger: LedgerSystem, clock: Clock) -> None:
    school_with_principal(ledger, clock)
    first = run(ledger, type="issue_access_code", school_id="S1", exam_year=2025, idempotency_key="issue-1")
    code = first.result["code"]
    assert isinstance(code, str)
    assert code
    before = last_position(ledger)
    again = run(ledger, type="issue_access_code", school_id="S1", exam_year=2025, idempotency_key="issue-1")
    assert last_position(ledger) == before
    assert again.result["code"] is None
    assert again.events == first.events
    record = ledger.service.recorder.find_idempotency("issue-1")
    assert record is not None
    response = bytes(record.response).upper()
    assert code.encode() not in response
    assert code.replace("-", "").encode() not in response
    # The code that was returned once still works.
    redeemed = run(ledger, type="redeem_access_code", school_id="S1", exam_year=2025, person_id="T1", code=code)
    assert redeemed.result["staff"] is True


def test_a_redemptions_idempotency_record_does_not_contain_the_code(ledger: LedgerSystem, clock: Clock) -> None:
    school_with_principal(ledger, clock)
    code = run(ledger, type="issue_access_code", school_id="S1", exam_year=2025).result["code"]
    redemption = {
        "type": "redeem_access_code",
        "school_id": "S1",
        "exam_year": 2025,
        "person_id": "T1",
        "code": code,
        "idempotency_key": "redeem-1",
    }
    first = run(ledger, **redemption)
    before = last_position(ledger)
    again = run(ledger, **redemption)
    assert last_position(ledger) == before
    assert again.events == first.events
    record = ledger.service.recorder.find_idempotency("redeem-1")
    assert record is not None
    for blob in (bytes(record.response).upper(), record.request_hash.upper().encode()):
        assert code.encode() not in blob
        assert code.replace("-", "").encode() not in blob


def test_a_refused_batch_does_not_consume_the_keys_of_its_valid_commands(ledger: LedgerSystem, clock: Clock) -> None:
    with pytest.raises(BatchRefused):
        run_batch(ledger, [person("P1", idempotency_key="k-1"), person("P1", idempotency_key="k-2")])
    outcome = run(ledger, **person("P1"), idempotency_key="k-1")
    assert not outcome.replayed
    # P1 exists now: the retry of the refused command is judged afresh, not replayed.
    with pytest.raises(RuleViolation) as caught:
        run(ledger, **person("P1"), idempotency_key="k-2")
    assert caught.value.code == "already_registered"
    assert ledger.service.recorder.find_idempotency("k-2") is None


def test_a_batch_with_a_wrong_code_records_only_the_failure_and_none_of_its_commands(
    ledger: LedgerSystem, clock: Clock
) -> None:
    school_with_principal(ledger, clock)
    right = run(ledger, type="issue_access_code", school_id="S1", exam_year=2025).result["code"]
    wrong = "ABCD-EFGH-JKMN" if right != "ABCD-EFGH-JKMN" else "ABCD-EFGH-JKMP"
    before = last_position(ledger)
    with pytest.raises(BatchRefused) as caught:
        run_batch(
            ledger,
            [
                person("P2", idempotency_key="w-1"),
                {"type": "redeem_access_code", "school_id": "S1", "exam_year": 2025, "person_id": "T1", "code": wrong},
            ],
        )
    assert caught.value.index == 1
    assert (caught.value.code, caught.value.rule) == ("wrong_code", "R10")
    # R10: the failure is recorded for auditors and the lockout; the batch's other command is not.
    types = [ledger.service.mapper.decode(r.stored).type for r in ledger.service.recorder.read_rows(before, 100)]
    assert types == ["AccessCodeRedemptionFailed"]
    assert ledger.service.recorder.find_idempotency("w-1") is None
    assert [e.type for e in run(ledger, **person("P2")).events] == ["PersonRegistered"]
