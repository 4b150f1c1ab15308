"""The console's per-process state: the session signer, the last verification, recent answers.

Sessions themselves live in signed cookies (`api.console.sessions`), so they hold in
every worker. State lives on `app.state` (one per application), created on first use.
"""

from __future__ import annotations

import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from starlette.requests import Request

from api.console.sessions import Session, SignedSessions, new_token, session_secret, utc_now
from api.security import ClientRole

CONSOLE_ROLES = (ClientRole.SUPPORT, ClientRole.AUDITOR)
# A sign-in form is good for this long (its token rides in a short-lived cookie, against login CSRF).
SIGN_IN_FORM_MINUTES = 15


def same_token(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    return bool(presented) and hmac.compare_digest(str(presented).encode(), expected.encode())


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
    sessions: SignedSessions
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
                container = request.app.state.container
                settings = container.settings
                secret = session_secret(
                    settings.console_secret.get_secret_value() if settings.console_secret else None,
                    settings.api_keys.get_secret_value() if settings.api_keys else None,
                )
                lifetime = timedelta(minutes=settings.console_session_minutes)
                state = ConsoleState(SignedSessions(secret, container.keys, lifetime))
                request.app.state.console = state
    assert isinstance(state, ConsoleState)
    return state


__all__ = ["Session", "new_token", "utc_now"]
