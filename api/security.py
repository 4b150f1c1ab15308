"""API clients and their keys: `client_id:role:secret`, kept in the key ring only as SHA-256 digests.

A presented secret is hashed and compared in constant time with every known
digest, so neither timing nor the process memory reveals a key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

# A secret shorter than this could be guessed; generated ones are 43 characters (256 bits).
MIN_SECRET_CHARS = 32


class ClientRole(StrEnum):
    REGISTRAR = "registrar"  # appends commands
    PORTAL = "portal"  # check, rights, windows
    SUPPORT = "support"  # every read
    AUDITOR = "auditor"  # every read, feed, verify, exports


@dataclass(frozen=True)
class Client:
    client_id: str
    role: ClientRole


@dataclass(frozen=True)
class _Key:
    client: Client
    digest: bytes


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class KeyRing:
    """Known API keys; authenticates a bearer secret."""

    def __init__(self, keys: list[tuple[str, ClientRole, str]]) -> None:
        self._keys = [_Key(Client(cid, role), _digest(secret)) for cid, role, secret in keys]

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        """Parse LEDGER_API_KEYS; raises ValueError naming the bad entry (without its secret)."""
        keys: list[tuple[str, ClientRole, str]] = []
        for n, raw in enumerate(spec.split(","), start=1):
            raw = raw.strip()
            if not raw:
                continue
            parts = raw.split(":", 2)
            if len(parts) != 3 or not all(parts):
                raise ValueError(f"LEDGER_API_KEYS entry {n} is not client_id:role:secret")
            client_id, role, secret = parts
            try:
                keys.append((client_id, ClientRole(role), secret))
            except ValueError:
                roles = ", ".join(r.value for r in ClientRole)
                raise ValueError(
                    f"LEDGER_API_KEYS entry {n} ({client_id}) has role {role!r}; use one of {roles}"
                ) from None
            if len(secret) < MIN_SECRET_CHARS:
                raise ValueError(
                    f"LEDGER_API_KEYS entry {n} ({client_id}) has a secret of {len(secret)} characters; "
                    f"at least {MIN_SECRET_CHARS} are required (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
                )
        if not keys:
            raise ValueError("LEDGER_API_KEYS holds no key")
        return cls(keys)

    @classmethod
    def generate(cls) -> tuple[KeyRing, list[tuple[str, ClientRole, str]]]:
        """One fresh key per role (for development); the secrets are returned once, to be printed."""
        keys = [(f"dev-{role.value}", role, secrets.token_urlsafe(32)) for role in ClientRole]
        return cls(keys), keys

    def authenticate(self, secret: str) -> Client | None:
        """The client whose key this is, comparing digests in constant time."""
        presented = _digest(secret)
        found: Client | None = None
        for key in self._keys:
            if hmac.compare_digest(presented, key.digest):
                found = key.client
        return found

    def clients(self) -> list[Client]:
        return [k.client for k in self._keys]
