"""The cyclic garbage collector, paused for the length of bulk work."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_pauses = 0
_pauses_lock = threading.Lock()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while bulk work runs (it runs again after; pauses nest).

    A batch of commands, or a rebuild's replay, allocates tens of thousands of short-lived objects
    per step; left alone, the collector runs dozens of times per step, often a full pass over every
    long-lived object (cached streams, a rebuild's map of every event seen). What the work leaves
    behind is freed by reference counting anyway. The pause is process-wide, for the work's length.
    """
    global _pauses
    with _pauses_lock:
        ours = _pauses > 0 or gc.isenabled()  # else someone else turned it off: leave it as found
        if ours:
            _pauses += 1
            gc.disable()
    try:
        yield
    finally:
        if ours:
            with _pauses_lock:
                _pauses -= 1
                if _pauses == 0:
                    gc.enable()
