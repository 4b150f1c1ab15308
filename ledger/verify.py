"""What a client or an auditor checks without trusting the database: entries, signed tree heads and proofs.

Pure functions over bytes and JSON-shaped values (no I/O; Ed25519 from `cryptography`).

- An *entry* (the bytes a leaf hashes) holds an event's position, id and exact stored bytes:
  `0x01 ‖ position (8 bytes) ‖ event id ‖ stream id ‖ version (8 bytes) ‖ topic ‖ state`, each
  variable part prefixed by its length (4 bytes, big-endian). The leading version byte lets a
  later format (e.g. one that commits to personal fields separately) be told apart.
- A *signed tree head* is `{"log_id", "tree_size", "root_hash", "timestamp", "signature"}`: the
  Ed25519 signature (base64) of the UTF-8 JSON of the other four keys, sorted, without spaces.
  `log_id` is the hex SHA-256 of the raw 32-byte public key; `timestamp` is milliseconds since
  the Unix epoch (as in RFC 6962).
- *Trust* is one public key (raw 32 bytes) or a keyring, `{log_id: public key}`: after a key
  rotation a head is checked with the key its `log_id` names, and a head whose key is not in the
  keyring fails as `UnknownKey`, whatever its signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from struct import pack
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from ledger import merkle

ENTRY_FORMAT = 1


@dataclass(frozen=True)
class Entry:
    """One event as the tree commits to it."""

    position: int
    event_id: str
    stream_id: str
    version: int
    topic: str
    state: bytes


def encode_entry(entry: Entry) -> bytes:
    """The entry bytes of an event (see the module docstring)."""
    event_id = entry.event_id.encode()
    stream_id = entry.stream_id.encode()
    topic = entry.topic.encode()
    return b"".join(
        (
            pack(">BQI", ENTRY_FORMAT, entry.position, len(event_id)),
            event_id,
            pack(">I", len(stream_id)),
            stream_id,
            pack(">QI", entry.version, len(topic)),
            topic,
            pack(">I", len(entry.state)),
            entry.state,
        )
    )


def decode_entry(data: bytes) -> Entry:
    """An entry back from its bytes (ValueError if they are not one)."""
    if not data or data[0] != ENTRY_FORMAT:
        raise ValueError("not a ledger entry of format 1")
    at = 1

    def take(n: int) -> bytes:
        nonlocal at
        if at + n > len(data):
            raise ValueError("a ledger entry ends early")
        chunk, at = data[at : at + n], at + n
        return chunk

    def part() -> bytes:
        return take(int.from_bytes(take(4), "big"))

    position = int.from_bytes(take(8), "big")
    event_id, stream_id = part().decode(), part().decode()
    version = int.from_bytes(take(8), "big")
    topic, state = part().decode(), part()
    if at != len(data):
        raise ValueError("a ledger entry has trailing bytes")
    return Entry(position, event_id, stream_id, version, topic, state)


# --- keys and signed heads ------------------------------------------------------------------


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def log_id(public_key: bytes) -> str:
    """The hex SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(public_key).hexdigest()


def head_message(head: Mapping[str, Any]) -> bytes:
    """The signed bytes of a head: its four signed keys as sorted, spaceless JSON, UTF-8."""
    signed = {k: head[k] for k in ("log_id", "root_hash", "timestamp", "tree_size")}
    return json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()


def sign_head(key: Ed25519PrivateKey, tree_size: int, root: bytes, timestamp_ms: int) -> dict[str, Any]:
    """A signed tree head for the tree of `tree_size` leaves with `root`."""
    head: dict[str, Any] = {
        "log_id": log_id(public_key_bytes(key.public_key())),
        "tree_size": tree_size,
        "root_hash": root.hex(),
        "timestamp": timestamp_ms,
    }
    head["signature"] = base64.b64encode(key.sign(head_message(head))).decode()
    return head


class VerificationError(ValueError):
    """A head, proof or entry that does not check out; the message says which and why."""


