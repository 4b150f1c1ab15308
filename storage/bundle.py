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
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent

from ledger import merkle
from ledger.verify import VerificationError, check_consistency, decode_entry, verify_head
from storage import tree
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


@dataclass(frozen=True)
class BundleReport:
    events: int
    first_position: int
    last_position: int
    latest_size: int


def verify_bundle(directory: Path) -> BundleReport:
    """Check a bundle (see the module docstring); VerificationError names the first problem."""
    try:
        key = base64.b64decode(orjson.loads((directory / KEY).read_bytes())["public_key"])
        proof = orjson.loads((directory / PROOF).read_bytes())
        lines = (directory / EVENTS).read_bytes().splitlines()
    except (OSError, orjson.JSONDecodeError, KeyError) as e:
        raise VerificationError(f"not a complete bundle: {e}") from None
    latest_size, _ = verify_head(proof["latest"], key)
    edge = [bytes.fromhex(h) for h in proof["start_edge"]]
    first = proof.get("first_position") or 1
    try:
        compact = merkle.CompactRange(first - 1, edge, keep=False)
    except ValueError as e:
        raise VerificationError(f"the start edge does not fit position {first}: {e}") from None
    leaf_hash, append, unbase64 = merkle.leaf_hash, compact.append, binascii.a2b_base64
    for number, raw in enumerate(lines, start=1):
        line = orjson.loads(raw)
        try:
            leaf = leaf_hash(unbase64(line["entry"]))
        except (binascii.Error, TypeError, KeyError):
            raise VerificationError(f"line {number}: no entry in base64") from None
        if line["position"] != compact.size + 1:
            raise VerificationError(f"line {number}: position {line['position']} does not follow {compact.size}")
        if leaf.hex() != line["leaf_hash"]:
            raise VerificationError(f"line {number}: the entry at position {line['position']} is not its leaf")
        append(leaf)
    if lines:
        size, root = verify_head(proof["head"], key)
        if size != compact.size or root != compact.root():
            raise VerificationError(
                f"the events do not rebuild the signed tree of size {size}: a line was changed, removed or added"
            )
        check_consistency(proof["head"], proof["latest"], proof["consistency"], key)
    return BundleReport(len(lines), first, compact.size if lines else 0, latest_size)


def load_bundle(directory: Path, recorder: LedgerRecorder) -> BundleReport:
    """Verify a bundle that starts at the first event and append its events, exactly as stored, to an
    empty store (a memory ledger an auditor replays questions on)."""
    report = verify_bundle(directory)
    if report.events and report.first_position != 1:
        raise VerificationError(
            f"the bundle starts at position {report.first_position}: a replay needs every event from the first "
            "(export without --from)"
        )
    if recorder.last_position():
        raise ValueError("the store to replay into must be empty")
    rows, chain = [], GENESIS
    for raw in (directory / EVENTS).read_bytes().splitlines():
        entry = decode_entry(base64.b64decode(orjson.loads(raw)["entry"]))
        stored = StoredEvent(entry.stream_id, entry.version, entry.topic, entry.state)
        chain = chain_hash(chain, entry.position, stored, entry.event_id)
        rows.append(Row(entry.position, stored, entry.event_id, chain))
    for start in range(0, len(rows), 5000):
        with recorder.append_txn() as txn:
            txn.insert(rows[start : start + 5000])
    return report
