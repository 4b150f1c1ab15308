"""Signed tree heads, proofs and receipts over the stored tree (what the log's HTTP endpoints answer).

Every answer is read from the complete nodes stored at append time (`storage.tree`): a head, an
inclusion or a consistency proof reads O(log n) nodes, whatever the log's size.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import merkle
from ledger.verify import log_id, public_key_bytes, sign_head
from storage import tree
from storage.recorders import LedgerRecorder


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

    def __init__(self, recorder: LedgerRecorder, key: Ed25519PrivateKey, clock_ms: Callable[[], int] = _now_ms) -> None:
        self.recorder = recorder
        self.key = key
        self.public_key = public_key_bytes(key.public_key())
        self.log_id = log_id(self.public_key)
        self.clock_ms = clock_ms
        self._last: dict[str, Any] | None = None  # the newest head signed, answered again while the tree is the same

    def key_json(self) -> dict[str, Any]:
        return {
            "algorithm": "ed25519",
            "public_key": base64.b64encode(self.public_key).decode(),
            "log_id": self.log_id,
        }

    def signed(self, size: int, root: bytes) -> dict[str, Any]:
        last = self._last
        if last is not None and last["tree_size"] == size and last["root_hash"] == root.hex():
            return last
        head = sign_head(self.key, size, root, self.clock_ms())
        if last is None or size >= last["tree_size"]:
            self._last = head
        return head

    def root(self, size: int) -> bytes:
        return tree.root_at(size, self.recorder.read_nodes) if size else merkle.EMPTY_ROOT

    def head(self, size: int | None = None, field: str = "tree_size") -> dict[str, Any]:
        """The signed head of the tree of `size` events (default: the latest)."""
        latest = self.recorder.tree_size()
        if size is None:
            size = latest
        elif size > latest:
            raise BadSize(f"{field}: the log holds {latest} events, not {size}", field)
        return self.signed(size, self.root(size))

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
        """The proof that an event is in the tree of `tree_size` events (default: the latest)."""
        position = self.recorder.position_of(event_id)
        if position is None:
            raise NotInLog(f"event_id: no event {event_id} in the log", "event_id")
        head = self.head(tree_size)
        size = head["tree_size"]
        if position > size:
            raise BadSize(f"tree_size: event {event_id} is at position {position}, after {size}", "tree_size")
        (row,) = self.recorder.read_rows(position - 1, 1)
        entry = tree.entry_of(row)
        path = tree.proof_hashes(merkle.inclusion_ranges(position - 1, size), self.recorder.read_nodes)
        return {
            "event_id": event_id,
            "position": position,
            "leaf_index": position - 1,
            "tree_size": size,
            "entry": base64.b64encode(entry).decode(),
            "leaf_hash": merkle.leaf_hash(entry).hex(),
            "audit_path": [h.hex() for h in path],
            "head": head,
        }

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        """The proof that the tree of `first` events is a prefix of the tree of `second` events."""
        if first > second:
            raise BadSize(f"first: {first} is larger than second ({second})", "first")
        second_head = self.head(second, "second")
        proof = tree.proof_hashes(merkle.consistency_ranges(first, second), self.recorder.read_nodes)
        return {
            "first": first,
            "second": second,
            "proof": [h.hex() for h in proof],
            "first_head": self.head(first, "first"),
            "second_head": second_head,
        }
