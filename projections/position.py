"""The ledger position one process knows: the highest position it has seen committed, never going back.

A process learns of positions in several ways (its own appends, the follower reading
the log, its cache taking in the index), on several threads. Answers that state
"the latest position" (`/healthz`) read this one number, and every read answers at
the cache's position, which is at or below it and never goes back either: so the
positions a process states, answer after answer, never decrease.
"""

from __future__ import annotations

import threading


class ProcessPosition:
    """A monotonic high-water mark of ledger positions, safe across threads."""

    def __init__(self, start: int = 0) -> None:
        self._value = start
        self._lock = threading.Lock()

    @property
    def value(self) -> int:
        return self._value

    def saw(self, position: int) -> None:
        """Take in a position known committed."""
        if position > self._value:
            with self._lock:
                if position > self._value:
                    self._value = position
