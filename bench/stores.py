"""Benchmark databases: cached loaded histories per store, throwaway work copies, and raw-insert baselines.

A loaded history is cached (`bench/data/<tier>-s<seed>-v<version>.db`, PostgreSQL
database `ledger_bench_<tier>`) with a `bench_meta` row naming what it holds; a
run re-uses it when tier, seed and generator version match, and reloads it
otherwise. Write measurements never touch the cache: they run on a copy.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import psycopg

from bench.generate import GENERATOR_VERSION, START, history_for_tier
from bench.load import ScriptedClock, load
from bootstrap import open_ledger
from projections.system import LedgerSystem
from storage.codes import CodeHasher
from storage.recorders import Row

# argon2 is slow by design; loading issues and redeems thousands of codes.
CHEAP_HASHER = CodeHasher(time_cost=1, memory_cost_kib=64)
META_TABLE = "bench_meta"


def fingerprint(tier: str, seed: int) -> str:
    return f"{tier}-s{seed}-v{GENERATOR_VERSION}"


@dataclass
class Store:
    """One store's cached database."""

    kind: str  # "sqlite" or "postgres"
    url: str  # LEDGER_DATABASE_URL of the cached, loaded history
    sqlite_path: Path | None = None
    pg_admin_url: str | None = None
    pg_dbname: str | None = None

    def pg(self) -> tuple[str, str]:
        """(administrative URL, database name) of a PostgreSQL store."""
        if self.pg_admin_url is None or self.pg_dbname is None:
            raise TypeError(f"{self.kind} is not a PostgreSQL store")
        return self.pg_admin_url, self.pg_dbname

    def open(self, url: str | None = None, **kwargs: Any) -> LedgerSystem:
        kwargs.setdefault("hasher", CHEAP_HASHER)
        kwargs.setdefault("follow", False)
        return open_ledger(url or self.url, **kwargs)


# --- PostgreSQL helpers ---------------------------------------------------------------------------


def pg_url_for(admin_url: str, dbname: str) -> str:
    """The admin URL pointed at another database (query string dropped)."""
    parsed = urlparse(admin_url)
    return urlunparse(parsed._replace(path=f"/{dbname}", query=""))


def pg_exists(admin_url: str, dbname: str) -> bool:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is not None


