"""Previewing a correction on every store: the decision and the access it would change, with nothing recorded.

The scenario of `test_queries` without its late removal: staff member AS holds S1's 2025 code
from Jul 9, 2025 until the code expires (Aug 1, 2026); T1 teaches at S1.
"""

from __future__ import annotations

import pytest

from ledger.access.vocabulary import Role
from ledger.commands import parse_command
from ledger.errors import BatchRefused, InvalidInput, LedgerError
from projections.preview import ADDED, ENDS_EARLIER, REMOVED, AccessDifference, access_difference
from projections.system import LedgerSystem
from storage.outcomes import Preview
from tests.conftest import Clock, caught_up, ny, run, run_batch
from tests.integration.test_queries import AUG_1_2026, OCT_1_2025, scenario


def preview(led: LedgerSystem, **command: object) -> tuple[Preview, AccessDifference]:
    decided = led.service.preview([parse_command(command)], "support-desk")
    caught_up(led)
    return decided, access_difference(led.queries, [e for _, e in decided.events], decided.position)


def test_a_late_removal_previews_as_the_staff_interval_ending_earlier_and_records_nothing(
    ledger: LedgerSystem, clock: Clock
) -> None:
    year = scenario(ledger, clock, late_removal=False)
    clock.set("2025-10-15T12:00:00")
    last = ledger.service.recorder.last_position()
    removal = {
        "type": "remove_access",
        "person_id": "AS",
        "org_id": "S1",
        "removed_by": "PR",
        "effective_at": "2025-10-01",
        "idempotency_key": "late-removal-1",
    }
    decided, difference = preview(ledger, **removal)

    assert [e.type for _, e in decided.events] == ["AccessRemoved"]
    assert [p for p, _ in decided.events] == [last + 1]
    assert decided.position == last
    (change,) = difference.changes
    assert (change.person_id, change.org_id, change.role, change.change) == (
        "AS",
        "S1",
        Role.SCHOOL_ADMIN,
        ENDS_EARLIER,
    )
    assert change.before is not None
    assert change.after is not None
    assert (change.before.valid_from, change.before.valid_to) == (year.redeemed_at, AUG_1_2026)
    assert (change.after.valid_from, change.after.valid_to) == (year.redeemed_at, OCT_1_2025)
    assert "AS" in difference.persons

    # Nothing was recorded, and the idempotency key is still free: the real command appends.
    assert ledger.service.recorder.last_position() == last
    assert ledger.service.recorder.find_idempotency("late-removal-1") is None
    outcome = run(ledger, **removal)
    assert outcome.position == last + 1
    assert not outcome.replayed
    intervals = caught_up(ledger).queries.timeline("AS").intervals
    assert any(i.valid_to == OCT_1_2025 and i.known_to is None for i in intervals)


def test_voiding_a_redemption_previews_as_the_interval_ending_altogether(ledger: LedgerSystem, clock: Clock) -> None:
    year = scenario(ledger, clock, late_removal=False)
    last = ledger.service.recorder.last_position()
    _, difference = preview(ledger, type="void_event", event_id=year.redemption, reason="redeemed by mistake")
    (change,) = difference.changes
    assert (change.person_id, change.change, change.after) == ("AS", REMOVED, None)
    assert change.before is not None
    assert year.redemption in change.before.sources
    assert ledger.service.recorder.last_position() == last


def test_a_backdated_grant_previews_as_a_new_interval(ledger: LedgerSystem, clock: Clock) -> None:
    scenario(ledger, clock, late_removal=False)
    _, difference = preview(
        ledger,
        type="grant_system_access",
        person_id="T1",
        org_id="S1",
        system="course_audit",
        effective_at="2025-09-01",
    )
    started = [c for c in difference.changes if c.change == ADDED]
    assert [(c.person_id, c.role) for c in started] == [("T1", Role.SCHOOL_ADMIN)]
    assert started[0].after is not None
    assert started[0].after.valid_from == ny(2025, 9, 1)


def test_a_refused_preview_raises_the_rule_and_records_nothing(ledger: LedgerSystem, clock: Clock) -> None:
    scenario(ledger, clock, late_removal=False)
    last = ledger.service.recorder.last_position()
    with pytest.raises(LedgerError) as refused:
        ledger.service.preview(
            [parse_command({"type": "remove_access", "person_id": "AS", "org_id": "S1", "removed_by": "T1"})],
            "support-desk",
        )
    assert refused.value.rule == "R14"
    assert ledger.service.recorder.last_position() == last


