"""Verifying the log: the hash chain and the Merkle tree re-computed from the stored rows, against signed heads.

- *Incremental* (default): from the newest signed head recorded by a verification (its signature
  checked with the log's key). The stored tree must still have that head's root at its size (the
  consistency of the old head with today's tree), then only the events after it are re-hashed.
- *Full*: every event re-hashed from genesis; at the size of every recorded signed head the
  recomputed root must equal the signed one.

Either way each event's recomputed leaf is compared with the stored leaf, the recomputed root at
the end with the stored tree's, and the chain is checked by `storage.integrity`. The first bad
position is where the evidence first disagrees (or the earliest position a rewrite may start at:
just after the last signed head that still holds).

Each recorded head is checked with the key its `log_id` names: the log's key or a previous one
(after a rotation). A head signed by any other key fails the verification as *signed by an unknown
key*, with no bad position: it says nothing about the events, which are checked against the rest.

Verifications that record (`ledger verify`, `POST /v1/checkpoints`, the console) store their result
(source, time, outcome) and, on success, a signed head of the verified tree: every process sees the
last one. `GET /v1/verify` records nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ledger import merkle
from ledger.verify import Trust, UnknownKey, VerificationError, verify_head
from storage import integrity, tree
from storage.evidence import LogEvidence
from storage.recorders import Checkpoint, LedgerRecorder

VERIFICATION = "verification"
SIGNED_HEAD = "signed_head"


@dataclass(frozen=True)
class TreeCheck:
    ok: bool
    checked: int
    size: int  # the last size verified intact
    root: bytes
    first_bad_position: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Verification:
    """One verification's outcome, as `GET /v1/verify` and `ledger verify` report it."""

    ok: bool
    checked: int
    position: int
    first_bad_position: int | None
    problem: str | None
    full: bool
    from_position: int
    tree_size: int
    root_hash: str
    chain: integrity.VerifyReport

    def record(self, source: str, at: str, by: str | None, seconds: float) -> dict[str, Any]:
        return {
            "source": source,
            "at": at,
            "by": by,
            "seconds": round(seconds, 3),
            "ok": self.ok,
            "position": self.position,
            "first_bad_position": self.first_bad_position,
            "full": self.full,
            "checked": self.checked,
            "problem": self.problem,
        }


def _walk(
    recorder: LedgerRecorder, start: int, edge: Sequence[bytes], heads: Iterable[tuple[int, bytes]], page: int
) -> TreeCheck:
    """Re-hash the rows after `start` into the tree, comparing stored leaves and the signed roots on the way."""
    compact = merkle.CompactRange(start, edge, keep=False)
    pending = sorted((s, r) for s, r in heads if s > start)
    vouched = start  # the last size a signed head (or the start) vouches for
    checked = 0

    def bad(position: int, problem: str) -> TreeCheck:
        return TreeCheck(False, checked, compact.size, compact.root(), position, problem)

    while rows := recorder.read_rows(compact.size, page):
        stored = recorder.read_nodes([(0, r.position - 1) for r in rows])
        for row in rows:
            if row.position != compact.size + 1:
                return bad(compact.size + 1, f"no event is stored at position {compact.size + 1}")
            leaf = tree.leaf_of(row)
            if stored.get((0, row.position - 1)) != leaf:
                return bad(row.position, f"the event at position {row.position} is not the one the tree holds")
            compact.append(leaf)
            checked += 1
            while pending and pending[0][0] == compact.size:
                size, root = pending.pop(0)
                if compact.root() != root:
                    return bad(
                        vouched + 1,
                        f"the log no longer has the root of the signed head of size {size}: events between "
                        f"positions {vouched + 1} and {size} were changed, inserted, removed or reordered",
                    )
                vouched = size
    if pending:
        size = pending[0][0]
        return bad(compact.size + 1, f"the log ends at position {compact.size}, before the signed head of size {size}")
    # A command committed after the walk may have grown the tree; only a tree short of the log is wrong.
    if recorder.tree_size() < compact.size:
        return bad(compact.size + 1, f"the stored tree holds {recorder.tree_size()} leaves, the log {compact.size}")
    stored_root = tree.root_at(compact.size, recorder.read_nodes) if compact.size else merkle.EMPTY_ROOT
    if stored_root != compact.root():
        return bad(start + 1, "the stored tree's inner nodes do not match the events")
    return TreeCheck(True, checked, compact.size, compact.root())


def signers(recorder: LedgerRecorder) -> set[str]:
    """The key ids (`log_id`) of the signed heads recorded by verifications."""
    out = set()
    for body in recorder.audit_records(SIGNED_HEAD):
        try:
            out.add(str(orjson.loads(body)["log_id"]))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue  # not a head at all: verification says so
    return out


