"""The offline audit bundle: a slice of the log that an auditor checks with no database and no server.

A bundle is a directory:

- `key.json`: the log's public key (`GET /v1/log/key`);
- `events.jsonl`: the events of the slice in ledger order, one JSON object per line — position, event
  id, type, `recorded_at`, the entry bytes (base64) and their leaf hash;
- `proof.json`: `first_position` and `start_edge`, the hashes of the complete subtrees before the slice (the right edge of
  the tree of its first position − 1), `head`, the signed head of the tree that ends with the slice,
  and `latest` with `consistency`: the log's latest signed head and the proof that the slice's head is
  a prefix of it.

`verify_bundle` re-hashes every entry, rebuilds the tree from the start edge through the slice, and
checks that it has the signed root of `head`, that `head` is consistent with `latest`, and every
signature. Events are cut by `recorded_at`, which never decreases along the position, so a date
range is one run of consecutive positions.

The key in `key.json` proves only that a bundle is consistent with itself: anyone can sign a bundle
with a key of their own. An auditor pins the log's key (or its log id) obtained apart from the
bundle, and the bundle verifies only if it was signed with that key.

Only the entry bytes are evidence: the other fields of a line (event id, type, time) are there for a
reader and are not checked; a replay reads the entries alone.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent

from ledger import merkle
from ledger.verify import VerificationError, check_consistency, decode_entry, log_id, parse_public_key, verify_head
from storage import tree
from storage.bundle_blocks import check_blocks, workers_for
from storage.bundle_lines import CHUNK, check_lines, read_lines
from storage.evidence import LogEvidence
from storage.integrity import GENESIS, chain_hash
from storage.mapper import LedgerMapper
from storage.recorders import LedgerRecorder, Row

EVENTS, PROOF, KEY = "events.jsonl", "proof.json", "key.json"


def _slice(
    log: LogEvidence, mapper: LedgerMapper, start: datetime | None, end: datetime | None, page: int = 5000
) -> Iterator[dict[str, Any]]:
    """Events whose `recorded_at` is in [start, end), in order, as bundle lines."""
    after = 0
    while rows := log.recorder.read_rows(after, page):
        for row in rows:
            event = mapper.decode(row.stored)
            if end is not None and event.recorded_at >= end:
                return
            if start is None or event.recorded_at >= start:
                entry = tree.entry_of(row)
                yield {
                    "position": row.position,
                    "event_id": row.event_id,
                    "type": event.type,
                    "recorded_at": event.recorded_at.isoformat(),
                    "entry": base64.b64encode(entry).decode(),
                    "leaf_hash": merkle.leaf_hash(entry).hex(),
                }
        after = rows[-1].position


def export_bundle(
    log: LogEvidence, mapper: LedgerMapper, directory: Path, start: datetime | None = None, end: datetime | None = None
) -> int:
    """Write a bundle of the events recorded in [start, end) into `directory`; how many events."""
    directory.mkdir(parents=True, exist_ok=True)
    latest = log.head()
    first = last = 0
    with (directory / EVENTS).open("wb") as f:
        for line in _slice(log, mapper, start, end):
            if line["position"] > latest["tree_size"]:  # appended after the latest head was signed
                break
            first = first or line["position"]
            last = line["position"]
            f.write(orjson.dumps(line) + b"\n")
    size = last or 0
    edge = log.recorder.read_nodes(merkle.cover(0, max(first - 1, 0)))
    proof = {
        "first_position": first or None,
        "start_edge": [edge[n].hex() for n in merkle.cover(0, max(first - 1, 0))],
        "head": log.head(size) if size else None,
        "latest": latest,
        "consistency": log.consistency(size, latest["tree_size"])["proof"] if size else [],
    }
    (directory / PROOF).write_bytes(orjson.dumps(proof, option=orjson.OPT_INDENT_2))
    (directory / KEY).write_bytes(orjson.dumps(log.key_json(), option=orjson.OPT_INDENT_2))
    return last - first + 1 if first else 0


APPEND_ROWS = 5000  # rows a replay appends per transaction


@dataclass(frozen=True)
class BundleReport:
    events: int
    first_position: int
    last_position: int
    latest_size: int
    log_id: str  # the log id (the SHA-256 of the public key) every head was checked against
    pinned: bool  # whether that key was given by the auditor (else it is the bundle's own)


def bundle_key(directory: Path) -> bytes:
    """The public key a bundle carries (`key.json`), raw."""
    try:
        return parse_public_key((directory / KEY).read_bytes())
    except OSError as e:
        raise VerificationError(f"not a complete bundle: {e}") from None


def trusted_key(directory: Path, public_key: bytes | None, expected_log_id: str | None) -> bytes:
    """The key to check the bundle's heads with: the pinned one, or the bundle's own, which must match the pins."""
    own = bundle_key(directory)
    if public_key is not None:
        if expected_log_id is not None and log_id(public_key) != expected_log_id.lower():
            raise VerificationError(
                f"the pinned public key has log id {log_id(public_key)}, not the pinned log id {expected_log_id}"
            )
        if own != public_key:
            raise VerificationError(
                f"the bundle's key has log id {log_id(own)}, not the pinned key's {log_id(public_key)}: "
                "it was not signed by the log you pinned"
            )
        return public_key
    if expected_log_id is not None and log_id(own) != expected_log_id.lower():
        raise VerificationError(
            f"the bundle's key has log id {log_id(own)}, not the pinned log id {expected_log_id}: "
            "it was not signed by the log you pinned"
        )
    return own


@dataclass(frozen=True)
class _Proof:
    """What `key.json` and `proof.json` say, checked as far as they can be before the events are read."""

    key: bytes
    pinned: bool
    first: int
    head: Any
    latest: Any
    consistency: Any
    latest_size: int
    compact: merkle.CompactRange  # the tree before the slice, which the events extend


def _read_proof(directory: Path, public_key: bytes | None, expected_log_id: str | None) -> _Proof:
    key = trusted_key(directory, public_key, expected_log_id)
    try:
        proof = orjson.loads((directory / PROOF).read_bytes())
        latest, head, consistency = proof["latest"], proof["head"], proof["consistency"]
        first = proof.get("first_position") or 1
        edge = [bytes.fromhex(h) for h in proof["start_edge"]]
    except OSError as e:
        raise VerificationError(f"not a complete bundle: {e}") from None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise VerificationError(f"{PROOF} is not a bundle's proof: {e!r}") from None
    latest_size, _ = verify_head(latest, key)
    try:
        compact = merkle.CompactRange(first - 1, edge, keep=False)
    except (ValueError, TypeError) as e:
        raise VerificationError(f"the start edge does not fit position {first}: {e}") from None
    pinned = public_key is not None or expected_log_id is not None
    return _Proof(key, pinned, first, head, latest, consistency, latest_size, compact)


def _report(proof: _Proof, events: int) -> BundleReport:
    """Once every event is in the tree: it must have the signed root of `head`, a prefix of `latest`."""
    compact = proof.compact
    if events:
        size, root = verify_head(proof.head, proof.key)
        if size != compact.size or root != compact.root():
            raise VerificationError(
                f"the events do not rebuild the signed tree of size {size}: a line was changed, removed or added"
            )
        check_consistency(proof.head, proof.latest, proof.consistency, proof.key)
    last = compact.size if events else 0
    return BundleReport(events, proof.first, last, proof.latest_size, log_id(proof.key), proof.pinned)


def verify_bundle(
    directory: Path,
    *,
    public_key: bytes | None = None,
    expected_log_id: str | None = None,
    workers: int | None = None,
    chunk: int = CHUNK,
) -> BundleReport:
    """Check a bundle (see the module docstring); VerificationError names the first problem.

    Without `public_key` or `expected_log_id` the heads are checked with the key the bundle carries,
    which proves only that the bundle is consistent with itself: pin the log's key to prove it is the log's."""
    proof = _read_proof(directory, public_key, expected_log_id)
    path = directory / EVENTS
    try:
        events = check_blocks(path, proof.compact, workers or workers_for(path), chunk)
    except OSError as e:
        raise VerificationError(f"not a complete bundle: {e}") from None
    return _report(proof, events)


def load_bundle(
    directory: Path, recorder: LedgerRecorder, *, public_key: bytes | None = None, expected_log_id: str | None = None
) -> BundleReport:
    """Verify a bundle that starts at the first event and append its events, exactly as stored, to an
    empty store (a memory ledger an auditor replays questions on).

    The events are read once: each line is checked into the tree as it is read and its entry kept; only
    once the whole bundle has verified are the entries decoded and appended (a bundle that does not verify
    appends nothing), a few thousand at a time."""
    if recorder.last_position():
        raise ValueError("the store to replay into must be empty")
    proof = _read_proof(directory, public_key, expected_log_id)
    if proof.first != 1:
        raise VerificationError(
            f"the bundle starts at position {proof.first}: a replay needs every event from the first "
            "(export without --from)"
        )
    verified: deque[list[bytes]] = deque()
    try:
        for lines in read_lines(directory / EVENTS):
            entries = lines.entries()
            check_lines(lines, [merkle.leaf_hash(e) for e in entries], proof.compact)
            verified.append(entries)
    except OSError as e:
        raise VerificationError(f"not a complete bundle: {e}") from None
    report = _report(proof, sum(map(len, verified)))
    chain = GENESIS
    while verified:
        entries = verified.popleft()  # its rows replace it: memory stays that of the entries
        for start in range(0, len(entries), APPEND_ROWS):
            rows = []
            for entry in map(decode_entry, entries[start : start + APPEND_ROWS]):
                stored = StoredEvent(entry.stream_id, entry.version, entry.topic, entry.state)
                chain = chain_hash(chain, entry.position, stored, entry.event_id)
                rows.append(Row(entry.position, stored, entry.event_id, chain))
            with recorder.append_txn() as txn:
                txn.insert(rows)
    return report
