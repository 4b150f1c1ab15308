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
import binascii
import contextlib
import hashlib
import itertools
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent

from ledger import merkle
from ledger.verify import VerificationError, check_consistency, decode_entry, log_id, parse_public_key, verify_head
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


CHUNK = 8 << 20  # bytes of events.jsonl read at a time
APPEND_ROWS = 5000  # rows a replay appends per transaction


@dataclass
class Lines:
    """Consecutive lines of `events.jsonl`: their positions, entry bytes and the leaf hashes they claim."""

    first_line: int  # the number of the first (1-based)
    positions: list[int]
    encoded: list[bytes]  # each line's entry, in base64 as written
    claimed: bytes  # the leaf hash each line claims, 32 bytes each

    def entries(self) -> list[bytes]:
        """The entry bytes (VerificationError naming the first line whose entry is not base64)."""
        try:
            return [binascii.a2b_base64(e) for e in self.encoded]
        except (binascii.Error, ValueError):
            for number, e in enumerate(self.encoded, start=self.first_line):
                try:
                    binascii.a2b_base64(e)
                except (binascii.Error, ValueError):
                    raise VerificationError(f"line {number}: the entry is not base64") from None
            raise

    def leaves(self) -> list[bytes]:
        """The leaf hash of each entry (decoded and hashed in one pass: this is most of a bundle's check)."""
        a2b, sha256 = binascii.a2b_base64, hashlib.sha256
        try:
            return [sha256(b"\x00" + a2b(e)).digest() for e in self.encoded]
        except (binascii.Error, ValueError):
            return [sha256(b"\x00" + e).digest() for e in self.entries()]


def _parse_slowly(lines: list[bytes], first_line: int) -> Lines:
    out = Lines(first_line, [], [], b"")
    claims = []
    for number, raw in enumerate(lines, start=first_line):
        try:
            line = orjson.loads(raw)
            position, entry = line["position"], line["entry"].encode("ascii")
            claimed = bytes.fromhex(line["leaf_hash"])
            if len(claimed) != 32:
                raise ValueError("a leaf hash is 32 bytes")
        except (orjson.JSONDecodeError, AttributeError, TypeError, KeyError, ValueError):
            raise VerificationError(
                f"line {number}: not an event line (position, entry in base64, leaf_hash)"
            ) from None
        if not isinstance(position, int) or isinstance(position, bool):
            raise VerificationError(f"line {number}: position must be an integer")
        out.positions.append(position)
        out.encoded.append(entry)
        claims.append(claimed)
    out.claimed = b"".join(claims)
    return out


# A line as `export_bundle` writes it, cut at its quotes: 22 of them, the keys in this order, no
# escapes. A chunk of such lines is read by splitting it at every quote, at C speed: the values are
# in fixed slots and the rest must be exactly this skeleton, so that a JSON parser would read the
# very same values. Any other chunk is parsed line by line as JSON, with the same result.
_SKELETON = [
    b"position",
    None,  # :<position>,
    b"event_id",
    b":",
    None,
    b",",
    b"type",
    b":",
    None,
    b",",
    b"recorded_at",
    b":",
    None,
    b",",
    b"entry",
    b":",
    None,  # the entry, base64
    b",",
    b"leaf_hash",
    b":",
    None,  # the leaf hash, hex
]
_STRIDE = len(_SKELETON) + 1  # the part between lines, `}\n{`


def _parse(chunk: bytes, first_line: int) -> Lines:
    lines = chunk.count(b"\n") + (not chunk.endswith(b"\n"))
    parts = chunk.split(b'"') if b"\\" not in chunk else []
    if (
        len(parts) != _STRIDE * lines + 1
        or parts[0] != b"{"
        or parts[_STRIDE:-1:_STRIDE].count(b"}\n{") != lines - 1
        or parts[-1] not in (b"}\n", b"}")
        or any(
            parts[slot::_STRIDE].count(text) != lines
            for slot, text in enumerate(_SKELETON, start=1)
            if text is not None
        )
    ):
        return _parse_slowly(chunk.splitlines(), first_line)
    claimed = parts[21::_STRIDE]
    try:
        numbers = [p[1:-1] for p in parts[2::_STRIDE]]
        if set(map(len, claimed)) - {64} or not b"".join(numbers).isdigit():
            raise ValueError("not as exported")
        positions = list(map(int, numbers))
        hashes = binascii.unhexlify(b"".join(claimed))
    except (ValueError, binascii.Error):
        return _parse_slowly(chunk.splitlines(), first_line)
    return Lines(first_line, positions, parts[17::_STRIDE], hashes)


