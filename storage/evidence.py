"""Signed tree heads, proofs and receipts over the stored tree (what the log's HTTP endpoints answer).

Every answer is read from the complete nodes stored at append time (`storage.tree`): a head, an
inclusion or a consistency proof reads O(log n) nodes, whatever the log's size, in one query (an
inclusion proof first finds its event's row).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import merkle
from ledger.verify import keyring, log_id, public_key_bytes, sign_head
from storage import tree
from storage.recorders import LedgerRecorder, Row


class NotInLog(LookupError):
    """An event id the log does not hold (`field` names the parameter)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class BadSize(NotInLog, ValueError):
    """A tree size the log cannot answer for (beyond its end, or first after second)."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class LogEvidence:
    """The log's signer and prover for one store."""

    def __init__(
        self,
        recorder: LedgerRecorder,
        key: Ed25519PrivateKey,
        previous: Sequence[bytes] = (),
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self.recorder = recorder
        self.key = key
        self.public_key = public_key_bytes(key.public_key())
        self.log_id = log_id(self.public_key)
        self.previous = [p for p in previous if p != self.public_key]  # keys that signed earlier heads
        self.keys = keyring([self.public_key, *self.previous])  # what this log's heads are checked with
        self.clock_ms = clock_ms
        self._last: dict[str, Any] | None = None  # the newest head signed, answered again while the tree is the same

    def key_json(self) -> dict[str, Any]:
        """The signing key, and the earlier keys whose heads still verify (after a rotation)."""

        def one(key: bytes) -> dict[str, Any]:
            return {"algorithm": "ed25519", "public_key": base64.b64encode(key).decode(), "log_id": log_id(key)}

        return {**one(self.public_key), "previous_keys": [one(key) for key in self.previous]}

    def signed(self, size: int, root: bytes) -> dict[str, Any]:
        last = self._last
        if last is not None and last["tree_size"] == size and last["root_hash"] == root.hex():
            return last
        head = sign_head(self.key, size, root, self.clock_ms())
        if last is None or size >= last["tree_size"]:
            self._last = head
        return head

    def _read(
        self, sizes: Sequence[tuple[int, str]], ranges: Sequence[merkle.Range] = ()
    ) -> tuple[list[bytes], list[bytes]]:
        """The roots of the trees of these (size, parameter) and the hashes of `ranges`, in one read of
        the nodes they need; a size beyond the log's end is BadSize naming its parameter."""
        try:
            return tree.read_proof(self.recorder.read_nodes, [size for size, _ in sizes], ranges)
        except tree.TreeBehind:
            latest = self.recorder.tree_size()  # only on this path: nodes are written once, never changed
            for size, field in sorted(sizes, reverse=True):
                if size > latest:
                    raise BadSize(f"{field}: the log holds {latest} events, not {size}", field) from None
            raise

    def root(self, size: int) -> bytes:
        return self._read([(size, "tree_size")])[0][0]

    def head(self, size: int | None = None, field: str = "tree_size") -> dict[str, Any]:
        """The signed head of the tree of `size` events (default: the latest)."""
        if size is None:
            size = self.recorder.tree_size()
        return self.signed(size, self.root(size) if size else merkle.EMPTY_ROOT)

    def head_covering(self, position: int) -> dict[str, Any]:
        """A signed head whose tree holds `position` (this process's newest commit when it does)."""
        known = self.recorder.latest_head
        if known is not None and known[0] >= position:
            return self.signed(*known)
        return self.head()

    def leaf_hashes(self, positions: Sequence[int]) -> list[dict[str, Any]]:
        recent = self.recorder.latest_leaves  # the last append's, at hand for its receipt
        if all(p in recent for p in positions):
            return [{"position": p, "leaf_hash": recent[p].hex()} for p in positions]
        nodes = self.recorder.read_nodes([(0, p - 1) for p in positions])
        return [{"position": p, "leaf_hash": nodes[(0, p - 1)].hex()} for p in positions]

    def receipt(self, positions: Sequence[int]) -> dict[str, Any]:
        """What a `201` carries: a signed head covering the command's events, and their leaf hashes."""
        return {"head": self.head_covering(max(positions)), "leaves": self.leaf_hashes(positions)}

    def inclusion(self, event_id: str, tree_size: int | None) -> dict[str, Any]:
        """The proof that an event is in the tree of `tree_size` events (default: the latest).

        Two queries on one connection: the event's row with the tree's size, then every node of the
        path and of the root."""
        plans: list[tree.Plan] = []

        def nodes_for(row: Row, latest: int) -> list[merkle.Node]:
            size = latest if tree_size is None else tree_size
            if size > latest:
                raise BadSize(f"tree_size: the log holds {latest} events, not {size}", "tree_size")
            if row.position > size:
                raise BadSize(f"tree_size: event {event_id} is at position {row.position}, after {size}", "tree_size")
            plans.append(tree.Plan([size], merkle.inclusion_ranges(row.position - 1, size)))
            return plans[0].nodes

        row, found = self.recorder.locate_with_nodes(event_id, nodes_for)
        if row is None:
            raise NotInLog(f"event_id: no event {event_id} in the log", "event_id")
        (root,), path = plans[0].hashes(found)
        size = plans[0].sizes[0]
        entry = tree.entry_of(row)
        return {
            "event_id": event_id,
            "position": row.position,
            "leaf_index": row.position - 1,
            "tree_size": size,
            "entry": base64.b64encode(entry).decode(),
            "leaf_hash": merkle.leaf_hash(entry).hex(),
            "audit_path": [h.hex() for h in path],
            "head": self.signed(size, root),
        }

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        """The proof that the tree of `first` events is a prefix of the tree of `second` events (one read:
        the proof's nodes and both roots)."""
        if first > second:
            raise BadSize(f"first: {first} is larger than second ({second})", "first")
        (first_root, second_root), proof = self._read(
            [(first, "first"), (second, "second")], merkle.consistency_ranges(first, second)
        )
        return {
            "first": first,
            "second": second,
            "proof": [h.hex() for h in proof],
            "first_head": self.signed(first, first_root),
            "second_head": self.signed(second, second_root),
        }
