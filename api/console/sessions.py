"""Console sessions carried in a signed cookie, so any worker process can read them.

The cookie holds a random session id, the client id and role, and the expiry, signed
with HMAC-SHA256 (`itsdangerous`) under a secret every process of one deployment shares:
`LEDGER_CONSOLE_SECRET`, or else one derived from the whole `LEDGER_API_KEYS` value (which
only the operator holds; no single key reveals it). The API key used to sign in is checked
once and is never in the cookie. A session is accepted only while its client still holds
that role in the key ring, so removing a key ends its sessions everywhere.

Signing out deletes the cookie; nothing is stored, so a copy of the cookie taken before
sign-out stays valid until it expires (`console_session_minutes`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from api.security import Client, ClientRole, KeyRing

SALT = "ledger-console-session"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def session_secret(console_secret: str | None, api_keys: str | None) -> bytes:
    """The signing secret: the configured one, else derived from every API key, else random (one process)."""
    if console_secret:
        return console_secret.encode()
    if api_keys:
        return hmac.new(hashlib.sha256(api_keys.encode()).digest(), SALT.encode(), hashlib.sha256).digest()
    return secrets.token_bytes(32)


@dataclass(frozen=True)
class Session:
    session_id: str
    client: Client
    csrf_token: str
    expires_at: datetime

    @property
    def is_auditor(self) -> bool:
        return self.client.role is ClientRole.AUDITOR


class SignedSessions:
    """Sessions as signed cookie values, each expiring a fixed time after sign-in."""

    def __init__(
        self, secret: bytes, keys: KeyRing, lifetime: timedelta, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._serializer = URLSafeSerializer(secret, salt=SALT)
        self._csrf_key = hmac.new(secret, b"csrf", hashlib.sha256).digest()
        self._keys = keys
        self.lifetime = lifetime
        self.clock = clock

    def _csrf(self, session_id: str) -> str:
        # Bound to the session: a form token of one session is worthless in another.
        return hmac.new(self._csrf_key, session_id.encode(), hashlib.sha256).hexdigest()

    def create(self, client: Client) -> tuple[Session, str]:
        """A new session (fresh id at every sign-in) and the cookie value that carries it."""
        session_id = new_token()
        expires = self.clock() + self.lifetime
        value = self._serializer.dumps(
            {"sid": session_id, "cid": client.client_id, "role": client.role.value, "exp": int(expires.timestamp())}
        )
        return Session(session_id, client, self._csrf(session_id), expires), value

    def get(self, cookie: str | None) -> Session | None:
        """The session a cookie carries, if its signature holds, it has not expired and its client still exists."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie)
            session_id, client_id, role = str(data["sid"]), str(data["cid"]), ClientRole(data["role"])
            expires = datetime.fromtimestamp(int(data["exp"]), UTC)
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if expires <= self.clock():
            return None
        client = Client(client_id, role)
        if client not in self._keys.clients():
            return None
        return Session(session_id, client, self._csrf(session_id), expires)
