"""The log's Ed25519 signing key: a file outside the database, never logged.

`LEDGER_SIGNING_KEY_FILE` names a PKCS#8 PEM file (`ledger keygen FILE` writes one, mode 0600).
A key file that its group or other users may read is refused. Without the setting:

- SQLite: `ledger-signing.key` next to the database file (created on first use, 0600);
- PostgreSQL: `ledger-signing.key` in the working directory (created on first use, with a
  warning: every process serving one database must share one key file, so set the variable);
- memory: a key generated for the process (a memory store lives in one process anyway).

Creation is atomic (written aside, then hard-linked into place), so processes starting together
end up with one key.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from storage.url import parse_database_url

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


def write_new_key(path: Path) -> Ed25519PrivateKey:
    """Generate a key and write it to `path` (mode 0600); FileExistsError if a file is already there."""
    key = Ed25519PrivateKey.generate()
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


def load_or_create(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        try:
            return write_new_key(path)
        except FileExistsError:
            pass
    return load_key(path)


def default_key_path(database_url: str) -> Path | None:
    """Where the key lives without LEDGER_SIGNING_KEY_FILE (None: a key for this process only)."""
    config = parse_database_url(database_url)
    if config.kind == "memory":
        return None
    if config.kind == "sqlite":
        return Path(config.env["SQLITE_DBNAME"]).resolve().parent / DEFAULT_NAME
    return Path.cwd() / DEFAULT_NAME


def signing_key(database_url: str, key_file: str | None) -> Ed25519PrivateKey:
    """The log's signing key for this configuration (see the module docstring)."""
    if key_file:
        return load_key(Path(key_file))
    path = default_key_path(database_url)
    if path is None:
        return Ed25519PrivateKey.generate()
    if parse_database_url(database_url).kind == "postgres":
        log.warning(
            "LEDGER_SIGNING_KEY_FILE is not set: signing with %s; every process serving this database "
            "must use the same key file",
            path,
        )
    return load_or_create(path)
