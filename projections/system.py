"""One opened ledger: the write service, the fact index, its follower and the queries (wired by `bootstrap`),
and what the faces (API, console, command line) ask of the log itself: the feed, verification, checkpoints
and the audit bundle, so that they never reach into the store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ledger.calendar import LedgerCalendar
from projections.cache import CachedSource
from projections.fact_index import FactIndex
from projections.position import ProcessPosition
from projections.queries import Queries
from projections.runner import ProjectionRunner, ProjectionTimeout
from projections.warming import CacheWarmer, WarmingProgress
from storage.audit import feed
from storage.bundle import BundleReport, export_bundle, load_bundle
from storage.evidence import LogEvidence
from storage.recorders import Checkpoint
from storage.service import LedgerService, utc_now
from storage.signing import PendingKey, open_log
from storage.url import StoreConfig
from storage.verification import Verification, last_verification, latest_checkpoint_head, run_verification


@dataclass(frozen=True)
class Readiness:
    """Whether the process should be sent reads: its store answers and its projections are close to the log."""

    ready: bool
    log_position: int | None  # the log's last position, None when the store did not answer
    position: int  # the position reads answer at
    lag: int | None  # positions between the two
    problems: tuple[str, ...]
    replica: ReplicaState | None = None
    warming: WarmingProgress | None = None  # None when this process does not warm its cache


@dataclass(frozen=True)
class ReplicaState:
    """The read replica this process reads its projections from, and how far it has replayed them."""

    display: str  # its URL without a password
    position: int | None  # the projections' position replayed on it; None when it did not answer
    lag: int | None  # positions the primary's projections are ahead of it


@dataclass
class LedgerSystem:
    """Everything a process needs to write and read one ledger."""

    config: StoreConfig
    service: LedgerService
    view: FactIndex
    runner: ProjectionRunner
    queries: Queries
    source: CachedSource
    calendar: LedgerCalendar
    clock: Callable[[], datetime] = field(default=utc_now)
    head: ProcessPosition = field(default_factory=ProcessPosition)
    replica: StoreConfig | None = None  # where reads go, when not to the primary
    warmer: CacheWarmer | None = None

    def start_warming(self, then: Callable[[], None] | None = None) -> CacheWarmer:
        """Load every organization, then every person, into the query cache from a background thread;
        `then` runs when it has finished."""
        if self.warmer is None:
            self.warmer = CacheWarmer(self.source, then=then)
            self.warmer.start()
        return self.warmer

    def position(self) -> int:
        """The latest position this process knows committed: at or after every position it has answered."""
        self.head.saw(self.source.tracked())
        return self.head.value

    def read_position(self) -> int:
        """The position reads answer at now (what the cache holds); never goes back."""
        return self.source.tracked()

    def wait(self, position: int, timeout: float) -> int:
        """Read-your-writes: block until reads answer at `position` or later, or raise ProjectionTimeout."""
        deadline = time.monotonic() + timeout
        held = self.source.tracked()
        while held < position:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProjectionTimeout(position, held, timeout)
            self.runner.wait(position, remaining)  # the index has it; the cache takes it in below
            held = self.source.refresh()
            if held < position:
                time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
        return held

    def readiness(self, max_lag: int) -> Readiness:
        """Ready when the store answers, the follower is not failing and reads lag at most `max_lag` positions."""
        problems: list[str] = []
        head: int | None = None
        try:
            head = self.service.recorder.last_position()
            self.head.saw(head)
        except Exception as e:  # any failure to answer is "unreachable" to a load balancer
            problems.append(f"store unreachable ({type(e).__name__})")
        if self.runner.error is not None:
            problems.append(f"projections failing ({type(self.runner.error).__name__})")
        held = self.read_position()
        lag = None if head is None else max(0, head - held)
        if lag is not None and lag > max_lag:
            problems.append(f"projections {lag} positions behind the log (more than {max_lag})")
        replica = self.replica_state() if self.replica is not None else None
        if replica is not None:
            if replica.position is None:
                problems.append("read replica unreachable")
            elif replica.lag is not None and replica.lag > max_lag:
                problems.append(f"read replica {replica.lag} positions behind the primary (more than {max_lag})")
        # Warming is reported, not a reason to refuse reads: a cold stream costs one round trip, and a
        # fleet restarted at once must not take itself out of its load balancer until every cache is warm.
        warming = None if self.warmer is None else self.warmer.progress()
        return Readiness(not problems, head, held, lag, tuple(problems), replica, warming)

    def replica_state(self) -> ReplicaState | None:
        """How far the read replica has replayed the primary's projections (None without a replica)."""
        if self.replica is None:
            return None
        try:
            replayed = self.source.view.tracked()
        except Exception:  # unreachable, or recovering
            return ReplicaState(self.replica.display, None, None)
        try:
            primary = self.view.tracked()
        except Exception:
            return ReplicaState(self.replica.display, replayed, None)
        return ReplicaState(self.replica.display, replayed, max(0, primary - replayed))

    # --- the log itself, for the faces ---------------------------------------------------------------

    def last_position(self) -> int:
        """The log's last position, read from the store."""
        return self.service.recorder.last_position()

    def open_evidence(self, key: PendingKey, previous: Sequence[bytes] = ()) -> LogEvidence:
        """The log's signed heads, proofs and receipts, signed with `key` once the heads already in the
        store are known to be signed by it or by a `previous` key (SigningKeyError otherwise)."""
        return open_log(self.service.recorder, key, previous)

    def feed(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Events in ledger order after a position, at most `limit`, and the position to continue after."""
        return feed(self.service.recorder, self.service.mapper, after, limit)

    def checkpoints(self) -> list[Checkpoint]:
        """The integrity checkpoints recorded by successful verifications, oldest first."""
        return list(self.service.recorder.checkpoints())

    def verify(
        self,
        evidence: LogEvidence,
        *,
        full: bool = False,
        external: Iterable[Checkpoint] = (),
        source: str | None = None,
        by: str | None = None,
    ) -> Verification:
        """Verify the chain and the Merkle tree; with a `source` (and `by`, who ran it) record the outcome
        and, on success, a checkpoint with a signed head."""
        return run_verification(self.service.recorder, evidence, full=full, external=external, source=source, by=by)

    def last_verification(self) -> dict[str, Any] | None:
        """The last recorded verification, from any process: source, who, time, outcome."""
        return last_verification(self.service.recorder)

    def latest_checkpoint_head(self) -> dict[str, Any] | None:
        """The newest signed head recorded by a verification."""
        return latest_checkpoint_head(self.service.recorder)

    def export_bundle(
        self, evidence: LogEvidence, directory: Path, start: datetime | None = None, end: datetime | None = None
    ) -> int:
        """Write the offline audit bundle of the events recorded in [start, end); how many events."""
        return export_bundle(evidence, self.service.mapper, directory, start, end)

    def load_bundle(
        self, directory: Path, *, public_key: bytes | None = None, expected_log_id: str | None = None
    ) -> BundleReport:
        """Verify an audit bundle that starts at the first event and append its events, exactly as stored,
        to this ledger's empty store (VerificationError when it does not verify)."""
        return load_bundle(directory, self.service.recorder, public_key=public_key, expected_log_id=expected_log_id)

    def close(self) -> None:
        """Stop warming and the follower, and release connections."""
        if self.warmer is not None:
            self.warmer.stop()
        self.runner.stop()
        self.service.close()
        if self.replica is not None:
            datastore = getattr(self.source.view, "datastore", None)
            if datastore is not None:
                datastore.close()
