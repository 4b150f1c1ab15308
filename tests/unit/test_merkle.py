"""RFC 6962 trees: the reference vectors, every proof of small trees against a naive recomputation, and
properties: every leaf's proof verifies, and a changed byte, a reorder, a deletion or an insertion fails."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle
from tests.histories import examples_from_env

# The Certificate Transparency implementations' test leaves (hex).
RFC_LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
EXAMPLES = examples_from_env(local=30, ci=400)


def naive_root(entries: list[bytes]) -> bytes:
    return merkle.root_of([merkle.leaf_hash(e) for e in entries])


def stored_nodes(entries: list[bytes]) -> dict[merkle.Node, bytes]:
    tree = merkle.CompactRange()
    for e in entries:
        tree.append(merkle.leaf_hash(e))
    return tree.completed


def naive_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH, straight from the definition."""
    if len(leaves) == 1:
        return []
    k = merkle.split_point(len(leaves))
    if index < k:
        return [*naive_path(index, leaves[:k]), merkle.root_of(leaves[k:])]
    return [*naive_path(index - k, leaves[k:]), merkle.root_of(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """RFC 6962 §2.1.2 SUBPROOF, straight from the definition."""
    n = len(leaves)
    if m == n:
        return [] if whole else [merkle.root_of(leaves)]
    k = merkle.split_point(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], whole), merkle.root_of(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), merkle.root_of(leaves[:k])]


def proof(ranges: list[merkle.Range], nodes: dict[merkle.Node, bytes]) -> list[bytes]:
    return [merkle.range_hash(lo, hi, nodes) for lo, hi in ranges]


def test_the_empty_entry_hashes_to_the_rfc_leaf_hash() -> None:
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


def test_the_eight_rfc_leaves_hash_to_the_rfc_root_naively_and_from_stored_nodes() -> None:
    expected = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert naive_root(RFC_LEAVES).hex() == expected
    assert merkle.range_hash(0, 8, stored_nodes(RFC_LEAVES)).hex() == expected


def test_the_first_three_rfc_leaves_hash_to_the_rfc_root_naively_and_from_stored_nodes() -> None:
    expected = "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
    assert naive_root(RFC_LEAVES[:3]).hex() == expected
    assert merkle.range_hash(0, 3, stored_nodes(RFC_LEAVES)).hex() == expected


def test_the_compact_range_root_equals_the_naive_root_at_every_size_up_to_eight() -> None:
    tree = merkle.CompactRange()
    for n, entry in enumerate(RFC_LEAVES, start=1):
        tree.append(merkle.leaf_hash(entry))
        assert tree.root() == naive_root(RFC_LEAVES[:n])


@pytest.mark.parametrize("size", range(1, 9))
def test_every_inclusion_proof_of_the_rfc_trees_equals_the_naive_one_and_verifies(size: int) -> None:
    leaves = [merkle.leaf_hash(e) for e in RFC_LEAVES[:size]]
    nodes = stored_nodes(RFC_LEAVES)
    root = naive_root(RFC_LEAVES[:size])
    for index in range(size):
        path = proof(merkle.inclusion_ranges(index, size), nodes)
        assert path == naive_path(index, leaves)
        assert merkle.verify_inclusion(leaves[index], index, size, path, root)
        assert not merkle.verify_inclusion(leaves[index], index, size, path, naive_root(RFC_LEAVES[: size - 1]))


@pytest.mark.parametrize("second", range(1, 9))
def test_every_consistency_proof_of_the_rfc_trees_equals_the_naive_one_and_verifies(second: int) -> None:
    leaves = [merkle.leaf_hash(e) for e in RFC_LEAVES[:second]]
    nodes = stored_nodes(RFC_LEAVES)
    for first in range(1, second + 1):
        got = proof(merkle.consistency_ranges(first, second), nodes)
        assert got == ([] if first == second else naive_subproof(first, leaves, True))
        first_root, second_root = naive_root(RFC_LEAVES[:first]), naive_root(RFC_LEAVES[:second])
        assert merkle.verify_consistency(first, second, first_root, second_root, got)
        if first < second:
            assert not merkle.verify_consistency(first, second, second_root, second_root, got)


def test_the_empty_tree_is_consistent_with_every_tree_and_nothing_is_proved_in_it() -> None:
    assert merkle.verify_consistency(0, 3, merkle.EMPTY_ROOT, naive_root(RFC_LEAVES[:3]), [])
    assert not merkle.verify_inclusion(merkle.leaf_hash(b""), 0, 0, [], merkle.EMPTY_ROOT)


def test_a_compact_range_resumed_from_its_right_edge_continues_the_same_tree() -> None:
    nodes = stored_nodes(RFC_LEAVES[:5])
    resumed = merkle.CompactRange(5, [nodes[n] for n in merkle.cover(0, 5)])
    for entry in RFC_LEAVES[5:]:
        resumed.append(merkle.leaf_hash(entry))
    assert resumed.root() == naive_root(RFC_LEAVES)


entries = st.lists(st.binary(max_size=12), min_size=1, max_size=70)


@settings(max_examples=EXAMPLES, deadline=None)
@given(entries=entries, data=st.data())
def test_leaves_added_in_bulk_from_any_right_edge_make_the_same_tree_as_one_by_one(
    entries: list[bytes], data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, len(entries)), label="start")
    leaves = [merkle.leaf_hash(e) for e in entries]
    one_by_one = merkle.CompactRange(keep=False)
    for leaf in leaves[:start]:
        one_by_one.append(leaf)
    bulk = merkle.CompactRange(start, list(one_by_one.hashes), keep=False)
    cut = data.draw(st.integers(start, len(entries)), label="cut")
    bulk.extend(leaves[start:cut])
    bulk.extend(leaves[cut:])
    assert bulk.size == len(entries)
    assert bulk.root() == naive_root(entries)
    for leaf in leaves[start:]:
        one_by_one.append(leaf)
    assert bulk.hashes == one_by_one.hashes


