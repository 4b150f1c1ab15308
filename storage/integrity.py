"""Tamper evidence: a running SHA-256 chain over the exact stored bytes, in ledger order.

chain(n) = SHA-256(chain(n-1) ‖ position ‖ stream ‖ version ‖ topic ‖ state ‖ event id), each
part length-prefixed. Changing, deleting, reordering or inserting a row breaks the
chain at that row; rewriting the whole chain after it is caught by checkpoints kept
outside the database (SECURITY.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from eventsourcing.persistence import StoredEvent

from storage.recorders import LedgerRecorder

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


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checked: int
    position: int
    first_bad_position: int | None
    problem: str | None = None
    from_position: int = 0


def verify_chain(
    recorder: LedgerRecorder,
    *,
    start: tuple[int, bytes] = (0, GENESIS),
    page: int = 5000,
) -> VerifyReport:
    """Re-hash the stored rows after `start` (position, chain value) and compare with the stored chain."""
    position, chain = start
    checked = 0
    while True:
        rows = recorder.read_rows(position, page)
        if not rows:
            return VerifyReport(True, checked, position, None, None, start[0])
        for row in rows:
            if row.position <= position:
                return VerifyReport(False, checked, position, row.position, "positions out of order", start[0])
            expected = chain_hash(chain, row.position, row.stored, row.event_id)
            if expected != row.chain:
                return VerifyReport(
                    False, checked, position, row.position,
                    "stored bytes do not match the chain (changed, inserted, removed or reordered rows)", start[0],
                )
            chain, position = expected, row.position
            checked += 1
