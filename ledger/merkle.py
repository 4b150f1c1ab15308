"""RFC 6962 Merkle trees over the log: hashing, roots, proofs and their verification.

Pure functions, no I/O. A tree of `n` leaves is split as RFC 6962 §2.1 says: the left
subtree holds the largest power of two smaller than `n`. Every subtree that appears in
that split, and so in every proof, is either *complete and aligned* — `2**level` leaves
starting at a multiple of `2**level`, written `(level, index)` — or a right edge made of
such subtrees. So a store keeps only the complete nodes (written once, when their last
leaf is appended, never changed) and any root or proof is read from `O(log n)` of them.

Proof generation works in two steps so that a store can read every node it needs in one
query: the `*_ranges` functions name the leaf ranges whose hashes make up the proof,
`nodes_for` the stored nodes those ranges need, and `range_hash` computes a range's hash
from them. Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

Node = tuple[int, int]  # (level, index): the complete subtree of leaves [index * 2**level, (index + 1) * 2**level)
Range = tuple[int, int]  # leaves [lo, hi)

EMPTY_ROOT = hashlib.sha256(b"").digest()  # the root of the empty tree (RFC 6962 §2.1)


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 ‖ entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than `n` (n ≥ 2): the size of the left subtree."""
    return 1 << ((n - 1).bit_length() - 1)


def cover(lo: int, hi: int) -> list[Node]:
    """The complete aligned subtrees whose right fold is the hash of leaves [lo, hi), left to right.

    Valid for the ranges of the RFC split (each starts at a multiple of a power of two at least its size):
    the split takes the largest power of two in what remains each time, so the subtrees are the 1 bits of
    `hi - lo`, highest first.
    """
    nodes: list[Node] = []
    n = hi - lo
    while n > 0:
        level = n.bit_length() - 1
        nodes.append((level, lo >> level))
        lo += 1 << level
        n -= 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """H(h1, H(h2, … H(h_{m-1}, h_m))): the hash of a right edge from its complete subtrees."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def range_hash(lo: int, hi: int, nodes: Mapping[Node, bytes]) -> bytes:
    """The hash of leaves [lo, hi) from stored complete nodes (KeyError if one is missing)."""
    return fold([nodes[node] for node in cover(lo, hi)])


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose hashes form the audit path of leaf `index` in a tree of `size` (RFC 6962 §2.1.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    out: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()  # the path runs from the leaf up
    return out


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The ranges whose hashes form the proof that the tree of `first` leaves is a prefix of the
    tree of `second` leaves (RFC 6962 §2.1.2); empty when first is 0 or equal to second."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second} leaves")
    if first in (0, second):
        return []
    out: list[Range] = []
    lo, hi, m, whole = 0, second, first, True
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        out.append((lo, hi))
    out.reverse()
    return out


def nodes_for(ranges: Iterable[Range]) -> set[Node]:
    """Every stored node the hashes of these ranges need."""
    return {node for lo, hi in ranges for node in cover(lo, hi)}


def proof_covers(sizes: Iterable[int], ranges: Iterable[Range]) -> list[list[Node]]:
    """The stored nodes of the root of each tree of `sizes`, then of each range's hash, in that order."""
    return [cover(0, size) for size in sizes] + [cover(lo, hi) for lo, hi in ranges]


def proof_nodes(sizes: Iterable[int], ranges: Iterable[Range]) -> list[Node]:
    """Every stored node the roots of the trees of `sizes` and the hashes of `ranges` need, sorted:
    what a store reads, in one query, to answer a head with its proof."""
    return sorted({node for nodes in proof_covers(sizes, ranges) for node in nodes})


def proof_parts(
    sizes: Sequence[int], ranges: Sequence[Range], nodes: Mapping[Node, bytes]
) -> tuple[list[bytes], list[bytes]]:
    """The roots of the trees of `sizes` and the hashes of `ranges`, from the nodes `proof_nodes` names
    (KeyError naming the first missing node)."""
    hashes = [fold([nodes[node] for node in part]) for part in proof_covers(sizes, ranges)]
    return hashes[: len(sizes)], hashes[len(sizes) :]


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The root of a tree of leaf hashes, by the RFC's recursive definition (for small trees and tests)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


