"""The log's Merkle tree as stored: complete nodes keyed (level, index), written in the append transaction.

Appending `k` events reads the right edge of the tree (at most 64 nodes, one query), hashes the new
leaves into it and writes every node they complete — O(log n) work per append, in the same
transaction as the events, so the tree never lags the log nor is rebuilt at query time. A proof and
the roots of the heads it comes with read the O(log n) complete nodes `ledger.merkle.proof_nodes`
names, in one query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from ledger import merkle
from ledger.verify import Entry, encode_entry

if TYPE_CHECKING:  # the recorders import this module
    from storage.recorders import Row

Head = tuple[int, bytes]  # (tree size, root hash)
Edge = tuple[int, list[bytes]]  # (tree size, the hashes of its right edge, `merkle.cover(0, size)`)
ReadNodes = Callable[[Sequence[merkle.Node]], dict[merkle.Node, bytes]]


class TreeBehind(RuntimeError):
    """The stored tree does not reach the log's end (a database from before the tree, not yet caught up)."""


def entry_of(row: Row) -> bytes:
    """The entry bytes of a stored event: its position, id and exact stored bytes."""
    s = row.stored
    return encode_entry(Entry(row.position, row.event_id, str(s.originator_id), s.originator_version, s.topic, s.state))


def leaf_of(row: Row) -> bytes:
    return merkle.leaf_hash(entry_of(row))


def extend(
    rows: Sequence[Row], read: ReadNodes, known: Edge | None = None
) -> tuple[dict[merkle.Node, bytes], Head, Edge]:
    """The nodes that appending `rows` (consecutive positions) completes, the new head and right edge.

    `known` is a right edge already at hand: used when it ends where the log does, else the edge is read."""
    size = rows[0].position - 1
    if known is not None and known[0] == size:
        hashes = known[1]
    else:
        edge = merkle.cover(0, size)
        found = read(edge)
        if len(found) < len(edge):
            raise TreeBehind(f"the stored tree does not hold the first {size} events")
        hashes = [found[node] for node in edge]
    tree = merkle.CompactRange(size, hashes)
    for row in rows:
        if row.position != tree.size + 1:
            raise ValueError(f"position {row.position} does not follow {tree.size}")
        tree.append(leaf_of(row))
    return tree.completed, (tree.size, tree.root()), (tree.size, list(tree.hashes))


class Plan:
    """What a head and proof need: the stored nodes of each root and range, and how to fold them."""

    def __init__(self, sizes: Sequence[int], ranges: Sequence[merkle.Range] = ()) -> None:
        self.sizes = list(sizes)
        self.roots = len(sizes)
        self.covers = merkle.proof_covers(sizes, ranges)
        self.nodes = sorted({node for nodes in self.covers for node in nodes})

    def hashes(self, found: Mapping[merkle.Node, bytes]) -> tuple[list[bytes], list[bytes]]:
        """The roots and the ranges' hashes (TreeBehind if the stored tree lacks a node)."""
        try:
            hashes = [merkle.fold([found[node] for node in nodes]) for nodes in self.covers]
        except KeyError as e:
            raise TreeBehind(f"the stored tree lacks node {e.args[0]}") from None
        return hashes[: self.roots], hashes[self.roots :]


def read_proof(
    read: ReadNodes, sizes: Sequence[int], ranges: Sequence[merkle.Range] = ()
) -> tuple[list[bytes], list[bytes]]:
    """The roots of the trees of `sizes` and the hashes of `ranges`, from one read of the nodes they need
    (TreeBehind if the stored tree lacks one: it does not reach the largest size)."""
    plan = Plan(sizes, ranges)
    return plan.hashes(read(plan.nodes))


def root_at(size: int, read: ReadNodes) -> bytes:
    """The root of the tree of the first `size` events (TreeBehind if the tree does not reach it)."""
    try:
        return read_proof(read, [size])[0][0]
    except TreeBehind:
        raise TreeBehind(f"the stored tree does not hold the first {size} events") from None


def proof_hashes(ranges: Sequence[merkle.Range], read: ReadNodes) -> list[bytes]:
    """The hashes of these ranges, from one read of the nodes they need."""
    return read_proof(read, [], ranges)[1]
