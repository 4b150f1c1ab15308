"""Checking a large bundle's events in blocks of whole lines, hashed by every core, each block then fitted
into the tree in order; a block that does not fit is read again here to name its first bad line."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ledger import merkle
from ledger.verify import VerificationError
from storage.bundle_lines import CHUNK, check_lines, parse_lines


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
        lines = parse_lines(_read(path, start, end), 1)
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


def check_blocks(path: Path, compact: merkle.CompactRange, workers: int, size: int) -> int:
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
                lines = parse_lines(_read(path, start, end), events + 1)
                check_lines(lines, lines.leaves(), compact)
                events += len(lines.positions)
                continue
            for level, digest in block.subtrees:
                compact.append_subtree(level, digest)
            events += block.lines
    return events