class CompactRange:
    """The right edge of a growing tree: append leaf hashes, read the root, in O(log n) memory.

    `hashes` are the right edge's complete subtrees, `cover(0, size)`, left to right. With `keep`,
    `completed` collects every complete node the appends create (what a store writes).
    """

    def __init__(self, size: int = 0, edge: Sequence[bytes] = (), *, keep: bool = True) -> None:
        expected = size.bit_count()  # one complete subtree per 1 bit of the size: len(cover(0, size))
        if len(edge) != expected:
            raise ValueError(f"a tree of {size} leaves has {expected} right-edge nodes, not {len(edge)}")
        self.size = size
        self.hashes: list[bytes] = list(edge)
        self.keep = keep
        self.completed: dict[Node, bytes] = {}

    def append(self, leaf: bytes) -> None:
        index, digest, level = self.size, leaf, 0
        if self.keep:
            self.completed[(0, index)] = leaf
        # Leaf `index` completes one parent per trailing 1 bit of `index`.
        while index & 1:
            digest = node_hash(self.hashes.pop(), digest)
            index >>= 1
            level += 1
            if self.keep:
                self.completed[(level, index)] = digest
        self.hashes.append(digest)
        self.size += 1

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Append many leaves at once, level by level (what a bulk check uses; same result as `append`)."""
        if self.keep:
            for leaf in leaves:
                self.append(leaf)
            return
        # Level L holds the nodes (L, start >> L …); an odd start pairs with the edge's node of that
        # level first, an odd count leaves its last node on the new right edge.
        old = dict(zip((level for level, _ in cover(0, self.size)), self.hashes, strict=True))
        new: dict[int, bytes] = {}
        current, start, level = list(leaves), self.size, 0
        sha256 = hashlib.sha256
        while current:
            if start & 1:
                current.insert(0, old.pop(level))
                start -= 1
            if len(current) & 1:
                new[level] = current.pop()
            current = [sha256(b"\x01" + a + b).digest() for a, b in zip(current[::2], current[1::2], strict=True)]
            start >>= 1
            level += 1
        new.update(old)  # levels above the new nodes keep their old edge
        self.size += len(leaves)
        self.hashes = [new[level] for level in sorted(new, reverse=True)]

    def append_subtree(self, level: int, digest: bytes) -> None:
        """Append the complete subtree of `2**level` leaves whose root is `digest` (the size must be a
        multiple of its size: `aligned_subtrees` gives such pieces)."""
        if self.size % (1 << level):
            raise ValueError(f"a subtree of level {level} does not start at leaf {self.size}")
        if self.keep:
            raise ValueError("a range that keeps its nodes takes leaves, not subtrees")
        index = self.size >> level
        while index & 1:  # a right child: merge with the left sibling at the end of the edge
            digest = node_hash(self.hashes.pop(), digest)
            index >>= 1
        self.hashes.append(digest)
        self.size += 1 << level

    def root(self) -> bytes:
        return fold(self.hashes)


def aligned_subtrees(start: int, leaves: Sequence[bytes]) -> list[tuple[int, bytes]]:
    """The roots of the complete aligned subtrees that cover leaves [start, start + len(leaves)),
    left to right, as (level, root): what `CompactRange.append_subtree` takes, so that a range of
    leaves can be hashed apart from the rest of the tree."""
    out: list[tuple[int, bytes]] = []
    at, position, sha256 = 0, start, hashlib.sha256
    while at < len(leaves):
        aligned = (position & -position).bit_length() - 1 if position else 64
        level = min(aligned, (len(leaves) - at).bit_length() - 1)
        nodes = list(leaves[at : at + (1 << level)])
        while len(nodes) > 1:
            nodes = [sha256(b"\x01" + a + b).digest() for a, b in zip(nodes[::2], nodes[1::2], strict=True)]
        out.append((level, nodes[0]))
        at += 1 << level
        position += 1 << level
    return out


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ------------------------------------------


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """Whether `path` proves that `leaf` is leaf `index` of the tree of `size` leaves with `root`."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether `proof` shows that the tree of `first` leaves (`first_root`) is a prefix of the tree of
    `second` leaves (`second_root`)."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree is a node of the second
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root
