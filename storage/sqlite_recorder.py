"""The SQLite store: the library's recorder on table `ledger_events`, plus the ledger's tables.

The append transaction holds `BEGIN IMMEDIATE` (the database has one writer at a time) and inserts
with `executemany` of one prepared statement, SQLite's bulk path whatever the size.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from ledger.merkle import Node
from storage.recorders import (
    EVENT_COLUMNS,
    AppendTxn,
    Checkpoint,
    IdempotencyRecord,
    LedgerRecorder,
    LockedAppendTxn,
    Row,
    StoredRow,
    leaf_count,
)

SQLITE_EVENTS = "ledger_events"
SQLITE_TREE = "ledger_tree"


SQLITE_TREE_SIZE = f"SELECT max(idx) FROM {SQLITE_TREE} WHERE level = 0"
SQLITE_LOCATE_ROW = f"SELECT rowid, *, ({SQLITE_TREE_SIZE}) AS tree_last FROM {SQLITE_EVENTS} WHERE event_id = ?"


# One statement whatever the nodes (so SQLite prepares it once and keeps it in its statement cache): the
# nodes travel as a JSON list of [level, idx] pairs, and CROSS JOIN makes SQLite walk that list and read
# each node through the primary key (a row-value `IN (VALUES …)` made it scan the table).
SQLITE_NODES = (
    f"SELECT t.level, t.idx, t.hash FROM json_each(?) AS j CROSS JOIN {SQLITE_TREE} AS t "
    "ON t.level = json_extract(j.value, '$[0]') AND t.idx = json_extract(j.value, '$[1]')"
)


def _sqlite_nodes_query(nodes: Sequence[Node]) -> tuple[str, list[str]]:
    return SQLITE_NODES, [json.dumps(nodes)]


def _nodes(rows: Sequence[Any]) -> dict[Node, bytes]:
    return {(r[0], r[1]): bytes(r[2]) for r in rows}


class SQLiteLedgerRecorder(SQLiteApplicationRecorder, LedgerRecorder):
    """SQLite store: the library's recorder on table `ledger_events`, plus the ledger's tables."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = SQLITE_EVENTS) -> None:
        super().__init__(datastore, SQLITE_EVENTS)

    def construct_create_table_statements(self) -> list[str]:
        t = SQLITE_EVENTS
        return [
            f"CREATE TABLE IF NOT EXISTS {t} ("
            "originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
            "topic TEXT NOT NULL, state BLOB NOT NULL, event_id TEXT NOT NULL, chain BLOB NOT NULL, "
            "PRIMARY KEY (originator_id, originator_version))",
            f"CREATE UNIQUE INDEX IF NOT EXISTS {t}_event_id ON {t} (event_id)",
            "CREATE TABLE IF NOT EXISTS ledger_idempotency ("
            "key TEXT PRIMARY KEY, request_hash TEXT NOT NULL, response BLOB NOT NULL) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS ledger_checkpoints ("
            "position INTEGER PRIMARY KEY, chain BLOB NOT NULL, created_at TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS ledger_audit_records ("
            "id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, body BLOB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {SQLITE_TREE} ("
            "level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID",
        ]

    @contextmanager
    def append_txn(self, *, bulk: bool = False) -> Iterator[AppendTxn]:
        # executemany of one prepared statement is SQLite's bulk path whatever the size.
        with self.datastore.get_connection(commit=True) as conn:
            raw: sqlite3.Connection = conn._sqlite_conn
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise OperationalError(e) from e
            txn = self._open_txn(_SQLiteTxn(raw))
            try:
                yield txn
            except BaseException:
                raw.rollback()
                raise
            try:
                raw.commit()
            except sqlite3.IntegrityError as e:
                raise IntegrityError(e) from e
            self._committed_head(txn)

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Row]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return [_sqlite_row(r) for r in c.fetchall()]

    def read_rows(self, after: int, limit: int) -> list[Row]:
        return self._rows(
            f"SELECT rowid, * FROM {SQLITE_EVENTS} WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, limit)
        )

    def read_stored(self, after: int, limit: int) -> list[StoredRow]:
        sql = (
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {SQLITE_EVENTS} "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, (after, limit))
            return [tuple(r) for r in c.fetchall()]

    def last_position(self) -> int:
        return int(self.max_notification_id() or 0)

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "INSERT OR IGNORE INTO ledger_checkpoints VALUES (?, ?, ?)",
                (checkpoint.position, checkpoint.chain, checkpoint.created_at),
            )

    def checkpoints(self) -> list[Checkpoint]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT position, chain, created_at FROM ledger_checkpoints ORDER BY position")
            return [Checkpoint(r[0], bytes(r[1]), r[2]) for r in c.fetchall()]

    def find_idempotency(self, key: str) -> IdempotencyRecord | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT key, request_hash, response FROM ledger_idempotency WHERE key = ?", (key,))
            r = c.fetchone()
            return IdempotencyRecord(r[0], r[1], bytes(r[2])) if r else None

    def find_idempotencies(self, keys: Sequence[str]) -> dict[str, IdempotencyRecord]:
        found: dict[str, IdempotencyRecord] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(keys), 500):  # (SQLite limits the parameters of one statement)
                part = keys[start : start + 500]
                marks = ",".join("?" * len(part))
                c.execute(f"SELECT key, request_hash, response FROM ledger_idempotency WHERE key IN ({marks})", part)
                found.update((r[0], IdempotencyRecord(r[0], r[1], bytes(r[2]))) for r in c.fetchall())
        return found

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        if not nodes:
            return {}
        with self.datastore.transaction(commit=False) as c:
            c.execute(*_sqlite_nodes_query(nodes))
            return _nodes(c.fetchall())

    def tree_size(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQLITE_TREE_SIZE)
            return leaf_count(c.fetchone())

    def locate_row(self, event_id: str) -> tuple[Row | None, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQLITE_LOCATE_ROW, (event_id,))
            r = c.fetchone()
            return (None, 0) if r is None else (_sqlite_row(r), leaf_count((r["tree_last"],)))

    def locate_with_nodes(
        self, event_id: str, nodes_for: Callable[[Row, int], Sequence[Node]]
    ) -> tuple[Row | None, dict[Node, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQLITE_LOCATE_ROW, (event_id,))
            r = c.fetchone()
            if r is None:
                return None, {}
            row = _sqlite_row(r)
            nodes = nodes_for(row, leaf_count((r["tree_last"],)))
            if not nodes:
                return row, {}
            c.execute(*_sqlite_nodes_query(nodes))
            return row, _nodes(c.fetchall())

    def position_of(self, event_id: str) -> int | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT rowid FROM {SQLITE_EVENTS} WHERE event_id = ?", (event_id,))
            r = c.fetchone()
            return None if r is None else int(r[0])

    def save_audit_record(self, kind: str, body: bytes) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("INSERT INTO ledger_audit_records (kind, body) VALUES (?, ?)", (kind, body))

    def audit_records(self, kind: str, latest: int | None = None) -> list[bytes]:
        with self.datastore.transaction(commit=False) as c:
            if latest is None:
                c.execute("SELECT body FROM ledger_audit_records WHERE kind = ? ORDER BY id", (kind,))
            else:
                c.execute(
                    "SELECT body FROM ledger_audit_records WHERE kind = ? ORDER BY id DESC LIMIT ?", (kind, latest)
                )
            return [bytes(r[0]) for r in c.fetchall()]


def _sqlite_row(r: Any) -> Row:
    return Row(
        r["rowid"],
        StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])),
        r["event_id"],
        bytes(r["chain"]),
    )


