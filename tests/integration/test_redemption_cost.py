"""What one request may make the ledger hash, and that every access code judged leaves a trace (R10).

- redemptions refused without judging the code (unknown person, unknown school, no code for the
  year, a locked-out person, no affiliation) hash nothing, however many a batch holds;
- a person gets at most as many codes judged in one request as the lockout still allows them;
- hashing stops at the first code that matches nothing (the batch ends there);
- over the per-request cap, a batch is refused before any code is hashed;
- a right code in a batch that is refused all the same, or refused itself once found right,
  is recorded as a failed attempt that counts toward the lockout: guessing through a batch
  confirms no code without a trace.

On memory, SQLite and PostgreSQL; argon2id calls are counted by a wrapping hasher.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bootstrap import open_ledger
from ledger.commands import parse_command
from ledger.errors import BatchRefused, InvalidInput, LedgerError, LockedOut
from ledger.events import AccessCodeRedemptionFailed, person_stream
from projections.system import LedgerSystem
from storage.codes import CodeHasher
from tests.conftest import CALENDAR, Clock
from tests.integration.test_lockout import START, WRONG, world_commands


@dataclass(frozen=True)
class CountingHasher(CodeHasher):
    """The hasher the ledger is given, counting the codes it compares."""

    compared: list[str] = field(default_factory=list)

    def matches(self, code: str, digest: str) -> bool:
        self.compared.append(digest)
        return super().matches(code, digest)


@dataclass
class World:
    ledger: LedgerSystem
    hasher: CountingHasher
    codes: dict[str, str]

    def batch(self, commands: list[dict[str, Any]]) -> Any:
        return self.ledger.service.execute_batch([parse_command(c) for c in commands], "registrar")

    def refused(self, commands: list[dict[str, Any]]) -> LedgerError:
        self.hasher.compared.clear()
        with pytest.raises(LedgerError) as caught:
            self.batch(commands)
        return caught.value

    def position(self) -> int:
        return self.ledger.service.recorder.last_position()

    def failures(self, person: str) -> list[AccessCodeRedemptionFailed]:
        return self.ledger.service.stream(person_stream(person)).of(AccessCodeRedemptionFailed)


def redeem(person: str, code: str, school: str = "S1") -> dict[str, Any]:
    return {"type": "redeem_access_code", "school_id": school, "exam_year": 2025, "person_id": person, "code": code}


def open_world(store_url: str, clock: Clock, hasher: CountingHasher, max_code_checks: int | None) -> World:
    ledger = open_ledger(
        store_url, calendar=CALENDAR, clock=clock, hasher=hasher, follow=False, max_code_checks=max_code_checks
    )
    clock.set(START)
    outcomes = ledger.service.execute_batch([parse_command(c) for c in world_commands()], "registrar")
    return World(ledger, hasher, {"S1": outcomes[-2].result["code"], "S2": outcomes[-1].result["code"]})


@pytest.fixture
def world(store_url: str, clock: Clock) -> Iterator[World]:
    """The lockout tests' world (persons A and B at S1 and S2, a code for each), cheap digests, 20 checks a request."""
    opened = open_world(store_url, clock, CountingHasher(time_cost=1, memory_cost_kib=64), 20)
    yield opened
    opened.ledger.close()


@pytest.fixture
def costly(store_url: str, clock: Clock) -> Iterator[World]:
    """The same world with the production argon2id parameters (m=19 MiB, t=2): each check costs for real."""
    opened = open_world(store_url, clock, CountingHasher(), 20)
    yield opened
    opened.ledger.close()


# --- refusals that need no code are decided before any hashing ------------------------------------------------


@pytest.mark.parametrize(
    ("person", "school", "year", "error_code"),
    [
        ("NOBODY", "S1", 2025, "unknown_person"),
        ("A", "NOWHERE", 2025, "unknown_school"),
        ("A", "S1", 2024, "code_not_found"),
    ],
)
def test_a_thousand_redemptions_refused_without_their_code_hash_nothing_and_answer_fast(
    costly: World, person: str, school: str, year: int, error_code: str
) -> None:
    commands = [{**redeem(person, WRONG[0], school), "exam_year": year} for _ in range(1000)]
    before = costly.position()

    started, cpu = time.perf_counter(), time.process_time()
    error = costly.refused(commands)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu

    assert isinstance(error, BatchRefused)
    assert (error.index, error.code) == (0, error_code)
    assert costly.hasher.compared == []
    assert costly.position() == before
    assert wall < 2, wall
    assert cpu < 2, cpu


def test_redemptions_of_a_locked_out_person_hash_nothing(world: World) -> None:
    for guess in WRONG[:5]:
        world.refused([redeem("A", guess)])
    commands = [redeem("A", world.codes["S1"]) for _ in range(200)]

    error = world.refused(commands)

    assert isinstance(error, BatchRefused)
    assert isinstance(error.error, LockedOut)
    assert world.hasher.compared == []


def test_a_redemption_for_a_school_the_person_is_not_affiliated_with_hashes_nothing(world: World) -> None:
    world.batch([{"type": "end_affiliation", "person_id": "B", "org_id": "S2"}])

    error = world.refused([redeem("B", world.codes["S2"], "S2") for _ in range(100)])

    assert error.code == "not_affiliated"
    assert world.hasher.compared == []


