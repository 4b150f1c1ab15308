"""Follow the log into the fact index: batches of events, each batch one transaction with its tracking position.

The runner polls the recorder (the library's `ProjectionRunner` cannot subscribe
to SQLite, and polling works the same on every store) and is woken at once by
appends made in this process. Positions are assigned and committed under the
append lock, so a position can never commit after a higher one: reading "rows
after my tracking position" cannot skip an event (see `storage.recorders`).

Several processes may run a runner on one database: they race for each batch,
and the loser's transaction fails on the tracking row (or the facts' primary
key) and is simply retried from the new tracking position.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from eventsourcing.persistence import IntegrityError

from ledger import events as ev
from projections.fact_index import Fact, FactIndex, fact_of
from storage.collector import collector_paused
from storage.mapper import LedgerMapper
from storage.recorders import LedgerRecorder

log = logging.getLogger("ledger.projection")


class ProjectionTimeout(TimeoutError):
    """Read-your-writes: the projection did not reach the asked position in time."""

    def __init__(self, wanted: int, reached: int, timeout: float) -> None:
        super().__init__(
            f"the projections reached position {reached}, not {wanted}, within {timeout:g}s; retry shortly"
        )
        self.wanted = wanted
        self.reached = reached
        self.timeout = timeout


class ProjectionRunner:
    """Keeps a FactIndex up with the ledger's log."""

    def __init__(
        self,
        recorder: LedgerRecorder,
        mapper: LedgerMapper,
        view: FactIndex,
        *,
        batch_size: int = 2000,
        poll_interval: float = 0.05,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.view = view
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None
        self._seen: dict[str, tuple[int, str | None, str | None]] | None = None
        self.error: BaseException | None = None  # the last batch's failure, cleared by a success
        self.last_seen = 0  # highest ledger position this runner has seen (projected or read)
        self.projected = 0  # highest position known projected (by this runner or another)
        self.listeners: list[Callable[[int], object]] = []  # told each new tracking position, in order

    # --- processing ---------------------------------------------------------------------

    def process_batch(self) -> int:
        """Project the next batch of events; returns how many were projected."""
        after = self.view.tracked()
        self._tell(after)
        self.last_seen = max(self.last_seen, after)
        rows = self.recorder.read_stored(after, self.batch_size)
        if not rows:
            return 0
        last = rows[-1][0]
        self.last_seen = max(self.last_seen, last)
        facts: list[Fact] = []
        voids: list[tuple[int, int]] = []
        # (position, person, org) of events seen: this batch's, or the whole log's during a rebuild.
        about = self._seen if self._seen is not None else {}
        for row in rows:
            position, _, _, topic, raw = row
            # Index from the raw stored state: the typed event is only built when a query needs it.
            state = self.mapper.raw_state_of(raw)
            kind = topic.rpartition(":")[2]
            if kind == "EventVoided":
                # A void is about whoever its target is about, so timelines show it.
                target_id = state["voided_event_id"]
                target = about.get(target_id) or self.view.about(target_id)
                subject: tuple[str | None, str | None] = (None, None)
                if target is not None:
                    voids.append((target[0], position))
                    subject = (target[1], target[2])
            else:
                subject = ev.subject_of(kind, state.get)
            about[state["event_id"]] = (position, *subject)
            facts.append(fact_of(row, kind, state, subject))
        try:
            self.view.process(facts, voids, last)
        except (IntegrityError, psycopg.errors.UniqueViolation):
            if self.view.tracked() > after:
                return 0  # another runner projected this batch first: carry on from its position
            raise
        self._tell(last)
        with self._progress:
            self._progress.notify_all()
        return len(rows)

    def _tell(self, position: int) -> None:
        """Tell listeners (the in-memory cache) where the index is, each time the runner looks.

        Listeners are cheap when nothing changed and idempotent otherwise; they also see the
        index go back (another process rebuilding it). `wait` tells them itself, so it never
        returns before they have taken the position in, even while another thread is telling them.
        """
        self.projected = position
        for listener in self.listeners:
            listener(position)

    def catch_up(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Project until the end of the log as it is now; returns the tracked position."""
        end = self.recorder.last_position()
        while self.view.tracked() < end:
            if self.process_batch() == 0 and self.view.tracked() < end:
                time.sleep(self.poll_interval)
            if progress is not None:
                progress(self.view.tracked(), end)
        reached = self.view.tracked()
        self._tell(reached)  # also when another process did the work
        return reached

    def rebuild(self, progress: Callable[[int, int], None] | None = None, batch_size: int = 10_000) -> int:
        """Drop the views and replay the whole log from position 0, in large batches, indexes built last."""
        self.view.drop()
        normal, self.batch_size = self.batch_size, max(self.batch_size, batch_size)
        # Without the event-id index, a void finds its target in what the rebuild has seen.
        self._seen = {}
        try:
            # Without the pause, full collections walk the map of every event seen, again and again:
            # at 1M events they took a quarter of the rebuild's CPU.
            with self.view.bulk_load(), collector_paused():
                return self.catch_up(progress)
        finally:
            self.batch_size, self._seen = normal, None

    # --- following ----------------------------------------------------------------------

    def notify(self, _position: int = 0) -> None:
        """Wake the follower: something was appended in this process."""
        self._wake.set()

    def start(self) -> None:
        """Follow the log in a background thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ledger-projection", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following (the tracking position is already saved)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        backoff = self.poll_interval
        while not self._stop.is_set():
            try:
                done = self.process_batch()
                backoff = self.poll_interval
                self.error = None
            except Exception as e:  # keep following; a broken database is reported by /healthz
                self.error = e
                log.exception("projection batch failed; retrying")
                done = 0
                backoff = min(backoff * 2, 5.0)
            if done == 0:
                self._wake.wait(backoff)
                self._wake.clear()

    def wait(self, position: int, timeout: float) -> int:
        """Read-your-writes: block until `position` is projected, or raise ProjectionTimeout."""
        deadline = time.monotonic() + timeout
        reached = self.view.tracked()
        while reached < position:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProjectionTimeout(position, reached, timeout)
            self._wake.set()
            with self._progress:
                self._progress.wait(min(remaining, self.poll_interval))
            reached = self.view.tracked()
        self._tell(reached)
        return reached

    def close(self) -> None:
        """Stop following (the view shares the application's connections, closed with it)."""
        self.stop()