def pg_drop(admin_url: str, dbname: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        # FORCE: a server this run started may still hold idle connections for a moment.
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def pg_create(admin_url: str, dbname: str, template: str | None = None) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if template:
            for attempt in range(20):
                try:
                    conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{template}"')
                    return
                except psycopg.errors.ObjectInUse:
                    # The template's last pooled connections may take a moment to close.
                    if attempt == 19:
                        raise
                    time.sleep(0.5)
        conn.execute(f'CREATE DATABASE "{dbname}"')


def pg_server_version(admin_url: str) -> str | None:
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else None
    except psycopg.Error:
        return None


# --- the cache marker -----------------------------------------------------------------------------


def _read_marker(store: Store) -> dict[str, Any] | None:
    try:
        if store.kind == "sqlite":
            assert store.sqlite_path is not None
            if not store.sqlite_path.exists():
                return None
            conn = sqlite3.connect(store.sqlite_path)
            try:
                row = conn.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'load'").fetchone()
            finally:
                conn.close()
        else:
            admin, dbname = store.pg()
            if not pg_exists(admin, dbname):
                return None
            with psycopg.connect(pg_url_for(admin, dbname)) as pg:
                row = pg.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'load'").fetchone()
    except (sqlite3.Error, psycopg.Error):
        return None
    return json.loads(row[0]) if row else None


def _write_marker(store: Store, info: dict[str, Any]) -> None:
    body = json.dumps(info)
    sql_create = f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
    if store.kind == "sqlite":
        assert store.sqlite_path is not None
        conn = sqlite3.connect(store.sqlite_path)
        try:
            conn.execute(sql_create)
            conn.execute(f"INSERT OR REPLACE INTO {META_TABLE} VALUES ('load', ?)", (body,))
            conn.commit()
        finally:
            conn.close()
    else:
        with psycopg.connect(pg_url_for(*store.pg())) as pg:
            pg.execute(sql_create)
            pg.execute(
                f"INSERT INTO {META_TABLE} VALUES ('load', %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (body,),
            )


# --- loading ----------------------------------------------------------------------------------------


def make_store(kind: str, tier: str, seed: int, data_dir: Path, pg_admin_url: str, pg_dbname: str | None) -> Store:
    if kind == "sqlite":
        path = (data_dir / f"{fingerprint(tier, seed)}.db").resolve()
        return Store("sqlite", f"sqlite:///{path}", sqlite_path=path)
    if kind == "postgres":
        dbname = pg_dbname or f"ledger_bench_{tier}"
        return Store("postgres", pg_url_for(pg_admin_url, dbname), pg_admin_url=pg_admin_url, pg_dbname=dbname)
    raise ValueError(f"unknown store {kind!r}: use sqlite or postgres")


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def ensure_loaded(
    store: Store,
    tier: str,
    seed: int,
    meta_path: Path,
    log: Callable[[str], None] = print,
    *,
    reload: bool = False,
) -> dict[str, Any]:
    """Load the tier's history into the store unless the cache already holds it; returns the load record."""
    wanted = fingerprint(tier, seed)
    marker = None if reload else _read_marker(store)
    if marker is not None and marker.get("fingerprint") == wanted and meta_path.exists():
        log(f"[{store.kind}] re-using the loaded {tier} history ({marker['events']} events)")
        return {**marker, "reused": True}
    if store.kind == "sqlite":
        assert store.sqlite_path is not None
        store.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        _remove_sqlite(store.sqlite_path)
    else:
        admin, dbname = store.pg()
        pg_drop(admin, dbname)
        pg_create(admin, dbname)
    log(f"[{store.kind}] generating and loading the {tier} history (seed {seed})…")
    clock = ScriptedClock(START)
    system = store.open(clock=clock)
    started = time.perf_counter()
    history = history_for_tier(tier, seed)
    sizing_s = time.perf_counter() - started
    try:
        last = [time.perf_counter()]

        def progress(stats: Any) -> None:
            if time.perf_counter() - last[0] > 15:
                last[0] = time.perf_counter()
                rate = stats.events / max(1e-9, last[0] - started)
                log(f"[{store.kind}]   {stats.events} events loaded ({rate:,.0f}/s)")

        stats = load(system.service, clock, history, progress=progress)
        loaded = time.perf_counter()
        system.runner.catch_up()
        projected = time.perf_counter()
    finally:
        system.close()
    meta = history.meta()
    meta["tier"] = tier
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(meta))
    info = {
        "fingerprint": wanted,
        "events": stats.events,
        "commands": stats.commands,
        "batches": stats.batches,
        "sizing_s": round(sizing_s, 2),
        "generate_s": round(stats.generate_s, 2),
        "append_s": round(stats.append_s, 2),
        "load_s": round(loaded - started, 2),
        "load_events_per_s": round(stats.events / max(1e-9, stats.append_s), 1),
        "project_s": round(projected - loaded, 2),
        "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write_marker(store, info)
    log(
        f"[{store.kind}] loaded {stats.events} events in {info['load_s']}s "
        f"(generator {info['generate_s']}s, appends {info['append_s']}s), projected in {info['project_s']}s"
    )
    return {**info, "reused": False}


def ensure_meta(tier: str, seed: int, meta_path: Path) -> dict[str, Any]:
    """The history's description and samples (regenerated by a dry run if the file is gone)."""
    if not meta_path.exists():
        history = history_for_tier(tier, seed)
        for _ in history:
            pass
        meta = history.meta()
        meta["tier"] = tier
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps(meta))
    result: dict[str, Any] = json.loads(meta_path.read_text())
    return result


@contextmanager
def work_copy(store: Store) -> Iterator[str]:
    """A throwaway copy of the loaded database for measurements that append (dropped afterwards)."""
    if store.kind == "sqlite":
        assert store.sqlite_path is not None
        conn = sqlite3.connect(store.sqlite_path)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        target = store.sqlite_path.with_name(f"work-{uuid.uuid4().hex[:8]}.db")
        shutil.copyfile(store.sqlite_path, target)
        try:
            yield f"sqlite:///{target}"
        finally:
            _remove_sqlite(target)
    else:
        admin, dbname = store.pg()
        name = f"{dbname}_work_{uuid.uuid4().hex[:6]}"
        pg_create(admin, name, template=dbname)
        try:
            yield pg_url_for(admin, name)
        finally:
            pg_drop(admin, name)


