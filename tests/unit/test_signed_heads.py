"""Signed tree heads and entries as a client checks them, with no database."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger import merkle
from ledger.verify import (
    Entry,
    UnknownKey,
    VerificationError,
    check_consistency,
    check_inclusion,
    decode_entry,
    encode_entry,
    head_message,
    keyring,
    log_id,
    parse_public_key,
    public_key_bytes,
    sign_head,
    verify_head,
)

KEY = Ed25519PrivateKey.generate()
PUBLIC = public_key_bytes(KEY.public_key())


def test_the_signed_message_is_the_sorted_spaceless_json_of_the_four_signed_keys() -> None:
    head = sign_head(KEY, 3, bytes(32), 1_700_000_000_000)
    expected = json.dumps(
        {"log_id": head["log_id"], "root_hash": "00" * 32, "timestamp": 1_700_000_000_000, "tree_size": 3},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    assert head_message(head) == expected
    KEY.public_key().verify(base64.b64decode(head["signature"]), expected)
    assert head["log_id"] == log_id(PUBLIC)
    assert len(head["log_id"]) == 64


def test_a_head_verifies_under_its_key_and_not_once_any_signed_field_changes() -> None:
    head = sign_head(KEY, 5, bytes(range(32)), 1)
    assert verify_head(head, PUBLIC) == (5, bytes(range(32)))
    for field, value in (("tree_size", 6), ("root_hash", "11" * 32), ("timestamp", 2)):
        with pytest.raises(VerificationError):
            verify_head({**head, field: value}, PUBLIC)
    other = public_key_bytes(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(VerificationError, match="log_id"):
        verify_head(head, other)


def test_an_entry_round_trips_and_carries_position_id_and_exact_stored_bytes() -> None:
    entry = Entry(42, "0190-abc", "person:p1", 7, "ledger.events:PersonRegistered", b'{"name":"A\\u00e9"}')
    data = encode_entry(entry)
    assert decode_entry(data) == entry
    assert entry.state in data
    assert b"0190-abc" in data
    with pytest.raises(ValueError):
        decode_entry(data + b"x")


def test_inclusion_and_consistency_are_checked_against_signed_heads() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(6)]
    tree = merkle.CompactRange()
    for leaf in leaves:
        tree.append(leaf)
    nodes = tree.completed
    old = sign_head(KEY, 4, merkle.range_hash(0, 4, nodes), 1)
    new = sign_head(KEY, 6, merkle.range_hash(0, 6, nodes), 2)
    path = [merkle.range_hash(lo, hi, nodes).hex() for lo, hi in merkle.inclusion_ranges(2, 6)]
    check_inclusion(leaves[2], 2, path, new, PUBLIC)
    with pytest.raises(VerificationError):
        check_inclusion(leaves[3], 2, path, new, PUBLIC)
    proof = [merkle.range_hash(lo, hi, nodes).hex() for lo, hi in merkle.consistency_ranges(4, 6)]
    check_consistency(old, new, proof, PUBLIC)
    with pytest.raises(VerificationError):
        check_consistency(new, old, proof, PUBLIC)


def test_after_a_rotation_each_head_is_checked_with_the_key_its_log_id_names() -> None:
    new = Ed25519PrivateKey.generate()
    trusted = keyring([PUBLIC, public_key_bytes(new.public_key())])
    old_head, new_head = sign_head(KEY, 2, bytes(32), 1), sign_head(new, 3, bytes(32), 2)
    assert verify_head(old_head, trusted) == (2, bytes(32))
    assert verify_head(new_head, trusted) == (3, bytes(32))
    with pytest.raises(VerificationError, match="does not verify"):
        verify_head({**new_head, "signature": old_head["signature"]}, trusted)


def test_a_head_signed_by_a_key_not_in_the_keyring_is_an_unknown_key_not_a_bad_signature() -> None:
    stranger = Ed25519PrivateKey.generate()
    head = sign_head(stranger, 2, bytes(32), 1)
    stranger_id = log_id(public_key_bytes(stranger.public_key()))
    with pytest.raises(UnknownKey, match=f"signed by an unknown key {stranger_id}") as raised:
        verify_head(head, keyring([PUBLIC]))
    assert raised.value.key_id == stranger_id


def test_a_public_key_is_read_from_pem_base64_or_the_json_of_the_key_endpoint() -> None:
    pem = KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    b64 = base64.b64encode(PUBLIC)
    endpoint = json.dumps({"algorithm": "ed25519", "public_key": b64.decode(), "log_id": log_id(PUBLIC)}).encode()
    for form in (pem, b64, b64 + b"\n", endpoint):
        assert parse_public_key(form) == PUBLIC
    x25519 = X25519PrivateKey.generate().public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    for junk, problem in (
        (b"hello", "not a public key"),
        (base64.b64encode(bytes(31)), "32 bytes"),
        (b'{"key": 1}', "public_key"),
        (x25519, "not an Ed25519 key"),
    ):
        with pytest.raises(VerificationError, match=problem):
            parse_public_key(junk)