class _SQLiteTxn(LockedAppendTxn):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.c = conn
        self.last = None

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.c.execute(sql, params).fetchall()

    def last_row(self) -> Row | None:
        rows = self._fetch(f"SELECT rowid, * FROM {SQLITE_EVENTS} ORDER BY rowid DESC LIMIT 1")
        row = _sqlite_row(rows[0]) if rows else None
        self.last = row.position if row else 0
        return row

    def rows_after(self, position: int, limit: int) -> list[Row]:
        sql = f"SELECT rowid, * FROM {SQLITE_EVENTS} WHERE rowid > ? ORDER BY rowid LIMIT ?"
        return [_sqlite_row(r) for r in self._fetch(sql, (position, limit))]

    def stream_events(self, stream_ids: Sequence[str]) -> list[StoredEvent]:
        if not stream_ids:
            return []
        marks = ",".join("?" * len(stream_ids))
        sql = (
            f"SELECT originator_id, originator_version, topic, state FROM {SQLITE_EVENTS} "
            f"WHERE originator_id IN ({marks}) ORDER BY originator_id, originator_version"
        )
        return [StoredEvent(r[0], r[1], r[2], bytes(r[3])) for r in self._fetch(sql, list(stream_ids))]

    def locate(self, event_id: str) -> str | None:
        rows = self._fetch(f"SELECT originator_id FROM {SQLITE_EVENTS} WHERE event_id = ?", (event_id,))
        return str(rows[0][0]) if rows else None

    def idempotency(self, keys: Sequence[str]) -> dict[str, IdempotencyRecord]:
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self._fetch(f"SELECT key, request_hash, response FROM ledger_idempotency WHERE key IN ({marks})", keys)
        return {r[0]: IdempotencyRecord(r[0], r[1], bytes(r[2])) for r in rows}

    def insert(self, rows: Sequence[Row]) -> None:
        try:
            self.c.executemany(
                f"INSERT INTO {SQLITE_EVENTS} (rowid, {EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [r.columns() for r in rows],
            )
        except sqlite3.IntegrityError as e:
            raise IntegrityError(e) from e
        self.extend_tree(rows)

    def put_idempotency(self, records: Sequence[IdempotencyRecord]) -> None:
        try:
            self.c.executemany(
                "INSERT INTO ledger_idempotency VALUES (?, ?, ?)",
                [(r.key, r.request_hash, r.response) for r in records],
            )
        except sqlite3.IntegrityError as e:
            raise IntegrityError(e) from e

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        return _nodes(self._fetch(*_sqlite_nodes_query(nodes))) if nodes else {}

    def write_nodes(self, nodes: Mapping[Node, bytes]) -> None:
        try:
            self.c.executemany(
                f"INSERT INTO {SQLITE_TREE} VALUES (?, ?, ?)", [(lv, i, h) for (lv, i), h in nodes.items()]
            )
        except sqlite3.IntegrityError as e:
            raise IntegrityError(e) from e

    def tree_size(self) -> int:
        return leaf_count(self.c.execute(SQLITE_TREE_SIZE).fetchone())
