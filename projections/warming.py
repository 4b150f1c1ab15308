"""Warming the query cache after a start: every organization first, then every person, in the background.

(Last, the recorded_at of every position: a check `as_of` an instant then resolves it in memory.)

On release day most requests are a person's first, and a first check costs a round trip
to the store and the decoding of its streams. A process that has just started therefore
loads the streams ahead of the requests: the calendar, districts and schools first (every
check reads one of them), then people. It reads the whole index in one pass ordered by
stream (`FactIndex.facts_by_stream`, one snapshot), and keeps it a batch of whole streams
at a time, from a thread of its own. It uses the process's idle time: between batches it
waits while the rest of the process is busy (requests load what they need themselves, and
a thread holding the interpreter would slow every one of them), so requests never wait
long for the interpreter (nor for the store: the cache's lock is never held over a read).
It stops at the cache's limit instead of evicting what it loaded itself, and it never
evicts what queries use.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from projections.cache import CachedSource
from projections.fact_index import Fact
from projections.held import Gap
from projections.runner import ProjectionTimeout

log = logging.getLogger("ledger.projections")

# Streams are warmed in id order, people's last: the calendar, districts and schools first (every
# check reads them), then people.
PEOPLE = "person:"


@dataclass(frozen=True)
class WarmingProgress:
    """How far warming has got: streams loaded (or found already held) of those the index has."""

    done: bool
    loaded: int
    of: int | None  # None until the index has been listed
    full: bool  # stopped at the cache's limit: the rest loads on first use
    error: str | None = None


def whole_streams(facts: Iterable[Fact], size: int) -> Iterator[list[Fact]]:
    """Facts ordered by stream, in batches of whole streams of at least `size` facts (the last may be smaller)."""
    batch: list[Fact] = []
    for f in facts:
        if len(batch) >= size and f.stream != batch[-1].stream:
            yield batch
            batch = []
        batch.append(f)
    if batch:
        yield batch


def others_cpu() -> float:
    """CPU seconds the process's other threads have used so far (called from the warming thread)."""
    return time.process_time() - time.thread_time()


class CacheWarmer:
    """Loads every stream of the fact index into a CachedSource, a batch at a time, until it is full.

    `batch` is in facts: each batch is as many whole streams as make at least that many (about 5 ms
    of decoding at 500: a request arriving meanwhile waits about that long for the interpreter).
    """

    def __init__(
        self,
        source: CachedSource,
        *,
        batch: int = 500,
        pause: float = 0.005,
        busy: float = 0.1,
        patience: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        others: Callable[[], float] = others_cpu,
        then: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.then = then  # called once warming has finished or stopped
        self.batch = batch
        # Before each batch, while the other threads (requests, the follower) have used more than `busy`
        # of a core since the last look, sleep `pause` and look again; after `patience` seconds of that
        # one batch goes anyway, so a process that is never idle still ends up warm, slowly.
        self.pause = pause
        self.busy = busy
        self.patience = patience
        self._sleep = sleep
        self._others = others
        self._looked_at = time.monotonic()
        self._others_then = 0.0
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
        self._looked_at, self._others_then = time.monotonic(), self._others()
        self.source.begin_warming()  # before listing: streams born meanwhile are held as they arrive
        everything = False
        try:
            everything = self._warm_listed()
        finally:
            self.source.end_warming(everything)
        if not self._stop.is_set():  # `as_of` instants without I/O; checks need the streams first
            self.source.load_times(page=5_000, pause=self.when_idle)

    def when_idle(self) -> None:
        """Return once the rest of the process has been (nearly) idle since the last look, or after `patience`."""
        deadline = time.monotonic() + self.patience
        while not self._stop.is_set():
            now, others = time.monotonic(), self._others()
            busy = others - self._others_then > self.busy * (now - self._looked_at)
            self._looked_at, self._others_then = now, others
            if not busy or now >= deadline:
                return
            self._sleep(self.pause)

    def _warm_listed(self) -> bool:
        """Warm every stream of the index; whether all were loaded."""
        self._of = len(self.source.view.stream_ids())
        while True:
            try:
                return self._warm_pass()
            except ProjectionTimeout:  # the index is being rebuilt: try again shortly
                if self._stop.is_set():
                    return False
                self._sleep(0.5)

    def _warm_pass(self) -> bool:
        """One pass over the index, in one snapshot; whether every stream in it was loaded."""
        self._loaded = 0
        with self.source.view.facts_by_stream(PEOPLE) as (read_at, facts):
            if read_at < self.source.tracked():  # the index is behind the cache: it is being rebuilt
                raise ProjectionTimeout(self.source.tracked(), read_at, 0.0)
            gap = Gap(read_at)  # facts the cache takes in meanwhile, for the streams read later
            room = True
            for batch in whole_streams(facts, self.batch):
                self.when_idle()
                if self._stop.is_set():
                    return False
                if not room:  # the cache filled up exactly with the last batch: these do not fit
                    self._full = True
                    return False
                fresh = self.source.decoded(batch)
                held, room = self.source.hold_warmed(fresh, gap)
                self._loaded += held
                self._of = max(self._of or 0, self._loaded)  # (streams born since they were counted)
                if held < len(fresh):  # a partial batch is not everything
                    self._full = True
                    return False
        return True
