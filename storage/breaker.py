"""Fail fast while PostgreSQL is unreachable: one failure to get a connection opens the breaker briefly.

Without it every request that needs the database waits the whole connect timeout during an outage,
the threadpool fills with waiting requests, and answers that need no database (checks served from
memory) queue behind them. With it, for `cooldown` seconds after a failure to connect, asking for a
connection fails at once (a 503 with Retry-After). After that one request, the probe, asks the pool
again while every other keeps failing at once: only the probe waits for an answer, and its success
closes the breaker for everyone.

The pool itself replaces each broken connection in the background, retrying a failed connect after
1, 2, 4, 8, 16 … seconds: after a 20 s outage its next attempt could be 10 s after the server is back,
and every request meanwhile waits for a connection in vain. Its attempts are cut to the breaker's
cooldown instead; the next probe starts a new attempt at once, so the pool is back within about a
second of the server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

from eventsourcing.persistence import OperationalError


class ConnectionBreaker:
    """Wraps a datastore's `get_connection`; only failures to connect trip it, not errors of the queries."""

    def __init__(
        self,
        get_connection: Callable[[], AbstractContextManager[Any]],
        cooldown: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._get_connection = get_connection
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self.open_until: float | None = None  # None: closed (the database answered last time)
        self._probing = False

    @contextmanager
    def __call__(self) -> Iterator[Any]:
        probe = self._admit()
        with ExitStack() as stack:
            try:
                conn = stack.enter_context(self._get_connection())
            except OperationalError:
                self._tripped(probe)
                raise
            self._answered(probe)
            yield conn

    def _admit(self) -> bool:
        """Let the caller ask the pool (True: as the one probe of an open breaker), or fail at once."""
        with self._lock:
            if self.open_until is None:
                return False
            if self._clock() < self.open_until or self._probing:
                raise OperationalError("the database was unreachable moments ago; retry shortly")
            self._probing = True
            return True

    def _tripped(self, probe: bool) -> None:
        with self._lock:
            self.open_until = self._clock() + self.cooldown
            if probe:
                self._probing = False

    def _answered(self, probe: bool) -> None:
        with self._lock:
            self.open_until = None
            if probe:
                self._probing = False


def install(datastore: Any, cooldown: float = 1.0) -> None:
    """Put a breaker in front of a PostgreSQL datastore's connections (its transactions use them too)."""
    datastore.get_connection = ConnectionBreaker(datastore.get_connection, cooldown)
    # psycopg_pool reads it at each new attempt; the pool is built closed and opened on first use.
    datastore.pool.reconnect_timeout = cooldown
