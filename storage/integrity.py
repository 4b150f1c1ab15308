"""Tamper evidence: a running SHA-256 chain over the exact stored bytes, in ledger order, with checkpoints.

chain(n) = SHA-256(chain(n-1) ‖ position ‖ stream ‖ version ‖ topic ‖ state ‖ event id), each
part length-prefixed. Changing, deleting, reordering or inserting a row breaks the
chain at that row (a full verify finds it). An insider who also rewrites the chain
from the tampered row on leaves a self-consistent log: that is caught by
*checkpoints* — (position, chain value, time) recorded after each successful
verification and exported (`GET /v1/checkpoints`, `ledger checkpoints`) so that
auditors keep them outside the database. A log that no longer reproduces a
checkpoint's chain value at its position, or that ends before it (truncation),
fails verification.

`verify` runs in one of three ways:

- incremental (default): from the latest checkpoint recorded in the database, if the
  row at its position still has that chain value; otherwise it falls back to full;
- full: from genesis, comparing every row's chain value and every recorded checkpoint;
- against exported checkpoints: from genesis, comparing with the auditor's checkpoints
  too (it proves the log still extends them), then on to the end.

A success records a new checkpoint at the last verified position.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from struct import pack
from typing import Any

from eventsourcing.persistence import StoredEvent

from storage.recorders import Checkpoint, LedgerRecorder

GENESIS = bytes(32)


def chain_hash(previous: bytes, position: int, stored: StoredEvent, event_id: str) -> bytes:
    """The chain value of one stored event given the previous one."""
    stream = str(stored.originator_id).encode()
    version = str(stored.originator_version).encode()
    topic = stored.topic.encode()
    state = stored.state
    eid = event_id.encode()
    # One buffer: each part length-prefixed (4 bytes, the position 8), so no two different rows hash the same bytes.
    return hashlib.sha256(
        b"".join(
            (
                previous,
                pack(">QI", position, len(stream)),
                stream,
                pack(">I", len(version)),
                version,
                pack(">I", len(topic)),
                topic,
                pack(">I", len(state)),
                state,
                pack(">I", len(eid)),
                eid,
            )
        )
    ).digest()


# --- checkpoints as auditors keep them -------------------------------------------------------


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    """A checkpoint as exported: `{"position", "chain" (hex), "created_at"}`."""
    return {"position": checkpoint.position, "chain": checkpoint.chain.hex(), "created_at": checkpoint.created_at}


def parse_checkpoint(data: Mapping[str, Any]) -> Checkpoint:
    """An exported checkpoint back (raises ValueError naming what is wrong)."""
    position = data.get("position")
    chain = data.get("chain")
    if not isinstance(position, int) or isinstance(position, bool) or position < 1:
        raise ValueError("a checkpoint needs an integer position of at least 1")
    if not isinstance(chain, str):
        raise ValueError("a checkpoint needs its chain value as 64 hex digits")
    try:
        raw = bytes.fromhex(chain)
    except ValueError:
        raise ValueError("a checkpoint's chain value must be 64 hex digits") from None
    if len(raw) != 32:
        raise ValueError("a checkpoint's chain value must be 64 hex digits")
    created_at = data.get("created_at")
    return Checkpoint(position, raw, created_at if isinstance(created_at, str) else "")


def parse_checkpoints(data: Any) -> list[Checkpoint]:
    """Checkpoints from what an auditor kept: one checkpoint, a list of them, the output of
    `ledger checkpoints` / `GET /v1/checkpoints` (`{"checkpoints": [...]}`), or a verify answer
    (`{"checkpoint": {...}}`)."""
    if isinstance(data, Mapping):
        if "checkpoints" in data:
            return parse_checkpoints(data["checkpoints"])
        if "checkpoint" in data:
            return [] if data["checkpoint"] is None else parse_checkpoints(data["checkpoint"])
        return [parse_checkpoint(data)]
    if isinstance(data, list) and all(isinstance(item, Mapping) for item in data):
        return [parse_checkpoint(item) for item in data]
    raise ValueError('expected a checkpoint {"position", "chain"}, a list of them, or {"checkpoints": [...]}')


# --- verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checked: int  # rows re-hashed by this run
    position: int  # the last position verified intact
    first_bad_position: int | None  # where tampering starts (or the earliest position it may start at)
    problem: str | None = None
    from_position: int = 0  # where re-hashing started (0 = genesis)
    full: bool = True
    checkpoints_compared: int = 0
    checkpoint: Checkpoint | None = None  # recorded (or still current) after a success
    chain: bytes = GENESIS  # the chain value at `position`


def _utc_now() -> str:
    return datetime.now(UTC).isoformat()


class _Walk:
    """Re-hash rows from a start, comparing with the stored chain and with checkpoints on the way."""

    def __init__(self, start: tuple[int, bytes], checkpoints: Iterable[tuple[Checkpoint, str]]) -> None:
        checkpoints = list(checkpoints)
        self.position, self.chain = start
        self.from_position = start[0]
        self.checked = 0
        # Checkpoints ahead of the start, by position; each with the name of who kept it.
        self.pending = sorted(
            ((cp, who) for cp, who in checkpoints if cp.position > start[0]), key=lambda c: c[0].position
        )
        self.compared = 0
        # Only the most trusted kind of checkpoint given vouches for a position: an auditor's exported
        # ones when there are any (the recorded ones live in the database an insider may have edited).
        self.vouching = "exported" if any(who == "exported" for _, who in checkpoints) else "recorded"
        self.agreed_at = start[0]  # the last position known to hold its trusted value
        self.first_after_agreed: int | None = None  # the first row after it

    def fail(self, first_bad: int | None, problem: str) -> VerifyReport:
        return VerifyReport(
            False,
            self.checked,
            self.position,
            first_bad,
            problem,
            self.from_position,
            True,
            self.compared,
            chain=self.chain,
        )

    def rewritten(self, cp: Checkpoint, who: str, what: str) -> VerifyReport:
        """The log does not extend a checkpoint: rows were altered somewhere after the last position
        that still agreed with a trusted checkpoint (with their chain values, if the chain still holds)."""
        start = self.first_after_agreed if self.first_after_agreed is not None else cp.position
        when = f" (recorded {cp.created_at})" if cp.created_at else ""
        self.position = self.agreed_at  # the last position still vouched for
        return self.fail(
            start,
            f"the log no longer extends the {who} checkpoint at position {cp.position}{when}: {what}; "
            f"rows between positions {start} and {cp.position} were changed, inserted, removed or reordered",
        )

    def step(self, position: int, stored_chain: bytes, expected: bytes) -> VerifyReport | None:
        # A checkpoint whose position was skipped: its row is gone (the chain was rewritten over the gap).
        if self.pending and self.pending[0][0].position < position:
            cp, who = self.pending.pop(0)
            self.compared += 1
            return self.rewritten(cp, who, f"no row is stored at position {cp.position}")
        if self.first_after_agreed is None:
            self.first_after_agreed = position
        if expected != stored_chain:
            return self.fail(
                position,
                f"the row at position {position} does not follow the one before it: it was changed or inserted, "
                "or a row before it was removed, or rows were reordered",
            )
        self.chain, self.position = expected, position
        self.checked += 1
        while self.pending and self.pending[0][0].position == position:
            cp, who = self.pending.pop(0)
            self.compared += 1
            if cp.chain != expected:
                return self.rewritten(cp, who, f"the chain value at position {position} differs")
            if who == self.vouching:
                self.agreed_at, self.first_after_agreed = position, None
        return None

    def end(self) -> VerifyReport | None:
        if self.pending:
            cp, who = self.pending[0]
            self.compared += 1
            return self.fail(
                self.position + 1,
                f"the log ends at position {self.position}, before the {who} checkpoint at position {cp.position}: "
                "rows were removed from its end",
            )
        return None


def verify_chain(
    recorder: LedgerRecorder,
    *,
    start: tuple[int, bytes] = (0, GENESIS),
    checkpoints: Iterable[tuple[Checkpoint, str]] = (),
    page: int = 5000,
) -> VerifyReport:
    """Re-hash the stored rows after `start` (position, chain value) to the end of the log, comparing
    each with its stored chain value and, at their positions, with `checkpoints` ((checkpoint, who kept it))."""
    walk = _Walk(start, checkpoints)
    while True:
        rows = recorder.read_rows(walk.position, page)
        if not rows:
            break
        for row in rows:
            if row.position <= walk.position:
                return walk.fail(row.position, "positions out of order")
            failure = walk.step(row.position, row.chain, chain_hash(walk.chain, row.position, row.stored, row.event_id))
            if failure is not None:
                return failure
    failure = walk.end()
    if failure is not None:
        return failure
    return VerifyReport(
        True, walk.checked, walk.position, None, None, walk.from_position, True, walk.compared, chain=walk.chain
    )


def trusted_start(recorder: LedgerRecorder) -> Checkpoint | None:
    """The latest recorded checkpoint, if the row at its position still has its chain value."""
    recorded = recorder.checkpoints()
    if not recorded:
        return None
    latest = max(recorded, key=lambda c: c.position)
    rows = recorder.read_rows(latest.position - 1, 1)
    if rows and rows[0].position == latest.position and rows[0].chain == latest.chain:
        return latest
    return None


def verify(
    recorder: LedgerRecorder,
    *,
    full: bool = False,
    external: Iterable[Checkpoint] = (),
    record: bool = True,
    now: Callable[[], str] = _utc_now,
) -> VerifyReport:
    """Verify the log (see the module docstring) and, on success, record a checkpoint at its end."""
    external = list(external)
    start = None if full or external else trusted_start(recorder)
    if start is not None:
        report = replace(verify_chain(recorder, start=(start.position, start.chain)), full=False)
    else:
        # From genesis: every checkpoint the database recorded must still hold, and every one the auditor kept.
        compared = [(cp, "recorded") for cp in recorder.checkpoints()] + [(cp, "exported") for cp in external]
        report = verify_chain(recorder, checkpoints=compared)
    if not report.ok:
        return report
    checkpoint = start
    if report.position > 0 and (start is None or report.position > start.position):
        checkpoint = Checkpoint(report.position, report.chain, now())
        if record:
            existing = next((c for c in recorder.checkpoints() if c.position == checkpoint.position), None)
            if existing is None:
                recorder.save_checkpoint(checkpoint)
            else:  # verified before (and just now compared): keep its original time
                checkpoint = existing
    return replace(report, checkpoint=checkpoint)
