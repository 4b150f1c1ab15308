"""Wire one ledger: the library application, the write service, the fact index, its runner and the queries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from eventsourcing.popo import POPOFactory
from eventsourcing.postgres import PostgresFactory
from eventsourcing.sqlite import SQLiteFactory

from ledger.calendar import LedgerCalendar
from ledger.decide import LockoutPolicy
from projections.cache import CachedSource
from projections.queries import Queries
from projections.runner import ProjectionRunner
from projections.views import FactsView, POPOFactsView, PostgresFactsView, SQLiteFactsView
from storage.codes import CodeHasher
from storage.service import LedgerService, open_application, utc_now
from storage.url import StoreConfig, parse_database_url


@dataclass
class LedgerSystem:
    """Everything a process needs to write and read one ledger."""

    config: StoreConfig
    service: LedgerService
    view: FactsView
    runner: ProjectionRunner
    queries: Queries
    calendar: LedgerCalendar
    clock: Callable[[], datetime] = field(default=utc_now)

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
) -> LedgerSystem:
    """Open (creating tables on first use) the ledger at `url`; with `follow`, project in the background."""
    config = parse_database_url(url)
    calendar = calendar or LedgerCalendar()
    app = open_application(config)
    service = LedgerService(app, calendar, clock=clock, hasher=hasher, lockout=lockout)
    service.recorder.catch_up_tree()  # a database written before the log's Merkle tree existed
    view_class = facts_view_for(app.factory)
    view = app.factory.tracking_recorder(view_class)  # type: ignore[arg-type]
    assert isinstance(view, FactsView)
    runner = ProjectionRunner(service.recorder, service.mapper, view, batch_size=batch_size)
    service.listeners.append(runner.notify)
    source = CachedSource(view, service.mapper)
    runner.listeners.append(source.refresh)
    queries = Queries(source, calendar, clock)
    system = LedgerSystem(config, service, view, runner, queries, calendar, clock)
    if follow:
        runner.start()
    return system
