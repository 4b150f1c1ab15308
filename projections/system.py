"""Wire one ledger: the library application, the write service, the fact index, its runner and the queries."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from eventsourcing.popo import POPOFactory
from eventsourcing.postgres import PostgresFactory
from eventsourcing.sqlite import SQLiteFactory

from ledger.calendar import LedgerCalendar
from ledger.rules.codes import LockoutPolicy
from projections.cache import CachedSource
from projections.position import ProcessPosition
from projections.queries import Queries
from projections.runner import ProjectionRunner, ProjectionTimeout
from projections.views import FactsView, POPOFactsView, PostgresFactsView, SQLiteFactsView
from storage.codes import CodeHasher
from storage.service import LedgerService, open_application, utc_now
from storage.url import StoreConfig, parse_database_url


@dataclass(frozen=True)
class Readiness:
    """Whether the process should be sent reads: its store answers and its projections are close to the log."""

    ready: bool
    log_position: int | None  # the log's last position, None when the store did not answer
    position: int  # the position reads answer at
    lag: int | None  # positions between the two
    problems: tuple[str, ...]


@dataclass
class LedgerSystem:
    """Everything a process needs to write and read one ledger."""

    config: StoreConfig
    service: LedgerService
    view: FactsView
    runner: ProjectionRunner
    queries: Queries
    source: CachedSource
    calendar: LedgerCalendar
    clock: Callable[[], datetime] = field(default=utc_now)
    head: ProcessPosition = field(default_factory=ProcessPosition)

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
        return Readiness(not problems, head, held, lag, tuple(problems))

    def close(self) -> None:
        """Stop the follower and release connections."""
        self.runner.stop()
        self.service.close()


def facts_view_for(factory: object) -> type[FactsView]:
    """The view class of the application's store."""
    if isinstance(factory, POPOFactory):
        return POPOFactsView
    if isinstance(factory, SQLiteFactory):
        return SQLiteFactsView
    if isinstance(factory, PostgresFactory):
        return PostgresFactsView
    raise TypeError(f"no fact index for {type(factory).__name__}")


def open_ledger(
    url: str,
    *,
    calendar: LedgerCalendar | None = None,
    clock: Callable[[], datetime] = utc_now,
    hasher: CodeHasher | None = None,
    lockout: LockoutPolicy | None = None,
    follow: bool = True,
    batch_size: int = 2000,
    max_code_checks: int | None = None,
) -> LedgerSystem:
    """Open (creating tables on first use) the ledger at `url`; with `follow`, project in the background."""
    config = parse_database_url(url)
    calendar = calendar or LedgerCalendar()
    app = open_application(config)
    service = LedgerService(app, calendar, clock=clock, hasher=hasher, lockout=lockout, max_code_checks=max_code_checks)
    service.recorder.catch_up_tree()  # a database written before the log's Merkle tree existed
    view_class = facts_view_for(app.factory)
    view = app.factory.tracking_recorder(view_class)  # type: ignore[arg-type]
    assert isinstance(view, FactsView)
    runner = ProjectionRunner(service.recorder, service.mapper, view, batch_size=batch_size)
    service.listeners.append(runner.notify)
    source = CachedSource(view, service.mapper)
    runner.listeners.append(source.refresh)
    queries = Queries(source, calendar, clock)
    system = LedgerSystem(config, service, view, runner, queries, source, calendar, clock)
    # Every position the process learns of moves its one mark forward, from the log's end at start.
    system.head.saw(service.recorder.last_position())
    service.listeners.append(system.head.saw)
    runner.listeners.append(system.head.saw)
    if follow:
        runner.start()
    return system
