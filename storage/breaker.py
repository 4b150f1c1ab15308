"""Fail fast while PostgreSQL is unreachable: one failure to get a connection opens the breaker briefly.

Without it every request that needs the database waits the whole connect timeout during an outage,
the threadpool fills with waiting requests, and answers that need no database (checks served from
memory) queue behind them. With it, for `cooldown` seconds after a failure to connect, asking for a
connection fails at once (a 503 with Retry-After), and the next request after that tries again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

from eventsourcing.persistence import OperationalError


class ConnectionBreaker:
    """Wraps a datastore's `get_connection`; only failures to connect trip it, not errors of the queries."""

    def __init__(self, get_connection: Callable[[], AbstractContextManager[Any]], cooldown: float = 1.0) -> None:
        self._get_connection = get_connection
        self.cooldown = cooldown
        self.open_until = 0.0

    @contextmanager
    def __call__(self) -> Iterator[Any]:
        if time.monotonic() < self.open_until:
            raise OperationalError("the database was unreachable moments ago; retry shortly")
        with ExitStack() as stack:
            try:
                conn = stack.enter_context(self._get_connection())
            except OperationalError:
                self.open_until = time.monotonic() + self.cooldown
                raise
            yield conn


def install(datastore: Any, cooldown: float = 1.0) -> None:
    """Put a breaker in front of a PostgreSQL datastore's connections (its transactions use them too)."""
    datastore.get_connection = ConnectionBreaker(datastore.get_connection, cooldown)