@settings(max_examples=EXAMPLES, deadline=None)
@given(entries=entries, data=st.data())
def test_ranges_of_leaves_hashed_apart_into_aligned_subtrees_make_the_same_tree(
    entries: list[bytes], data: st.DataObject
) -> None:
    leaves = [merkle.leaf_hash(e) for e in entries]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(entries)), max_size=4), label="cuts"))
    tree = merkle.CompactRange(keep=False)
    for lo, hi in zip([0, *cuts], [*cuts, len(entries)], strict=True):
        for level, digest in merkle.aligned_subtrees(lo, leaves[lo:hi]):
            assert lo % (1 << level) == 0
            assert digest == naive_root(entries[lo : lo + (1 << level)])
            tree.append_subtree(level, digest)
            lo += 1 << level
    assert tree.size == len(entries)
    assert tree.root() == naive_root(entries)


def test_a_subtree_that_does_not_start_at_a_multiple_of_its_size_is_refused() -> None:
    tree = merkle.CompactRange(keep=False)
    tree.append(merkle.leaf_hash(b"a"))
    with pytest.raises(ValueError, match="does not start at leaf 1"):
        tree.append_subtree(1, bytes(32))


@settings(max_examples=EXAMPLES, deadline=None)
@given(entries=entries, data=st.data())
def test_every_leaf_is_proved_in_every_tree_that_holds_it(entries: list[bytes], data: st.DataObject) -> None:
    nodes = stored_nodes(entries)
    size = data.draw(st.integers(1, len(entries)), label="size")
    root = merkle.range_hash(0, size, nodes)
    assert root == naive_root(entries[:size])
    for index in range(size):
        path = proof(merkle.inclusion_ranges(index, size), nodes)
        assert merkle.verify_inclusion(merkle.leaf_hash(entries[index]), index, size, path, root)
    first = data.draw(st.integers(0, size), label="first")
    consistency = proof(merkle.consistency_ranges(first, size), nodes)
    first_root = merkle.range_hash(0, first, nodes)
    assert merkle.verify_consistency(first, size, first_root, root, consistency)


@settings(max_examples=EXAMPLES, deadline=None)
@given(entries=entries, data=st.data())
def test_the_nodes_a_proof_names_are_enough_for_the_proof_and_both_roots(
    entries: list[bytes], data: st.DataObject
) -> None:
    stored = stored_nodes(entries)
    second = data.draw(st.integers(1, len(entries)), label="second")
    first = data.draw(st.integers(0, second), label="first")
    index = data.draw(st.integers(0, second - 1), label="index")
    for sizes, ranges in (
        ([second], merkle.inclusion_ranges(index, second)),
        ([first, second], merkle.consistency_ranges(first, second)),
    ):
        named = merkle.proof_nodes(sizes, ranges)
        roots, hashes = merkle.proof_parts(sizes, ranges, {n: stored[n] for n in named})
        assert roots == [naive_root(entries[:size]) for size in sizes]
        assert hashes == proof(ranges, stored)
    path = proof(merkle.inclusion_ranges(index, second), stored)
    assert len(merkle.proof_nodes([second], merkle.inclusion_ranges(index, second))) <= 2 * len(path) + 2


def tampered(entries: list[bytes], how: str, at: int) -> list[bytes]:
    out = list(entries)
    if how == "changed byte":
        out[at] = bytes([out[at][0] ^ 1]) + out[at][1:] if out[at] else b"\x01"
    elif how == "reorder":
        out[at], out[at + 1] = out[at + 1], out[at]
    elif how == "deletion":
        del out[at]
    else:
        out.insert(at, b"forged")
    return out


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    entries=st.lists(
        st.binary(min_size=1, max_size=12).filter(lambda b: b != b"forged"), min_size=2, max_size=70, unique=True
    ),
    how=st.sampled_from(["changed byte", "reorder", "deletion", "insertion"]),
    data=st.data(),
)
def test_a_changed_byte_a_reorder_a_deletion_or_an_insertion_breaks_the_proofs_of_the_signed_tree(
    entries: list[bytes], how: str, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(entries) - 2), label="at")
    kept_root, kept_size = naive_root(entries), len(entries)  # what a client holds: a head of the honest tree
    forged = tampered(entries, how, at)
    nodes = stored_nodes(forged)
    # The forged log no longer proves the kept leaf at its index under its own head ...
    forged_root = merkle.range_hash(0, len(forged), nodes)
    path = proof(merkle.inclusion_ranges(at, len(forged)), nodes)
    assert not merkle.verify_inclusion(merkle.leaf_hash(entries[at]), at, len(forged), path, forged_root)
    # ... and its head does not extend the kept one: at the kept size its root differs, or (shorter) it
    # cannot be consistent with it at all.
    if len(forged) >= kept_size:
        assert merkle.range_hash(0, kept_size, nodes) != kept_root
        consistency = proof(merkle.consistency_ranges(kept_size, len(forged)), nodes)
        assert not merkle.verify_consistency(kept_size, len(forged), kept_root, forged_root, consistency)
    else:
        assert not merkle.verify_consistency(kept_size, len(forged), kept_root, forged_root, [])