# --- raw baselines ----------------------------------------------------------------------------------


def _rates(rows: int, started: float, started_cpu: float) -> tuple[float, float]:
    return rows / (time.perf_counter() - started), 1e6 * (time.thread_time() - started_cpu) / rows


class RawTable:
    """A scratch table shaped like the ledger's event table, in the same database, for raw-insert baselines."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.kind = "sqlite" if url.startswith("sqlite") else "postgres"
        self.batch = 0
        if self.kind == "sqlite":
            path = url[len("sqlite:///") :]
            self.sqlite = sqlite3.connect(path, isolation_level=None)
            self.sqlite.execute(
                "CREATE TABLE IF NOT EXISTS bench_raw (originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
                "topic TEXT NOT NULL, state BLOB NOT NULL, event_id TEXT NOT NULL, chain BLOB NOT NULL, "
                "PRIMARY KEY (originator_id, originator_version))"
            )
            self.sqlite.execute("CREATE UNIQUE INDEX IF NOT EXISTS bench_raw_event_id ON bench_raw (event_id)")
            self.insert = "INSERT INTO bench_raw VALUES (?, ?, ?, ?, ?, ?)"
        else:
            self.pg = psycopg.connect(url)
            self.pg.execute(
                "CREATE TABLE IF NOT EXISTS bench_raw (originator_id text NOT NULL, originator_version bigint NOT NULL, "
                "topic text, state bytea, notification_id bigserial, event_id text NOT NULL, chain bytea NOT NULL, "
                "PRIMARY KEY (originator_id, originator_version))"
            )
            self.pg.execute("CREATE UNIQUE INDEX IF NOT EXISTS bench_raw_nid ON bench_raw (notification_id)")
            self.pg.execute("CREATE UNIQUE INDEX IF NOT EXISTS bench_raw_event_id ON bench_raw (event_id)")
            self.pg.commit()
            self.insert = (
                "INSERT INTO bench_raw (originator_id, originator_version, topic, state, event_id, chain) "
                "VALUES (%s, %s, %s, %s, %s, %s)"
            )

    def _rows(self, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
        """The ledger's rows, byte for byte, under fresh keys."""
        self.batch += 1
        return [
            (
                f"raw{self.batch}:{r.stored.originator_id}",
                r.stored.originator_version,
                r.stored.topic,
                bytes(r.stored.state),
                str(uuid.uuid4()),
                r.chain,
            )
            for r in rows
        ]

    def single_commits(self, rows: Sequence[Row]) -> tuple[float, float]:
        """Rows per second, and CPU µs per row of this thread, one transaction and commit per row."""
        data = self._rows(rows)
        started, started_cpu = time.perf_counter(), time.thread_time()
        if self.kind == "sqlite":
            for values in data:
                self.sqlite.execute(self.insert, values)  # autocommit: one transaction each
        else:
            with self.pg.cursor() as cur:
                for values in data:
                    cur.execute(self.insert, values)
                    self.pg.commit()
        return _rates(len(data), started, started_cpu)

    def many_in_one(self, rows: Sequence[Row]) -> tuple[float, float]:
        """Rows per second, and CPU µs per row of this thread, one `executemany` in one transaction."""
        data = self._rows(rows)
        started, started_cpu = time.perf_counter(), time.thread_time()
        if self.kind == "sqlite":
            self.sqlite.execute("BEGIN")
            self.sqlite.executemany(self.insert, data)
            self.sqlite.execute("COMMIT")
        else:
            with self.pg.cursor() as cur:
                cur.executemany(self.insert, data)
            self.pg.commit()
        return _rates(len(data), started, started_cpu)

    def close(self) -> None:
        if self.kind == "sqlite":
            self.sqlite.close()
        else:
            self.pg.close()