def test_a_redemption_after_the_command_that_affiliates_the_person_is_still_judged(world: World) -> None:
    world.batch([{"type": "end_affiliation", "person_id": "B", "org_id": "S2"}])

    outcomes = world.batch(
        [{"type": "add_affiliation", "person_id": "B", "org_id": "S2"}, redeem("B", world.codes["S2"], "S2")]
    )

    assert outcomes[1].events[0].type == "AccessCodeRedeemed"
    assert len(world.hasher.compared) == 1


# --- a person gets no more judgements than the lockout allows ---------------------------------------------------


def test_hashing_stops_at_the_first_wrong_code_and_only_that_failure_is_recorded(costly: World) -> None:
    before = costly.position()

    error = costly.refused([redeem("A", guess) for guess in WRONG[:5]] * 10)

    assert error.code == "wrong_code"
    assert len(costly.hasher.compared) == 1
    assert costly.position() == before + 1
    assert [f.reason for f in costly.failures("A")] == ["wrong code"]


def test_a_person_with_two_attempts_left_gets_two_codes_judged_and_the_rest_are_refused_as_locked_out(
    world: World,
) -> None:
    for guess in WRONG[:3]:
        world.refused([redeem("A", guess)])

    error = world.refused(
        [redeem("A", world.codes["S1"]), redeem("A", world.codes["S2"], "S2"), redeem("A", world.codes["S1"])]
    )

    assert isinstance(error, BatchRefused)
    assert isinstance(error.error, LockedOut)
    assert error.index == 2
    assert len(world.hasher.compared) == 2
    # The two codes judged right are recorded as attempts: A has used up the five.
    assert [f.reason for f in world.failures("A")][3:] == [
        "right code, but command 2 of the batch was refused (locked_out)"
    ] * 2
    assert isinstance(world.refused([redeem("A", world.codes["S1"])]).error, LockedOut)  # type: ignore[attr-defined]


# --- the per-request cap -----------------------------------------------------------------------------------------


def test_a_batch_needing_more_checks_than_the_cap_is_refused_before_any_hashing_whatever_its_codes(
    store_url: str, clock: Clock
) -> None:
    capped = open_world(store_url, clock, CountingHasher(time_cost=1, memory_cost_kib=64), 2)
    try:
        before = capped.position()
        for codes in ((capped.codes["S1"], capped.codes["S2"]), (WRONG[0], WRONG[1])):
            error = capped.refused([redeem("A", codes[0]), redeem("B", codes[1], "S2"), redeem("B", codes[0])])

            assert isinstance(error, InvalidInput)
            assert (error.code, error.field) == ("too_many_code_checks", "commands")
            assert capped.hasher.compared == []
        assert capped.position() == before
        assert capped.batch([redeem("A", capped.codes["S1"])])[0].events[0].type == "AccessCodeRedeemed"
    finally:
        capped.ledger.close()


# --- every code judged leaves a trace ---------------------------------------------------------------------------


def test_a_right_code_in_a_batch_refused_later_is_recorded_as_an_attempt_and_counts_toward_the_lockout(
    world: World,
) -> None:
    certain_to_fail = {"type": "add_affiliation", "person_id": "NOBODY", "org_id": "S1"}
    before = world.position()

    error = world.refused([redeem("A", world.codes["S1"]), certain_to_fail])

    assert isinstance(error, BatchRefused)
    assert (error.index, error.code) == (1, "unknown_person")
    assert world.position() == before + 1
    (failure,) = world.failures("A")
    assert failure.reason == "right code, but command 1 of the batch was refused (unknown_person)"
    assert world.codes["S1"] not in repr(failure)
    assert world.ledger.service.stream("school:S1").of(AccessCodeRedemptionFailed) == []
    for _ in range(4):
        world.refused([redeem("A", world.codes["S1"]), certain_to_fail])
    assert isinstance(world.refused([redeem("A", world.codes["S1"])]).error, LockedOut)  # type: ignore[attr-defined]


def test_a_right_code_before_a_reused_idempotency_key_is_recorded_as_an_attempt(world: World) -> None:
    world.batch([{"type": "accept_terms", "person_id": "B", "terms_version": "v2", "idempotency_key": "k-1"}])
    reused = {"type": "accept_terms", "person_id": "B", "terms_version": "v3", "idempotency_key": "k-1"}

    error = world.refused([redeem("A", world.codes["S1"]), reused])

    assert (error.index, error.code) == (1, "idempotency_key_reused")  # type: ignore[attr-defined]
    assert [f.reason for f in world.failures("A")] == [
        "right code, but command 1 of the batch was refused (idempotency_key_reused)"
    ]


def test_a_batch_refused_before_any_redemption_is_judged_records_nothing(world: World) -> None:
    before = world.position()

    error = world.refused(
        [{"type": "add_affiliation", "person_id": "NOBODY", "org_id": "S1"}, redeem("A", world.codes["S1"])]
    )

    assert (error.index, error.code) == (0, "unknown_person")  # type: ignore[attr-defined]
    assert world.position() == before
    assert world.failures("A") == []
