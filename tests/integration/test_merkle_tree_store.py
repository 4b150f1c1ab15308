"""The log's Merkle tree is kept by every append, in the same transaction, on every store: its root at
every size equals a recomputation from the stored rows, each event's proof verifies, and a database
written before the tree existed is caught up when opened."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bootstrap import open_ledger
from ledger import merkle
from ledger.commands import parse_command
from projections.system import LedgerSystem
from storage import tree
from storage.evidence import BadSize, LogEvidence
from storage.memory_recorder import POPOLedgerRecorder
from storage.recorders import Row
from tests.conftest import CALENDAR, FAST_HASHER, Clock, run


def register_people(system: LedgerSystem, n: int, clock: Clock, prefix: str = "p") -> None:
    for i in range(n):
        clock.advance(minutes=1)
        run(
            system,
            type="register_person",
            person_id=f"{prefix}{i}",
            name=f"Person {i}",
            email=f"{prefix}{i}@example.org",
        )


def leaves_from_rows(system: LedgerSystem) -> list[bytes]:
    return [tree.leaf_of(row) for row in system.service.recorder.read_rows(0, 10_000)]


def test_the_stored_tree_has_the_root_of_the_stored_rows_at_every_size_and_proves_every_event(
    ledger: LedgerSystem, clock: Clock
) -> None:
    register_people(ledger, 9, clock)
    batch = [
        parse_command({"type": "register_person", "person_id": f"b{i}", "name": f"B {i}", "email": f"b{i}@example.org"})
        for i in range(4)
    ]
    ledger.service.execute_batch(batch, "tester")
    recorder = ledger.service.recorder
    leaves = leaves_from_rows(ledger)
    assert recorder.tree_size() == len(leaves) == recorder.last_position() == 13
    assert recorder.latest_head == (13, merkle.root_of(leaves))
    for size in range(1, len(leaves) + 1):
        root = tree.root_at(size, recorder.read_nodes)
        assert root == merkle.root_of(leaves[:size])
        for index in range(size):
            path = tree.proof_hashes(merkle.inclusion_ranges(index, size), recorder.read_nodes)
            assert merkle.verify_inclusion(leaves[index], index, size, path, root)
        for first in range(size + 1):
            proof = tree.proof_hashes(merkle.consistency_ranges(first, size), recorder.read_nodes)
            first_root = tree.root_at(first, recorder.read_nodes) if first else merkle.EMPTY_ROOT
            assert merkle.verify_consistency(first, size, first_root, root, proof)


def test_a_proof_reads_its_nodes_and_both_heads_roots_in_one_query(ledger: LedgerSystem, clock: Clock) -> None:
    register_people(ledger, 11, clock)
    recorder = ledger.service.recorder
    evidence = LogEvidence(recorder, Ed25519PrivateKey.generate())
    reads: list[str] = []
    read_nodes, locate_with_nodes = recorder.read_nodes, recorder.locate_with_nodes

    def counted(nodes: Sequence[merkle.Node]) -> dict[merkle.Node, bytes]:
        reads.append("nodes")
        return read_nodes(nodes)

    def counted_locate(
        event_id: str, nodes_for: Callable[[Row, int], Sequence[merkle.Node]]
    ) -> tuple[Row | None, dict[merkle.Node, bytes]]:
        reads.append("row, then nodes")
        return locate_with_nodes(event_id, nodes_for)

    recorder.read_nodes = counted  # type: ignore[method-assign]
    recorder.locate_with_nodes = counted_locate  # type: ignore[method-assign]
    rows = recorder.read_rows(0, 100)
    proof = evidence.inclusion(rows[4].event_id, 9)
    # A memory store reads its nodes through read_nodes, under the same call.
    memory = isinstance(recorder, POPOLedgerRecorder)
    assert reads == (["row, then nodes", "nodes"] if memory else ["row, then nodes"])
    leaf = bytes.fromhex(proof["leaf_hash"])
    path = [bytes.fromhex(h) for h in proof["audit_path"]]
    assert merkle.verify_inclusion(leaf, 4, 9, path, bytes.fromhex(proof["head"]["root_hash"]))
    reads.clear()
    answer = evidence.consistency(5, 11)
    assert reads == ["nodes"]
    assert merkle.verify_consistency(
        5,
        11,
        bytes.fromhex(answer["first_head"]["root_hash"]),
        bytes.fromhex(answer["second_head"]["root_hash"]),
        [bytes.fromhex(h) for h in answer["proof"]],
    )
    with pytest.raises(BadSize, match="second: the log holds 11 events, not 12"):
        evidence.consistency(5, 12)


def test_a_refused_command_adds_nothing_to_the_tree(ledger: LedgerSystem, clock: Clock) -> None:
    register_people(ledger, 2, clock)
    before = ledger.service.recorder.tree_size()
    with pytest.raises(Exception, match="already"):
        run(ledger, type="register_person", person_id="p0", name="Again", email="again@example.org")
    assert ledger.service.recorder.tree_size() == before == ledger.service.recorder.last_position()


def forget_tree(url: str, recorder: object) -> None:
    """A database from before the tree: its tree table emptied."""
    if isinstance(recorder, POPOLedgerRecorder):
        recorder._tree.clear()
        recorder._tree_size = 0
    elif url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("DELETE FROM ledger_tree")
    else:
        schema = url.split("schema=")[1].split("&")[0]
        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            conn.execute(f'DELETE FROM "{schema}".ledger_events_tree')


def test_a_database_written_before_the_tree_is_caught_up_when_opened(store_url: str, clock: Clock) -> None:
    system = open_ledger(store_url, calendar=CALENDAR, clock=clock, hasher=FAST_HASHER, follow=False)
    try:
        register_people(system, 5, clock)
        expected = merkle.root_of(leaves_from_rows(system))
        forget_tree(store_url, system.service.recorder)
        assert system.service.recorder.tree_size() == 0
        if store_url == "memory://":
            system.service.recorder.catch_up_tree()
        else:
            system.close()
            system = open_ledger(store_url, calendar=CALENDAR, clock=clock, hasher=FAST_HASHER, follow=False)
        assert tree.root_at(5, system.service.recorder.read_nodes) == expected
        register_people(system, 1, clock, prefix="q")  # and appends continue the same tree
        assert tree.root_at(6, system.service.recorder.read_nodes) == merkle.root_of(leaves_from_rows(system))
    finally:
        system.close()


def test_two_writers_taking_turns_keep_one_tree(store_url: str, clock: Clock) -> None:
    if store_url == "memory://":
        pytest.skip("a memory store lives in one process")
    first = open_ledger(store_url, calendar=CALENDAR, clock=clock, hasher=FAST_HASHER, follow=False)
    second = open_ledger(store_url, calendar=CALENDAR, clock=clock, hasher=FAST_HASHER, follow=False)
    try:
        for turn in range(6):  # each writer's remembered right edge goes stale when the other appends
            writer = first if turn % 3 else second
            register_people(writer, 2, clock, prefix=f"t{turn}-")
        leaves = leaves_from_rows(first)
        assert len(leaves) == 12
        assert tree.root_at(12, first.service.recorder.read_nodes) == merkle.root_of(leaves)
    finally:
        first.close()
        second.close()