def read_lines(path: Path, chunk: int = CHUNK) -> Iterator[Lines]:
    """The lines of an `events.jsonl`, a few megabytes at a time (one reading for the check and the replay)."""
    number, tail = 1, b""
    with path.open("rb") as f:
        while block := f.read(chunk):
            block = tail + block
            cut = block.rfind(b"\n") + 1
            block, tail = block[:cut], block[cut:]
            if block:
                yield _parse(block, number)
                number += block.count(b"\n")
    if tail.strip():
        yield _parse(tail, number)


def _check(lines: Lines, leaves: list[bytes], compact: merkle.CompactRange) -> None:
    """Add the lines' leaves to the tree, checking that they follow it and that each entry has its claimed leaf."""
    size = compact.size
    if lines.positions != list(range(size + 1, size + 1 + len(leaves))) or b"".join(leaves) != lines.claimed:
        for n, (position, leaf) in enumerate(zip(lines.positions, leaves, strict=True)):
            number = lines.first_line + n
            if position != size + n + 1:
                raise VerificationError(f"line {number}: position {position} does not follow {size + n}")
            if leaf != lines.claimed[32 * n : 32 * n + 32]:
                raise VerificationError(f"line {number}: the entry at position {position} is not its leaf")
    compact.extend(leaves)


def _read(path: Path, start: int, end: int) -> bytes:
    with path.open("rb") as f:
        f.seek(start)
        return f.read(end - start)


def blocks(path: Path, size: int = CHUNK) -> list[tuple[int, int]]:
    """The byte ranges of whole lines, about `size` bytes each, that make up the file."""
    total = path.stat().st_size
    out, start = [], 0
    with path.open("rb") as f:
        while start < total:
            f.seek(min(start + size, total))
            end = f.tell() + len(f.readline())  # through the end of the line the cut falls in
            out.append((start, end))
            start = end
    return out


@dataclass(frozen=True)
class Block:
    """What checking one block of lines found on its own (in a worker process, for a large bundle)."""

    lines: int
    first_position: int | None  # None: the block is not well formed, or its lines do not hold (recheck it)
    subtrees: list[tuple[int, bytes]]  # its leaves as complete aligned subtrees (`merkle.aligned_subtrees`)


def check_block(path: Path, start: int, end: int) -> Block:
    """Hash the entries of the lines in [start, end) and check them among themselves: their positions
    run on from the first, and each entry has the leaf hash its line claims; hash them into subtrees."""
    try:
        lines = _parse(_read(path, start, end), 1)
    except VerificationError:
        return Block(0, None, [])
    try:
        leaves = lines.leaves()
    except VerificationError:
        return Block(0, None, [])
    first = lines.positions[0] if leaves else 0
    if lines.positions != list(range(first, first + len(leaves))) or b"".join(leaves) != lines.claimed or first < 1:
        return Block(len(leaves), None, [])
    return Block(len(leaves), first, merkle.aligned_subtrees(first - 1, leaves))


def workers_for(path: Path) -> int:
    """Processes to check a bundle with: every core for a large one (hashing is the work), else this one."""
    if threading.active_count() > 1:  # forking a process with other threads running could copy held locks
        return 1
    return (os.cpu_count() or 1) if path.stat().st_size > 4 * CHUNK else 1


def _check_blocks(path: Path, compact: merkle.CompactRange, workers: int, size: int) -> int:
    """Check every line of `path` into the tree, blocks hashed by `workers` processes; how many events."""
    ranges = blocks(path, size)
    starts, ends = [r[0] for r in ranges], [r[1] for r in ranges]
    events = 0
    with contextlib.ExitStack() as stack:
        found: Iterator[Block]
        if workers > 1 and len(ranges) > 1:
            pool = ProcessPoolExecutor(min(workers, len(ranges)), mp_context=multiprocessing.get_context("fork"))
            stack.callback(pool.shutdown, wait=True, cancel_futures=True)  # a bad block stops the rest
            found = pool.map(check_block, itertools.repeat(path), starts, ends)
        else:
            found = map(check_block, itertools.repeat(path), starts, ends)
        for (start, end), block in zip(ranges, found, strict=True):
            if block.first_position is None or (block.lines and block.first_position != compact.size + 1):
                # Something is wrong in this block: read it again here, to name the first bad line.
                lines = _parse(_read(path, start, end), events + 1)
                _check(lines, lines.leaves(), compact)
                events += len(lines.positions)
                continue
            for level, digest in block.subtrees:
                compact.append_subtree(level, digest)
            events += block.lines
    return events


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
        events = _check_blocks(path, proof.compact, workers or workers_for(path), chunk)
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
            _check(lines, [merkle.leaf_hash(e) for e in entries], proof.compact)
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
