"""Tamper evidence: a running SHA-256 chain over the exact stored bytes, in ledger order.

chain(n) = SHA-256(chain(n-1) ‖ position ‖ stream ‖ version ‖ topic ‖ state ‖ event id), each
part length-prefixed. Changing, deleting, reordering or inserting a row breaks the
chain at that row; rewriting the whole chain after it is caught by checkpoints kept
outside the database (SECURITY.md).
"""

from __future__ import annotations

import hashlib

from eventsourcing.persistence import StoredEvent

GENESIS = bytes(32)


def chain_hash(previous: bytes, position: int, stored: StoredEvent, event_id: str) -> bytes:
    """The chain value of one stored event given the previous one."""
    h = hashlib.sha256(previous)
    h.update(position.to_bytes(8, "big"))
    for part in (
        str(stored.originator_id).encode(),
        str(stored.originator_version).encode(),
        stored.topic.encode(),
        bytes(stored.state),
        event_id.encode(),
    ):
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.digest()
