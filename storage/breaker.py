"""Fail fast while PostgreSQL is unreachable: one failure to get a connection opens the breaker briefly.

Without it every request that needs the database waits the whole connect timeout during an outage,
the threadpool fills with waiting requests, and answers that need no database (checks served from
memory) queue behind them. With it, for `cooldown` seconds after a failure to connect, asking for a
connection fails at once (a 503 with Retry-After). After that one request, the probe, knocks while
every other keeps failing at once: it opens a connection of its own, outside the pool, and closes it.
A server that is down refuses it at once and the breaker opens for another cooldown; a server that
answers is asked through the pool, and that success closes the breaker for everyone. So a process is
back within about a cooldown of the server.

The probe knocks rather than asking the pool first because a client waiting in the pool waits its
whole timeout (3 s) even when the pool has given up: the pool connects in the background and retries
a failed connect a second later, then gives up and waits for the next client to grow again. A probe
that began just before a restart would wait out the timeout after the server was back.

The pool also replaces each broken connection in the background, retrying a failed connect after
1, 2, 4, 8, 16 … seconds: after a 20 s outage its next attempt could be 10 s after the server is back.
Its attempts are cut to the breaker's cooldown instead, so it gives up within a second and a probe
whose knock was answered finds it ready to grow at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import OperationalError
from psycopg_pool import ConnectionPool


class ConnectionBreaker:
    """Wraps a datastore's `get_connection`; only failures to connect trip it, not errors of the queries.

    `knock` connects outside the pool and raises `OperationalError` when the database does not answer.
    """

    def __init__(
        self,
        get_connection: Callable[[], AbstractContextManager[Any]],
        knock: Callable[[], None],
        cooldown: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._get_connection = get_connection
        self._knock = knock
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
                if probe:
                    self._knock()
                conn = stack.enter_context(self._get_connection())
            except OperationalError:
                self._tripped(probe)
                raise
            except BaseException:
                self._tripped(probe)  # any other failure of the probe must not hold the probe's turn for good
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


def knock_on(pool: ConnectionPool[Any]) -> Callable[[], None]:
    """Open and close a connection to the pool's server, with the pool's settings but outside it."""

    def knock() -> None:
        conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
        kwargs = pool.kwargs() if callable(pool.kwargs) else pool.kwargs or {}
        try:
            # No longer than a client would wait in the pool, if the host does not even refuse.
            psycopg.connect(conninfo, **{**kwargs, "connect_timeout": round(pool.timeout)}).close()
        except psycopg.OperationalError as error:
            raise OperationalError(str(error)) from error

    return knock


def install(datastore: Any, cooldown: float = 1.0) -> None:
    """Put a breaker in front of a PostgreSQL datastore's connections (its transactions use them too)."""
    datastore.get_connection = ConnectionBreaker(datastore.get_connection, knock_on(datastore.pool), cooldown)
    # psycopg_pool reads it at each new attempt; the pool is built closed and opened on first use.
    datastore.pool.reconnect_timeout = cooldown