def test_a_redemption_is_not_previewed_so_no_code_is_judged_without_a_trace(ledger: LedgerSystem, clock: Clock) -> None:
    scenario(ledger, clock, late_removal=False)
    last = ledger.service.recorder.last_position()
    with pytest.raises(LedgerError) as refused:
        ledger.service.preview(
            [
                parse_command(
                    {
                        "type": "redeem_access_code",
                        "school_id": "S1",
                        "exam_year": 2025,
                        "person_id": "T1",
                        "code": "not-the-code-0000",
                    }
                )
            ],
            "support-desk",
        )
    assert (refused.value.code, refused.value.rule) == ("redemption_not_previewable", "R10")
    assert ledger.service.recorder.last_position() == last


# --- a batch ----------------------------------------------------------------------------------------


def test_a_batch_previews_decided_together_with_the_access_changes_of_the_whole_batch(
    ledger: LedgerSystem, clock: Clock
) -> None:
    year = scenario(ledger, clock, late_removal=False)
    clock.set("2025-10-15T12:00:00")
    last = ledger.service.recorder.last_position()
    batch = [
        {"type": "register_person", "person_id": "NEW", "name": "New", "email": "new@x.org", "idempotency_key": "n1"},
        {"type": "accept_terms", "person_id": "NEW", "terms_version": "v1", "idempotency_key": "n2"},
        {"type": "add_affiliation", "person_id": "NEW", "org_id": "S1", "idempotency_key": "n3"},
        {"type": "grant_system_access", "person_id": "NEW", "org_id": "S1", "system": "course_audit"},
        {"type": "void_event", "event_id": year.redemption, "reason": "redeemed by mistake", "idempotency_key": "n5"},
    ]
    decided = ledger.service.preview([parse_command(c) for c in batch], "support-desk", batch=True)
    caught_up(ledger)
    difference = access_difference(ledger.queries, [e for _, e in decided.events], decided.position)

    assert decided.position == last
    assert [p for p, _ in decided.events] == list(range(last + 1, last + 1 + len(decided.events)))
    assert [e.type for _, e in decided.events][-2:] == ["SystemAccessGranted", "EventVoided"]
    assert decided.replayed == (False,) * 5
    changes = {(c.person_id, c.change) for c in difference.changes}
    assert changes == {("NEW", ADDED), ("AS", REMOVED)}

    # Nothing recorded, no key used: the real batch appends the same events.
    assert ledger.service.recorder.last_position() == last
    assert all(ledger.service.recorder.find_idempotency(k) is None for k in ("n1", "n2", "n3", "n5"))
    outcomes = run_batch(ledger, batch)
    assert [e.type for o in outcomes for e in o.events] == [e.type for _, e in decided.events]
    assert outcomes[-1].position == decided.events[-1][0]


def test_a_refused_batch_preview_names_the_command_and_records_nothing(ledger: LedgerSystem, clock: Clock) -> None:
    scenario(ledger, clock, late_removal=False)
    last = ledger.service.recorder.last_position()
    for batch in (
        [{"type": "remove_access", "person_id": "AS", "org_id": "S1", "removed_by": "T1"}],
        [
            {"type": "register_person", "person_id": "NEW", "name": "New", "email": "new@x.org"},
            {"type": "remove_access", "person_id": "AS", "org_id": "S1", "removed_by": "T1"},
        ],
    ):
        commands = [parse_command(c) for c in batch]
        with pytest.raises(BatchRefused) as previewed:
            ledger.service.preview(commands, "support-desk", batch=True)
        with pytest.raises(BatchRefused) as real:
            ledger.service.execute_batch(commands, "registrar")
        assert (
            (previewed.value.index, previewed.value.rule)
            == (real.value.index, real.value.rule)
            == (
                len(batch) - 1,
                "R14",
            )
        )
    assert ledger.service.recorder.last_position() == last


def test_a_batch_preview_refuses_an_idempotency_key_given_twice(ledger: LedgerSystem, clock: Clock) -> None:
    scenario(ledger, clock, late_removal=False)
    twice = [
        parse_command({"type": "accept_terms", "person_id": p, "terms_version": "v2", "idempotency_key": "same"})
        for p in ("T1", "T2")
    ]
    with pytest.raises(InvalidInput) as refused:
        ledger.service.preview(twice, "support-desk", batch=True)
    assert refused.value.field == "idempotency_key"
