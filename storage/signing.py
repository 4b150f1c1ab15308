"""The log's Ed25519 signing key: a file outside the database, never logged.

`LEDGER_SIGNING_KEY_FILE` names a PKCS#8 PEM file (`ledger keygen FILE` writes one, mode 0600).
A key file that its group or other users may read is refused. Without the setting:

- SQLite: `ledger-signing.key` next to the database file (created on first use, 0600);
- PostgreSQL: `ledger-signing.key` in the working directory (created on first use, with a
  warning: every process serving one database must share one key file, so set the variable);
- memory: a key generated for the process (a memory store lives in one process anyway).

Creation is atomic (written aside, then hard-linked into place), so processes starting together
end up with one key.

**One log, one key at a time.** Once the store holds signed heads (recorded by verifications), a
process whose key did not sign them refuses to start, rather than sign heads that every later
verification would have to reject: the usual cause is a missing or changed `LEDGER_SIGNING_KEY_FILE`.
No key is created for such a store either. A deliberate rotation lists the earlier public keys in
`LEDGER_PREVIOUS_PUBLIC_KEYS` (base64, comma-separated; public keys only): heads they signed keep
verifying, each with the key its `log_id` names, and new heads are signed with the new key.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from ledger.verify import keyring, log_id, public_key_bytes
from storage.evidence import LogEvidence
from storage.recorders import LedgerRecorder
from storage.url import parse_database_url
from storage.verification import signers

log = logging.getLogger("ledger.signing")

DEFAULT_NAME = "ledger-signing.key"


class SigningKeyError(RuntimeError):
    """The signing key file is missing, unreadable, too widely readable or not an Ed25519 key."""


def key_is_private(mode: int) -> bool:
    """Only the owner may read the key file (as ssh asks of its keys)."""
    return mode & (stat.S_IRWXG | stat.S_IRWXO) == 0


def load_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in `path` (SigningKeyError naming the file and what is wrong)."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as e:
        raise SigningKeyError(f"cannot read the signing key file {path}: {e.strerror}") from None
    if not key_is_private(mode):
        raise SigningKeyError(
            f"the signing key file {path} may be read by other users (mode {stat.S_IMODE(mode):o}): chmod 600 it"
        )
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SigningKeyError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 key")
    return key


def write_new_key(path: Path, key: Ed25519PrivateKey | None = None) -> Ed25519PrivateKey:
    """Write `key` (default: a new one) to `path` (mode 0600); FileExistsError if a file is already there."""
    key = key or Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, aside = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.link(aside, path)  # fails if another process got there first: theirs is kept
    finally:
        os.unlink(aside)
    return key


def default_key_path(database_url: str) -> Path | None:
    """Where the key lives without LEDGER_SIGNING_KEY_FILE (None: a key for this process only)."""
    config = parse_database_url(database_url)
    if config.kind == "memory":
        return None
    if config.kind == "sqlite":
        return Path(config.env["SQLITE_DBNAME"]).resolve().parent / DEFAULT_NAME
    return Path.cwd() / DEFAULT_NAME


@dataclass(frozen=True)
class PendingKey:
    """The log's signing key before the store is opened: loaded from its file, or generated to be
    written to `path` (`new`) only once the store is known not to hold heads of another key."""

    key: Ed25519PrivateKey
    path: Path | None  # None: a key for this process only (memory store)
    new: bool
    setting: bool  # whether LEDGER_SIGNING_KEY_FILE named the file

    def keep(self) -> Ed25519PrivateKey:
        """The key, written to its file first if it is new (another process's, if it wrote one first)."""
        if not self.new or self.path is None:
            return self.key
        try:
            return write_new_key(self.path, self.key)
        except FileExistsError:
            return load_key(self.path)


def resolve_key(database_url: str, key_file: str | None) -> PendingKey:
    """The log's signing key for this configuration (see the module docstring), not yet written if new."""
    if key_file:
        return PendingKey(load_key(Path(key_file)), Path(key_file), new=False, setting=True)
    path = default_key_path(database_url)
    if path is None:
        return PendingKey(Ed25519PrivateKey.generate(), None, new=True, setting=False)
    if parse_database_url(database_url).kind == "postgres":
        log.warning(
            "LEDGER_SIGNING_KEY_FILE is not set: signing with %s; every process serving this database "
            "must use the same key file",
            path,
        )
    if path.exists():
        return PendingKey(load_key(path), path, new=False, setting=False)
    return PendingKey(Ed25519PrivateKey.generate(), path, new=True, setting=False)


def signing_key(database_url: str, key_file: str | None) -> Ed25519PrivateKey:
    """The log's signing key for this configuration, created if there is none (see the module docstring)."""
    return resolve_key(database_url, key_file).keep()


def previous_public_keys(setting: str | None) -> list[bytes]:
    """The public keys of LEDGER_PREVIOUS_PUBLIC_KEYS: base64 of the raw 32 bytes, comma-separated."""
    keys = []
    for item in (setting or "").split(","):
        if not item.strip():
            continue
        try:
            raw = base64.b64decode(item.strip(), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise SigningKeyError(
                f"LEDGER_PREVIOUS_PUBLIC_KEYS: {item.strip()[:60]!r} is not the base64 of a 32-byte Ed25519 public "
                "key (as GET /v1/log/key serves it)"
            )
        keys.append(raw)
    return keys


def open_log(recorder: LedgerRecorder, pending: PendingKey, previous: Sequence[bytes] = ()) -> LogEvidence:
    """The log's signer for an opened store, once its key is one the store's signed heads allow.

    SigningKeyError names the keys that signed heads in the store but are neither this key nor a
    previous one (LEDGER_PREVIOUS_PUBLIC_KEYS), and the setting to fix."""
    public = public_key_bytes(pending.key.public_key())
    unknown = sorted(signers(recorder) - set(keyring([public, *previous])))
    if unknown:
        ids = ", ".join(unknown)
        if pending.new and pending.path is not None:
            where = (
                f"LEDGER_SIGNING_KEY_FILE is not set and {pending.path} does not exist: no new key is made for a log "
                f"whose heads are signed by key {ids}."
            )
        else:
            source = f"the key file {pending.path}" if pending.path else "this process's key"
            how = " (LEDGER_SIGNING_KEY_FILE)" if pending.setting else " (LEDGER_SIGNING_KEY_FILE is not set)"
            where = f"this log's heads are signed by key {ids}, not by {source}{how}, log id {log_id(public)}."
        raise SigningKeyError(
            f"{where} Set LEDGER_SIGNING_KEY_FILE to the key file that signed them; to rotate keys on purpose, "
            "also list the old public key (base64) in LEDGER_PREVIOUS_PUBLIC_KEYS."
        )
    kept = pending.keep()
    if public_key_bytes(kept.public_key()) != public:  # another process wrote its key first: check that one
        return open_log(recorder, PendingKey(kept, pending.path, new=False, setting=pending.setting), previous)
    return LogEvidence(recorder, kept, previous)
