"""A batch — what `ledger import` sends — is written with the store's bulk path (COPY on PostgreSQL,
one executemany on SQLite) and records what the same commands would record one by one: a chain and a
Merkle tree that verify, idempotency records that answer a re-run, and nothing at all when one command
of the batch is refused."""

from __future__ import annotations

import gc
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import merkle
from ledger.errors import BatchRefused
from projections.system import LedgerSystem
from storage import tree
from storage.evidence import LogEvidence
from storage.ids import uuid7
from storage.integrity import GENESIS, chain_hash
from storage.verification import run_verification
from tests.conftest import Clock, last_position, run, run_batch


def teacher(n: int) -> list[dict[str, Any]]:
    """A new teacher joining school S1: four commands, with the keys `ledger import` would give them."""
    pid = f"T{n}"
    return [
        {"type": "register_person", "person_id": pid, "name": f"Teacher {n}", "email": f"t{n}@example.org"},
        {"type": "add_affiliation", "person_id": pid, "org_id": "S1"},
        {"type": "accept_terms", "person_id": pid, "terms_version": "v1"},
        {"type": "update_profile", "person_id": pid, "name": f"Teacher {n}", "email": f"t{n}@example.org"},
    ]


def keyed(commands: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [{**c, "idempotency_key": f"{prefix}-{i}"} for i, c in enumerate(commands)]


def test_a_large_batch_is_recorded_in_order_with_a_chain_and_tree_that_verify(
    ledger: LedgerSystem, clock: Clock
) -> None:
    run(ledger, type="register_school", school_id="S1", name="S")
    commands = keyed([c for n in range(150) for c in teacher(n)], "imp")
    outcomes = run_batch(ledger, commands)
    positions = [o.position for o in outcomes]
    assert positions == list(range(2, 2 + len(commands)))
    recorder = ledger.service.recorder
    rows = recorder.read_rows(0, 10_000)
    assert [r.position for r in rows] == list(range(1, len(commands) + 2))
    chain = GENESIS
    for row in rows:
        chain = chain_hash(chain, row.position, row.stored, row.event_id)
        assert row.chain == chain
    leaves = [tree.leaf_of(row) for row in rows]
    assert recorder.tree_size() == len(leaves)
    assert tree.root_at(len(leaves), recorder.read_nodes) == merkle.root_of(leaves)
    assert run_verification(recorder, LogEvidence(recorder, Ed25519PrivateKey.generate()), full=True).ok


def test_a_large_batch_run_again_is_answered_from_its_idempotency_records_and_appends_nothing(
    ledger: LedgerSystem, clock: Clock
) -> None:
    run(ledger, type="register_school", school_id="S1", name="S")
    commands = keyed([c for n in range(100) for c in teacher(n)], "imp")
    first = run_batch(ledger, commands)
    before = last_position(ledger)
    clock.advance(minutes=5)
    again = run_batch(ledger, commands)
    assert last_position(ledger) == before
    assert all(o.replayed for o in again)
    assert [o.events for o in again] == [o.events for o in first]


def test_a_large_batch_with_one_refused_command_records_nothing_and_names_it(
    ledger: LedgerSystem, clock: Clock
) -> None:
    run(ledger, type="register_school", school_id="S1", name="S")
    commands = keyed([c for n in range(100) for c in teacher(n)], "imp")
    commands.insert(321, {"type": "add_affiliation", "person_id": "T3", "org_id": "S1"})  # T3 is affiliated
    before = last_position(ledger)
    with pytest.raises(BatchRefused) as caught:
        run_batch(ledger, commands)
    assert (caught.value.index, caught.value.code) == (321, "already_affiliated")
    assert last_position(ledger) == before
    assert ledger.service.recorder.tree_size() == before
    assert ledger.service.recorder.find_idempotency("imp-0") is None
    # The next batch follows the log as it is: positions, chain and tree carry on from `before`.
    outcomes = run_batch(ledger, commands[:321])
    assert outcomes[-1].position == before + 321
    assert ledger.service.recorder.tree_size() == before + 321


def test_the_garbage_collector_runs_again_after_a_batch_whether_recorded_or_refused(
    ledger: LedgerSystem, clock: Clock
) -> None:
    run(ledger, type="register_school", school_id="S1", name="S")
    run_batch(ledger, teacher(1))
    assert gc.isenabled()
    with pytest.raises(BatchRefused):
        run_batch(ledger, [*teacher(2), *teacher(2)])
    assert gc.isenabled()


def test_event_ids_are_uuid7_strings_that_grow_with_time() -> None:
    ids = [uuid7() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:50]:
        parsed = UUID(value)
        assert (parsed.version, parsed.variant, str(parsed)) == (7, "specified in RFC 4122", value)
    millis = [UUID(v).int >> 80 for v in ids]
    assert millis == sorted(millis)


def test_a_rebuild_replays_with_the_collector_paused_and_leaves_it_running(
    ledger: LedgerSystem, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(ledger, type="register_school", school_id="S1", name="S")
    run_batch(ledger, teacher(1))
    end = last_position(ledger)
    collector_during: list[bool] = []
    process = ledger.view.process

    def spy(facts: Any, voids: Any, last_position: int) -> None:
        collector_during.append(gc.isenabled())
        process(facts, voids, last_position)

    monkeypatch.setattr(ledger.view, "process", spy)
    assert ledger.runner.rebuild() == end
    assert collector_during
    assert not any(collector_during)
    assert gc.isenabled()
