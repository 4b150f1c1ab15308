"""The lines of a bundle's `events.jsonl`: read a few megabytes at a time, parsed, and checked into the tree."""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from ledger import merkle
from ledger.verify import VerificationError

CHUNK = 8 << 20  # bytes of events.jsonl read at a time


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


def parse_lines(chunk: bytes, first_line: int) -> Lines:
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
                yield parse_lines(block, number)
                number += block.count(b"\n")
    if tail.strip():
        yield parse_lines(tail, number)


def check_lines(lines: Lines, leaves: list[bytes], compact: merkle.CompactRange) -> None:
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
