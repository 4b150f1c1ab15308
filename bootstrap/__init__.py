"""The composition root: settings in, a running ledger out.

The app (`api.bootstrap`), the command line and the benchmarks open a ledger here and only here:
the library application and its store, the write service, the fact index (and its replicas), its
follower, the query cache and the queries, with the settings' calendar, code hashing and lockout.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from eventsourcing.popo import POPOFactory
from eventsourcing.postgres import PostgresFactory
from eventsourcing.sqlite import SQLiteFactory
from eventsourcing.utils import Environment

from api.settings import Settings
from ledger.calendar import LedgerCalendar
from ledger.rules.codes import LockoutPolicy
from projections.cache import CACHE_MAX_FACTS, CachedSource
from projections.fact_index import FactIndex, POPOFactIndex, PostgresFactIndex, SQLiteFactIndex
from projections.queries import Queries
from projections.runner import ProjectionRunner
from projections.system import LedgerSystem
from storage import breaker
from storage.application import open_application
from storage.codes import CodeHasher
from storage.service import LedgerService, utc_now
from storage.url import StoreConfig, parse_database_url


def calendar_of(settings: Settings) -> LedgerCalendar:
    """The ledger's zone and kept years, as set."""
    return LedgerCalendar(settings.timezone, settings.kept_years)


def open_from_settings(
    settings: Settings,
    *,
    calendar: LedgerCalendar | None = None,
    clock: Callable[[], datetime] = utc_now,
    follow: bool | None = None,
) -> LedgerSystem:
    """The ledger LEDGER_DATABASE_URL names, with the settings' calendar, code hashing, lockout and replicas.

    `follow` (default: the `project` setting) projects the log in the background.
    """
    return open_ledger(
        settings.database_url,
        calendar=calendar or calendar_of(settings),
        clock=clock,
        hasher=CodeHasher(time_cost=settings.code_hash_time_cost, memory_cost_kib=settings.code_hash_memory_kib),
        lockout=LockoutPolicy(settings.lockout_failures, timedelta(minutes=settings.lockout_minutes)),
        follow=settings.project if follow is None else follow,
        max_code_checks=settings.max_code_checks_per_request,
        read_urls=[u for u in (settings.read_database_url or "").split(",") if u.strip()],
        cache_max_facts=settings.cache_max_facts,
    )


def facts_view_for(factory: object) -> type[FactIndex]:
    """The view class of the application's store."""
    if isinstance(factory, POPOFactory):
        return POPOFactIndex
    if isinstance(factory, SQLiteFactory):
        return SQLiteFactIndex
    if isinstance(factory, PostgresFactory):
        return PostgresFactIndex
    raise TypeError(f"no fact index for {type(factory).__name__}")


def replica_view(primary: StoreConfig, replica: StoreConfig, name: str) -> FactIndex:
    """The fact index as replayed on a hot standby: read-only, so nothing is created there.

    The projections are written once, on the primary, by the follower, and reach the standby by
    PostgreSQL's own replication with everything else: the standby's tracking row says how far.
    """
    if primary.kind != "postgres" or replica.kind != "postgres":
        raise ValueError("read replicas (LEDGER_READ_DATABASE_URL) are PostgreSQL hot standbys of a PostgreSQL primary")
    factory = PostgresFactory(Environment(name, {**replica.env, "CREATE_TABLE": "n"}))
    breaker.install(factory.datastore)
    view = factory.tracking_recorder(PostgresFactIndex)
    assert isinstance(view, FactIndex)
    return view


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
    read_urls: Sequence[str] = (),
    cache_max_facts: int = CACHE_MAX_FACTS,
) -> LedgerSystem:
    """Open (creating tables on first use) the ledger at `url`; with `follow`, project in the background.

    With `read_urls` (PostgreSQL hot standbys of `url`), queries read the projections from one of them
    (chosen by process id, so the workers of one server spread over them); commands, the follower that
    maintains the projections, the feed and verification stay on the primary.
    """
    config = parse_database_url(url)
    calendar = calendar or LedgerCalendar()
    app = open_application(config)
    service = LedgerService(app, calendar, clock=clock, hasher=hasher, lockout=lockout, max_code_checks=max_code_checks)
    service.recorder.catch_up_tree()  # a database written before the log's Merkle tree existed
    view_class = facts_view_for(app.factory)
    view = app.factory.tracking_recorder(view_class)  # type: ignore[arg-type]
    assert isinstance(view, FactIndex)
    runner = ProjectionRunner(service.recorder, service.mapper, view, batch_size=batch_size)
    service.listeners.append(runner.notify)
    replica = parse_database_url(read_urls[os.getpid() % len(read_urls)]) if read_urls else None
    read_view = view if replica is None else replica_view(config, replica, app.factory.env.name)
    source = CachedSource(read_view, service.mapper, max_facts=cache_max_facts)
    runner.listeners.append(source.refresh)
    queries = Queries(source, calendar, clock)
    system = LedgerSystem(config, service, view, runner, queries, source, calendar, clock, replica=replica)
    # Every position the process learns of moves its one mark forward, from the log's end at start.
    system.head.saw(service.recorder.last_position())
    service.listeners.append(system.head.saw)
    runner.listeners.append(system.head.saw)
    if follow:
        runner.start()
    return system
