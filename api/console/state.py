"""The console's server-side state: sessions (in memory, with expiry), sign-in tokens, the last verification.

A session cookie carries only a random session id; the API key used to sign in is
checked once and never stored, so neither the cookie nor the memory holds it.
State lives on `app.state` (one per application), created on first use.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request

from api.security import Client, ClientRole

CONSOLE_ROLES = (ClientRole.SUPPORT, ClientRole.AUDITOR)
# A sign-in form is good for this long (its token rides in a short-lived cookie, against login CSRF).
SIGN_IN_FORM_MINUTES = 15


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    return bool(presented) and hmac.compare_digest(str(presented).encode(), expected.encode())


@dataclass(frozen=True)
class Session:
    session_id: str
    client: Client
    csrf_token: str
    created_at: datetime
    expires_at: datetime

    @property
    def is_auditor(self) -> bool:
        return self.client.role is ClientRole.AUDITOR


class SessionStore:
    """Sessions by random id, each expiring a fixed time after sign-in."""

    def __init__(self, lifetime: timedelta, clock: Callable[[], datetime] = utc_now) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, client: Client) -> Session:
        now = self.clock()
        session = Session(new_token(), client, new_token(), now, now + self.lifetime)
        with self._lock:
            self._prune(now)
            self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at <= now:
                del self._sessions[session_id]
                return None
        return session

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _prune(self, now: datetime) -> None:
        for sid in [sid for sid, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[sid]


@dataclass(frozen=True)
class Verification:
    """The outcome of one on-demand run of `verify_chain`."""

    ok: bool
    checked: int
    position: int
    first_bad_position: int | None
    problem: str | None
    started_at: datetime
    seconds: float
    by: str  # client id of the auditor who ran it


class AnswerCache:
    """A few recent answers by key. Answers at a fixed ledger position never change (append-only),
    so re-sorting, paging or downloading the table just shown does not recompute it."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


@dataclass
class ConsoleState:
    sessions: SessionStore
    last_verification: Verification | None = None
    verify_lock: threading.Lock = field(default_factory=threading.Lock)
    access_answers: AnswerCache = field(default_factory=AnswerCache)


_create_lock = threading.Lock()


def console_state(request: Request) -> ConsoleState:
    """This application's console state, created on first use."""
    state = getattr(request.app.state, "console", None)
    if state is None:
        with _create_lock:
            state = getattr(request.app.state, "console", None)
            if state is None:
                minutes = request.app.state.container.settings.console_session_minutes
                state = ConsoleState(SessionStore(timedelta(minutes=minutes)))
                request.app.state.console = state
    assert isinstance(state, ConsoleState)
    return state
