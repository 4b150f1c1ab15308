"""Warming the query cache after a start: every organization first, then every person, in the background.

(First, the recorded_at of every position: a check `as_of` an instant then resolves it in memory.)

On release day most requests are a person's first, and a first check costs a round trip
to the store and the decoding of its streams. A process that has just started therefore
loads the streams ahead of the requests: the calendar, districts and schools first (every
check reads one of them), then people. It does so from a thread of its own, in small
batches with a pause between them, so the process answers from its first moment and
requests never wait long for the interpreter. It stops at the cache's limit instead of
evicting what it loaded itself, and it never evicts what queries use.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ledger import events as ev
from projections.cache import CachedSource
from projections.runner import ProjectionTimeout

log = logging.getLogger("ledger.projections")

# The order streams are warmed in: what most checks read first.
KIND_ORDER = {"calendar": 0, "district": 1, "school": 2, "person": 3}


@dataclass(frozen=True)
class WarmingProgress:
    """How far warming has got: streams loaded (or found already held) of those the index has."""

    done: bool
    loaded: int
    of: int | None  # None until the index has been listed
    full: bool  # stopped at the cache's limit: the rest loads on first use
    error: str | None = None


def warming_order(stream_ids: list[str]) -> list[str]:
    """The calendar, districts and schools, then people, then anything else; by id within a kind."""
    return sorted(stream_ids, key=lambda s: (KIND_ORDER.get(ev.parse_stream_id(s)[0], len(KIND_ORDER)), s))


class CacheWarmer:
    """Loads every stream of the fact index into a CachedSource, a batch at a time, until it is full."""

    def __init__(
        self,
        source: CachedSource,
        *,
        batch: int = 100,
        pause: float = 0.005,
        duty: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        then: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.then = then  # called once warming has finished or stopped
        self.batch = batch
        # Between batches, at least `pause` and as long as it takes to keep warming's share of the
        # interpreter (one lock for all threads) at `duty`: requests take it meanwhile.
        self.pause = pause
        self.duty = duty
        self._sleep = sleep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._loaded = 0
        self._of: int | None = None
        self._full = False
        self._error: str | None = None

    def progress(self) -> WarmingProgress:
        return WarmingProgress(self._done.is_set(), self._loaded, self._of, self._full, self._error)

    def start(self) -> None:
        """Warm from a daemon thread (returns at once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="ledger-cache-warming", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until warming has finished (or stopped); whether it has."""
        return self._done.wait(timeout)

    def run(self) -> None:
        """Warm now, in the calling thread."""
        started = time.monotonic()
        try:
            self._warm()
        except Exception as e:  # the cache still loads streams on first use; say why warming stopped
            if self._stop.is_set():  # the process is closing its connections
                return
            self._error = type(e).__name__
            log.warning("cache warming stopped", extra={"fields": {"error": repr(e), "loaded": self._loaded}})
        finally:
            if self.then is not None:
                self.then()
            self._done.set()
        streams, facts, _ = self.source.size()
        log.info(
            "cache warmed",
            extra={
                "fields": {
                    "streams": streams,
                    "facts": facts,
                    "full": self._full,
                    "seconds": round(time.monotonic() - started, 2),
                }
            },
        )

    def _warm(self) -> None:
        self.source.begin_warming()  # before listing: streams born meanwhile are held as they arrive
        everything = False
        try:
            self.source.load_times(pause=lambda: self._sleep(self.pause))  # `as_of` instants, without I/O
            everything = self._warm_listed()
        finally:
            self.source.end_warming(everything)

    def _warm_listed(self) -> bool:
        """Warm every stream listed now; whether all were loaded."""
        # An index behind the cache is being rebuilt: its list is partial, so warm it but claim nothing.
        listed_whole = self.source.view.tracked() >= self.source.tracked()
        streams = warming_order(self.source.view.stream_ids())
        self._of = len(streams)
        i = 0
        while i < len(streams) and not self._stop.is_set():
            chunk = streams[i : i + self.batch]
            started = time.monotonic()
            try:
                held, room = self.source.warm(chunk)
            except ProjectionTimeout:  # the index is being rebuilt: try again shortly
                self._sleep(0.5)
                continue
            self._loaded += held
            i += len(chunk)
            if held < len(chunk) or (not room and i < len(streams)):  # a partial batch is not everything
                self._full = True
                return False
            self._sleep(max(self.pause, (time.monotonic() - started) * (1 / self.duty - 1)))
        return i >= len(streams) and listed_whole