@dataclass(frozen=True)
class RecordedHeads:
    """The signed heads recorded by verifications, as this log's keys judge them."""

    valid: list[tuple[int, bytes]]  # (size, root) of each head whose signature holds
    forged: str | None = None  # a head of a trusted key whose signature does not hold
    unknown: str | None = None  # a head signed by a key that is neither this log's nor a previous one


def signed_heads(recorder: LedgerRecorder, keys: Trust) -> RecordedHeads:
    """The recorded signed heads, each checked with the key its log_id names."""
    valid: list[tuple[int, bytes]] = []
    unknown = None
    for body in recorder.audit_records(SIGNED_HEAD):
        try:
            valid.append(verify_head(orjson.loads(body), keys))
        except UnknownKey as e:
            unknown = unknown or f"a recorded signed head is {e}: neither this log's key nor a previous one"
        except (VerificationError, orjson.JSONDecodeError, KeyError, TypeError) as e:
            return RecordedHeads(valid, forged=f"a recorded signed head does not verify with the log's key: {e}")
    return RecordedHeads(valid, unknown=unknown)


def verify_tree(recorder: LedgerRecorder, keys: Trust, *, full: bool, page: int = 5000) -> tuple[TreeCheck, int]:
    """The tree re-computed from the rows (see the module docstring); and the size it started from.

    A head signed by an unknown key vouches for nothing: the tree is checked against the others, and
    the verification fails naming that key, with no bad position (the events may well be intact)."""
    heads = signed_heads(recorder, keys)
    if heads.forged is not None:
        return TreeCheck(False, 0, 0, merkle.EMPTY_ROOT, 1, heads.forged), 0
    checked, start = _verify_tree(recorder, heads.valid, full=full, page=page)
    if heads.unknown is not None and checked.ok:
        return TreeCheck(False, checked.checked, checked.size, checked.root, None, heads.unknown), start
    return checked, start


def _verify_tree(
    recorder: LedgerRecorder, heads: list[tuple[int, bytes]], *, full: bool, page: int
) -> tuple[TreeCheck, int]:
    if not full and heads:
        size, root = max(heads)
        try:
            still = tree.root_at(size, recorder.read_nodes) == root
        except tree.TreeBehind:
            still = False
        if still:
            edge = recorder.read_nodes(merkle.cover(0, size))
            return _walk(recorder, size, [edge[n] for n in merkle.cover(0, size)], heads, page), size
    # From genesis: also when the last signed head no longer holds, to locate where the log changed.
    return _walk(recorder, 0, [], heads, page), 0


def run_verification(
    recorder: LedgerRecorder,
    log: LogEvidence,
    *,
    full: bool = False,
    external: Iterable[Checkpoint] = (),
    source: str | None = None,
    by: str | None = None,
) -> Verification:
    """Verify the chain and the tree; with a `source` (api, cli, console; `by`: who ran it), record the
    outcome and, on success, a signed head."""
    started = time.perf_counter()
    chain = integrity.verify(recorder, full=full, external=list(external), record=source is not None)
    checked_tree, from_size = verify_tree(recorder, log.keys, full=full)
    bad = [p for p in (chain.first_bad_position, checked_tree.first_bad_position) if p is not None]
    first_bad = min(bad) if bad else None
    problem = None
    if first_bad is not None:
        problem = chain.problem if chain.first_bad_position == first_bad else checked_tree.problem
    elif not (chain.ok and checked_tree.ok):  # e.g. a head signed by an unknown key: no position is bad
        problem = chain.problem or checked_tree.problem
    result = Verification(
        ok=chain.ok and checked_tree.ok,
        checked=max(chain.checked, checked_tree.checked),
        position=min(chain.position, checked_tree.size),
        first_bad_position=first_bad,
        problem=problem,
        full=chain.full and from_size == 0,
        from_position=min(chain.from_position, from_size) if not full else 0,
        tree_size=checked_tree.size,
        root_hash=checked_tree.root.hex(),
        chain=chain,
    )
    if source is not None:
        now = datetime.now(UTC).isoformat()
        record = result.record(source, now, by, time.perf_counter() - started)
        recorder.save_audit_record(VERIFICATION, orjson.dumps(record))
        if result.ok and checked_tree.size:
            head = log.signed(checked_tree.size, checked_tree.root)
            recorder.save_audit_record(SIGNED_HEAD, orjson.dumps(head))
    return result


def last_verification(recorder: LedgerRecorder) -> dict[str, Any] | None:
    """The last recorded verification, from any process: source, time, outcome."""
    found = recorder.audit_records(VERIFICATION, latest=1)
    return orjson.loads(found[0]) if found else None


def latest_checkpoint_head(recorder: LedgerRecorder) -> dict[str, Any] | None:
    """The newest signed head recorded by a verification."""
    found = recorder.audit_records(SIGNED_HEAD, latest=1)
    return orjson.loads(found[0]) if found else None