class UnknownKey(VerificationError):
    """A head signed by a key the verifier does not trust (not a change to the log's contents)."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"signed by an unknown key {key_id}")
        self.key_id = key_id


Trust = bytes | Mapping[str, bytes]  # one raw public key, or a keyring {log_id: raw public key}


def keyring(public_keys: Iterable[bytes]) -> dict[str, bytes]:
    """The keyring of these raw public keys, by log id."""
    return {log_id(key): key for key in public_keys}


def key_for(head: Mapping[str, Any], trusted: Trust) -> bytes:
    """The trusted public key that must have signed `head` (the one its `log_id` names)."""
    named = head.get("log_id")
    if isinstance(trusted, bytes):
        if named != log_id(trusted):
            raise VerificationError(f"the head's log_id {named} is not this log's key {log_id(trusted)}")
        return trusted
    if not isinstance(named, str) or named not in trusted:
        raise UnknownKey(str(named))
    return trusted[named]


def parse_public_key(data: bytes) -> bytes:
    """A raw Ed25519 public key from what an auditor keeps: a PEM public key, the base64 of the raw
    32 bytes (as `ledger keygen` prints it), or the JSON `GET /v1/log/key` answers."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = load_pem_public_key(text)
        except ValueError:
            raise VerificationError("not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise VerificationError("the PEM public key is not an Ed25519 key")
        return public_key_bytes(key)
    if text.startswith(b"{"):
        try:
            text = str(json.loads(text)["public_key"]).encode()
        except (ValueError, KeyError, TypeError):
            raise VerificationError("a JSON key must have public_key (as GET /v1/log/key answers)") from None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("not a public key: expected PEM, base64 or the JSON of GET /v1/log/key") from None
    if len(raw) != 32:
        raise VerificationError(f"an Ed25519 public key is 32 bytes, not {len(raw)}")
    return raw


def _hex(value: Any, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise VerificationError(f"{what} must be 64 hex digits")
    return raw


def _size(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise VerificationError(f"{what} must be a non-negative integer")
    return value


def verify_head(head: Mapping[str, Any], public_key: Trust) -> tuple[int, bytes]:
    """Check a signed head against the log's public key (or the keyring's key it names); answer (tree_size, root)."""
    raw = key_for(head, public_key)
    try:
        key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as e:
        raise VerificationError("the public key must be 32 raw bytes") from e
    size = _size(head.get("tree_size"), "tree_size")
    root = _hex(head.get("root_hash"), "root_hash")
    _size(head.get("timestamp"), "timestamp")
    try:
        signature = base64.b64decode(str(head.get("signature", "")), validate=True)
        key.verify(signature, head_message(head))
    except (InvalidSignature, binascii.Error, ValueError) as e:
        raise VerificationError(f"the signature of the head of size {size} does not verify") from e
    return size, root


def check_inclusion(leaf: bytes, index: int, path: Sequence[str], head: Mapping[str, Any], public_key: Trust) -> None:
    """Raise VerificationError unless `path` proves leaf `index` (hash `leaf`) under the signed `head`."""
    size, root = verify_head(head, public_key)
    hashes = [_hex(h, "audit_path") for h in path]
    if not merkle.verify_inclusion(leaf, index, size, hashes, root):
        raise VerificationError(f"leaf {index} is not proved in the tree of size {size}")


def check_consistency(
    first: Mapping[str, Any], second: Mapping[str, Any], proof: Sequence[str], public_key: Trust
) -> None:
    """Raise VerificationError unless `proof` shows the log of signed head `first` is a prefix of `second`'s."""
    m, first_root = verify_head(first, public_key)
    n, second_root = verify_head(second, public_key)
    hashes = [_hex(h, "proof") for h in proof]
    if not merkle.verify_consistency(m, n, first_root, second_root, hashes):
        raise VerificationError(f"the tree of size {m} is not a prefix of the tree of size {n}")


def check_receipt_still_holds(
    receipt: Mapping[str, Any],
    proofs: Sequence[Mapping[str, Any]],
    consistency: Mapping[str, Any],
    public_key: Trust,
) -> None:
    """What a client holding a receipt checks later: the log's newer head extends the head it kept
    (`consistency`, as `GET /v1/log/consistency` answers), and each of its leaves is still proved
    (`proofs`, as `GET /v1/events/{id}/proof` answers, at the newer head's size)."""
    kept = receipt["head"]
    verify_head(kept, public_key)
    if consistency.get("first_head", {}).get("root_hash") != kept["root_hash"]:
        raise VerificationError("the log no longer has the root of the head this receipt holds")
    check_consistency(kept, consistency["second_head"], consistency["proof"], public_key)
    newer = consistency["second_head"]
    wanted = {leaf["position"]: leaf["leaf_hash"] for leaf in receipt["leaves"]}
    for proof in proofs:
        position = proof["position"]
        if position not in wanted:
            continue
        if proof["leaf_hash"] != wanted.pop(position):
            raise VerificationError(f"the leaf at position {position} is not the one this receipt holds")
        if proof["head"]["root_hash"] != newer["root_hash"] or proof["head"]["tree_size"] != newer["tree_size"]:
            raise VerificationError(f"the proof of position {position} is not under the newer head")
        check_inclusion(_hex(proof["leaf_hash"], "leaf_hash"), position - 1, proof["audit_path"], newer, public_key)
    if wanted:
        raise VerificationError(f"no proof for positions {sorted(wanted)}")
