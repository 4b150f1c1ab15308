"""Application recorders of the eventsourcing library, extended for the ledger.

Each store (POPO for memory, SQLite, PostgreSQL) subclasses the library's
application recorder and adds one thing: an *append transaction* in which a
command is decided and its events inserted while the store's append lock is held.

- PostgreSQL: `LOCK TABLE … IN EXCLUSIVE MODE`, as the library itself takes for
  every insert so that commit order equals position order (readers are not
  blocked). We take it first, then read, decide and insert in the same
  transaction.
- SQLite: `BEGIN IMMEDIATE` (the database has one writer at a time).
- Memory: the recorder's own lock.

Holding the lock while deciding serializes appends, which the library already
does at insert time; in exchange every write-time rule sees exactly the state it
is judged against, `recorded_at` is taken under the lock (so it never decreases
along the position, even with several writer processes), and the aggregate
version primary key stays as a second line of defence.

Extra columns: `event_id` (unique, to find the event a void names) and `chain`
(the running SHA-256 over stored bytes, see `storage.integrity`). Extra table: the
log's Merkle tree (complete nodes keyed level and index, see `storage.tree`), extended
by every insert in the same transaction. The library's
own `select_notifications`, `select_events`, `max_notification_id` and
PostgreSQL `subscribe` work unchanged on these tables.
"""

from __future__ import annotations

import json
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from eventsourcing.persistence import (
    IntegrityError,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composable, Identifier

from ledger.merkle import Node
from storage import tree


@dataclass(frozen=True)
class IdempotencyRecord:
    key: str
    request_hash: str
    response: bytes


@dataclass(frozen=True)
class Row:
    """One event as stored: the library's columns plus position, event id and chain hash."""

    position: int
    stored: StoredEvent
    event_id: str
    chain: bytes

    def columns(self) -> tuple[int, str, int, str, bytes, str, bytes]:
        """The event table's values in EVENT_COLUMNS order (every store's insert path)."""
        s = self.stored
        return (self.position, str(s.originator_id), s.originator_version, s.topic, s.state, self.event_id, self.chain)


# The event table's columns after the position (`rowid` on SQLite, `notification_id` on PostgreSQL).
EVENT_COLUMNS = "originator_id, originator_version, topic, state, event_id, chain"

# (position, stream, version, topic, state): a row as the projections read it, without building objects.
StoredRow = tuple[int, str, int, str, bytes]


@dataclass(frozen=True)
class Checkpoint:
    position: int
    chain: bytes
    created_at: str


class AppendTxn(ABC):
    """What a command may do while the append lock is held (one database transaction)."""

    @abstractmethod
    def last_row(self) -> Row | None:
        """The row at the highest position."""

    @abstractmethod
    def rows_after(self, position: int, limit: int) -> list[Row]:
        """Rows after `position`, in order (to catch a writer's cache up with other writers)."""

    @abstractmethod
    def stream_events(self, stream_ids: Sequence[str]) -> list[StoredEvent]:
        """Every stored event of these streams, in stream order."""

    @abstractmethod
    def locate(self, event_id: str) -> str | None:
        """The stream holding this event id."""

    @abstractmethod
    def idempotency(self, keys: Sequence[str]) -> dict[str, IdempotencyRecord]:
        """Stored first results for these idempotency keys."""

    _asked: tuple[list[str], list[str]] = ([], [])

    def ask(self, keys: Sequence[str], stream_ids: Sequence[str]) -> None:
        """Ask for what a decision reads first — these idempotency records and streams — answered by
        `answers`. A store in pipeline mode sends the questions with the lock's own round trip."""
        self._asked = (list(keys), list(stream_ids))

    def answers(self) -> tuple[dict[str, IdempotencyRecord], list[StoredEvent]]:
        """What `ask` asked for: stored first results by key, and the streams' events in stream order."""
        keys, stream_ids = self._asked
        return self.idempotency(keys), self.stream_events(stream_ids)

    @abstractmethod
    def reserve_positions(self, count: int) -> list[int]:
        """The positions the next `count` events will take (increasing)."""

    @abstractmethod
    def insert(self, rows: Sequence[Row]) -> None:
        """Insert rows (positions from `reserve_positions`)."""

    @abstractmethod
    def put_idempotency(self, records: Sequence[IdempotencyRecord]) -> None:
        """Remember first results, in the same transaction as the events."""

    head: tree.Head | None = None  # the tree's size and root after this transaction's inserts
    # The right edge this process last committed: when the log still ends there (no other writer since),
    # appending need not read it back. After this transaction: its own edge and leaves.
    known_edge: tree.Edge | None = None
    edge: tree.Edge | None = None
    leaves: dict[int, bytes] | None = None

    @abstractmethod
    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        """Stored tree nodes (those absent are left out)."""

    @abstractmethod
    def write_nodes(self, nodes: Mapping[Node, bytes]) -> None:
        """Store newly completed tree nodes."""

    @abstractmethod
    def tree_size(self) -> int:
        """How many leaves the stored tree holds."""

    keep_tree = True  # the recorder's switch, copied when the transaction opens

    def extend_tree(self, rows: Sequence[Row]) -> None:
        """Hash inserted rows into the tree (called by `insert`, and to catch an older database up)."""
        if rows and self.keep_tree:
            nodes, self.head, self.edge = tree.extend(rows, self.read_nodes, self.known_edge)
            self.write_nodes(nodes)
            self.leaves = {index + 1: h for (level, index), h in nodes.items() if level == 0}


TxnT = TypeVar("TxnT", bound=AppendTxn)


class LedgerRecorder(ABC):
    """The ledger's additions to a library application recorder."""

    @abstractmethod
    def append_txn(self, *, bulk: bool = False) -> AbstractContextManager[AppendTxn]:
        """Context manager: an AppendTxn holding the append lock; commits on success.

        `bulk`: many rows are coming (a batch); the store may write them its fastest way (COPY on
        PostgreSQL) at the price of a round trip more per statement for a single command."""

    @abstractmethod
    def read_rows(self, after: int, limit: int) -> list[Row]:
        """Rows after a position with their chain hashes, for verification and the feed."""

    @abstractmethod
    def read_stored(self, after: int, limit: int) -> list[StoredRow]:
        """(position, stream, version, topic, state) after a position: what a projection reads, nothing more."""

    @abstractmethod
    def last_position(self) -> int:
        """The highest position (0 when empty)."""

    @abstractmethod
    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Record an integrity checkpoint (position, chain hash)."""

    @abstractmethod
    def checkpoints(self) -> list[Checkpoint]:
        """Integrity checkpoints, oldest first."""

    @abstractmethod
    def find_idempotency(self, key: str) -> IdempotencyRecord | None:
        """A stored first result, read outside the append lock."""

    @abstractmethod
    def find_idempotencies(self, keys: Sequence[str]) -> dict[str, IdempotencyRecord]:
        """Stored first results of these keys (those absent are left out), in one read outside the append lock."""

    @abstractmethod
    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        """Stored tree nodes, outside the append lock (those absent are left out)."""

    @abstractmethod
    def tree_size(self) -> int:
        """How many leaves the stored tree holds."""

    def locate_row(self, event_id: str) -> tuple[Row | None, int]:
        """An event's stored row (None if the log has no such event) and the stored tree's size, read
        together (the first half of an inclusion proof; SQL stores answer it in one statement)."""
        position = self.position_of(event_id)
        if position is None:
            return None, 0
        (row,) = self.read_rows(position - 1, 1)
        return row, self.tree_size()

    def locate_with_nodes(
        self, event_id: str, nodes_for: Callable[[Row, int], Sequence[Node]]
    ) -> tuple[Row | None, dict[Node, bytes]]:
        """An event's row, then the tree nodes `nodes_for(row, tree size)` names: an inclusion proof's two
        queries, on one connection."""
        row, size = self.locate_row(event_id)
        return (None, {}) if row is None else (row, self.read_nodes(nodes_for(row, size)))

    @abstractmethod
    def position_of(self, event_id: str) -> int | None:
        """The position of an event id."""

    @abstractmethod
    def save_audit_record(self, kind: str, body: bytes) -> None:
        """Keep a verification's outcome or a signed head (JSON), visible to every process."""

    @abstractmethod
    def audit_records(self, kind: str, latest: int | None = None) -> list[bytes]:
        """Records of a kind, oldest first (with `latest`, only the newest that many, newest first)."""

    latest_head: tree.Head | None = None  # the newest (size, root) this process committed
    latest_edge: tree.Edge | None = None  # its right edge
    latest_leaves: dict[int, bytes] = {}  # noqa: RUF012 (replaced, never mutated) its leaves, by position

    # Off only where a benchmark measures what the tree costs an append: appends then leave the tree
    # behind the log, and `catch_up_tree` (with the switch back on) brings it level again.
    keep_tree = True

    def _open_txn(self, txn: TxnT) -> TxnT:
        txn.known_edge = self.latest_edge
        txn.keep_tree = self.keep_tree
        return txn

    def _committed_head(self, txn: AppendTxn) -> None:
        head = txn.head
        if head is not None and (self.latest_head is None or head[0] > self.latest_head[0]):
            self.latest_head, self.latest_edge, self.latest_leaves = head, txn.edge, txn.leaves or {}

    def catch_up_tree(self, page: int = 10_000) -> int:
        """Extend the stored tree to the log's end (a database written before the tree existed); the size."""
        if self.tree_size() == self.last_position():
            return self.tree_size()
        with self.append_txn() as txn:
            size = txn.tree_size()
            while rows := txn.rows_after(size, page):
                txn.extend_tree(rows)
                size = rows[-1].position
        return size


# --- memory ---------------------------------------------------------------------------------


class POPOLedgerRecorder(POPOApplicationRecorder, LedgerRecorder):
    """In-memory store for tests: the library's POPO recorder plus the ledger's tables."""

    def __init__(self) -> None:
        super().__init__()
        self._event_ids: dict[str, str] = {}
        self._chains: list[bytes] = []
        self._event_id_list: list[str] = []
        self._idempotency: dict[str, IdempotencyRecord] = {}
        self._checkpoints: list[Checkpoint] = []
        self._tree: dict[Node, bytes] = {}
        self._tree_size = 0
        self._audit: list[tuple[str, bytes]] = []

    @contextmanager
    def append_txn(self, *, bulk: bool = False) -> Iterator[AppendTxn]:
        with self._database_lock:
            txn = self._open_txn(_POPOTxn(self))
            yield txn
            txn.commit()
            self._committed_head(txn)
        self._notify_listeners()

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        with self._database_lock:
            return {n: self._tree[n] for n in nodes if n in self._tree}

    def tree_size(self) -> int:
        with self._database_lock:
            return self._tree_size

    def position_of(self, event_id: str) -> int | None:
        with self._database_lock:
            if event_id not in self._event_ids:
                return None
            return self._event_id_list.index(event_id) + 1  # memory stores are small

    def save_audit_record(self, kind: str, body: bytes) -> None:
        with self._database_lock:
            self._audit.append((kind, body))

    def audit_records(self, kind: str, latest: int | None = None) -> list[bytes]:
        with self._database_lock:
            found = [body for k, body in self._audit if k == kind]
        return found if latest is None else found[::-1][:latest]

    def _row(self, index: int) -> Row:
        s = self._stored_events[index]
        return Row(index + 1, s, self._event_id_list[index], self._chains[index])

    def read_rows(self, after: int, limit: int) -> list[Row]:
        with self._database_lock:
            end = min(len(self._stored_events), after + limit)
            return [self._row(i) for i in range(max(after, 0), end)]

    def read_stored(self, after: int, limit: int) -> list[StoredRow]:
        with self._database_lock:
            end = min(len(self._stored_events), after + limit)
            out: list[StoredRow] = []
            for i in range(max(after, 0), end):
                s = self._stored_events[i]
                out.append((i + 1, str(s.originator_id), s.originator_version, s.topic, bytes(s.state)))
            return out

    def last_position(self) -> int:
        with self._database_lock:
            return len(self._stored_events)

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self._database_lock:
            self._checkpoints.append(checkpoint)

    def checkpoints(self) -> list[Checkpoint]:
        with self._database_lock:
            return list(self._checkpoints)

    def find_idempotency(self, key: str) -> IdempotencyRecord | None:
        with self._database_lock:
            return self._idempotency.get(key)

    def find_idempotencies(self, keys: Sequence[str]) -> dict[str, IdempotencyRecord]:
        with self._database_lock:
            return {k: self._idempotency[k] for k in keys if k in self._idempotency}


class _POPOTxn(AppendTxn):
    def __init__(self, recorder: POPOLedgerRecorder) -> None:
        self.r = recorder
        self.rows: list[Row] = []
        self.idem: list[IdempotencyRecord] = []
        self.nodes: dict[Node, bytes] = {}

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        return {n: h for n in nodes if (h := self.nodes.get(n, self.r._tree.get(n))) is not None}

    def write_nodes(self, nodes: Mapping[Node, bytes]) -> None:
        self.nodes.update(nodes)

    def tree_size(self) -> int:
        return self.r._tree_size + sum(1 for level, _ in self.nodes if level == 0)

    def last_row(self) -> Row | None:
        n = len(self.r._stored_events)
        return self.r._row(n - 1) if n else None

    def rows_after(self, position: int, limit: int) -> list[Row]:
        return self.r.read_rows(position, limit)

    def stream_events(self, stream_ids: Sequence[str]) -> list[StoredEvent]:
        out: list[StoredEvent] = []
        for sid in stream_ids:
            out.extend(self.r.select_events(sid))
        return out

    def locate(self, event_id: str) -> str | None:
        found: str | None = self.r._event_ids.get(event_id)
        return found

    def idempotency(self, keys: Sequence[str]) -> dict[str, IdempotencyRecord]:
        return {k: self.r._idempotency[k] for k in keys if k in self.r._idempotency}

    def reserve_positions(self, count: int) -> list[int]:
        start = len(self.r._stored_events) + len(self.rows) + 1
        return list(range(start, start + count))

    def insert(self, rows: Sequence[Row]) -> None:
        self.rows.extend(rows)
        self.extend_tree(rows)

    def put_idempotency(self, records: Sequence[IdempotencyRecord]) -> None:
        self.idem.extend(records)

    def commit(self) -> None:
        stored = [row.stored for row in self.rows]
        self.r._assert_uniqueness(stored)
        for row in self.rows:
            if row.event_id in self.r._event_ids:
                raise IntegrityError(f"event id {row.event_id} already recorded")
        for rec in self.idem:
            if rec.key in self.r._idempotency:
                raise IntegrityError(f"idempotency key {rec.key} already recorded")
        self.r._update_table(stored)
        for row in self.rows:
            self.r._event_ids[row.event_id] = str(row.stored.originator_id)
            self.r._event_id_list.append(row.event_id)
            self.r._chains.append(row.chain)
        for rec in self.idem:
            self.r._idempotency[rec.key] = rec
        self.r._tree_size = self.tree_size()
        self.r._tree.update(self.nodes)


# --- SQLite -----------------------------------------------------------------------------------


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


def _size(row: Any) -> int:
    return 0 if row is None or row[0] is None else int(row[0]) + 1


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
            return _size(c.fetchone())

    def locate_row(self, event_id: str) -> tuple[Row | None, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQLITE_LOCATE_ROW, (event_id,))
            r = c.fetchone()
            return (None, 0) if r is None else (_sqlite_row(r), _size((r["tree_last"],)))

    def locate_with_nodes(
        self, event_id: str, nodes_for: Callable[[Row, int], Sequence[Node]]
    ) -> tuple[Row | None, dict[Node, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQLITE_LOCATE_ROW, (event_id,))
            r = c.fetchone()
            if r is None:
                return None, {}
            row = _sqlite_row(r)
            nodes = nodes_for(row, _size((r["tree_last"],)))
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


class _SQLiteTxn(AppendTxn):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.c = conn
        self.last: int | None = None

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

    def reserve_positions(self, count: int) -> list[int]:
        if self.last is None:
            self.last_row()
        assert self.last is not None
        start = self.last + 1
        self.last += count
        return list(range(start, start + count))

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
        return _size(self.c.execute(SQLITE_TREE_SIZE).fetchone())


# --- PostgreSQL -------------------------------------------------------------------------------


class PostgresLedgerRecorder(PostgresApplicationRecorder, LedgerRecorder):
    """PostgreSQL store: the library's recorder and table, plus `event_id`, `chain` and the ledger's tables."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "ledger_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(self.datastore.schema)
        table = Identifier(self.events_table_name)
        self.idem_table = Identifier(f"{self.events_table_name}_idempotency")
        self.checkpoint_table = Identifier(f"{self.events_table_name}_checkpoints")
        self.tree_table = Identifier(f"{self.events_table_name}_tree")
        self.audit_table = Identifier(f"{self.events_table_name}_audit_records")
        self.sql_create_statements[self.create_table_statement_index] = SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
            "originator_id text NOT NULL, originator_version bigint NOT NULL, topic text, state bytea, "
            "notification_id bigserial, event_id text NOT NULL, chain bytea NOT NULL, "
            "PRIMARY KEY (originator_id, originator_version))"
        ).format(schema=schema, table=table)
        self.sql_create_statements.extend(
            [
                SQL("CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {schema}.{table} (event_id)").format(
                    index=Identifier(f"{self.events_table_name}_event_id_idx"), schema=schema, table=table
                ),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {schema}.{idem} ("
                    "key text PRIMARY KEY, request_hash text NOT NULL, response bytea NOT NULL)"
                ).format(schema=schema, idem=self.idem_table),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {schema}.{cp} ("
                    "position bigint PRIMARY KEY, chain bytea NOT NULL, created_at text NOT NULL)"
                ).format(schema=schema, cp=self.checkpoint_table),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {schema}.{tree} ("
                    "level smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL, PRIMARY KEY (level, idx))"
                ).format(schema=schema, tree=self.tree_table),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {schema}.{audit} ("
                    "id bigserial PRIMARY KEY, kind text NOT NULL, body bytea NOT NULL)"
                ).format(schema=schema, audit=self.audit_table),
            ]
        )
        # We insert with our own statement under the lock: the library's insert function is unused,
        # and `CREATE OR REPLACE FUNCTION` fails when several processes open the ledger at once.
        self.sql_create_statements = [
            s for s in self.sql_create_statements if "CREATE OR REPLACE FUNCTION" not in s.as_string()
        ]
        self.t = SQL("{schema}.{table}").format(schema=schema, table=table)
        self.idem = SQL("{schema}.{idem}").format(schema=schema, idem=self.idem_table)
        self.cp = SQL("{schema}.{cp}").format(schema=schema, cp=self.checkpoint_table)
        self.tree = SQL("{schema}.{tree}").format(schema=schema, tree=self.tree_table)
        self.audit = SQL("{schema}.{audit}").format(schema=schema, audit=self.audit_table)

    def create_table(self) -> None:
        with creation_lock(self.datastore):
            super().create_table()

    @contextmanager
    def append_txn(self, *, bulk: bool = False) -> Iterator[AppendTxn]:
        # A single command: pipeline mode, so BEGIN, the lock and the first read travel in one
        # round trip, and the inserts, NOTIFY and COMMIT in another. A batch: COPY (which pipeline
        # mode does not allow) for its rows; its few more round trips are nothing beside the rows.
        # The library's get_connection turns psycopg errors into its own (IntegrityError, ...).
        with (
            self.datastore.get_connection() as conn,
            nullcontext() if bulk else conn.pipeline(),
            conn.transaction(),
            conn.cursor() as lock,
            conn.cursor() as curs,
        ):
            # The lock has a cursor of its own: in pipeline mode its result may arrive while later
            # statements are still being sent, and must not be taken for the result of `curs`'s query.
            for statement in self.lock_table_statements:
                lock.execute(statement, prepare=True)
            txn = self._open_txn(_PostgresTxn(self, curs, copy=bulk))
            yield txn
            if txn.inserted:
                self._notify_channel(curs)
        self._committed_head(txn)

    def _select_rows(self, curs: Any, where: SQL, params: Sequence[Any]) -> list[Row]:
        curs.execute(
            SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state, event_id, chain FROM {t} "
            ).format(t=self.t)
            + where,
            params,
            prepare=True,
        )
        return [_pg_row(r) for r in curs.fetchall()]

    def read_rows(self, after: int, limit: int) -> list[Row]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return self._select_rows(
                curs, SQL("WHERE notification_id > %s ORDER BY notification_id LIMIT %s"), (after, limit)
            )

    def read_stored(self, after: int, limit: int) -> list[StoredRow]:
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(
                SQL(
                    "SELECT notification_id, originator_id, originator_version, topic, state FROM {t} "
                    "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
                ).format(t=self.t),
                (after, limit),
                prepare=True,
            )
            return curs.fetchall()

    def last_position(self) -> int:
        # One attempt, not the library's ten: an unreachable server is reported (503) within the
        # connect timeout, and callers (readiness, requests, the follower) have their own retries.
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.max_notification_id_statement)
            row = curs.fetchone()
            return int((row or {}).get("max") or 0)

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL("INSERT INTO {cp} VALUES (%s, %s, %s) ON CONFLICT DO NOTHING").format(cp=self.cp),
                (checkpoint.position, checkpoint.chain, checkpoint.created_at),
            )

    def checkpoints(self) -> list[Checkpoint]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT position, chain, created_at FROM {cp} ORDER BY position").format(cp=self.cp))
            return [Checkpoint(r["position"], bytes(r["chain"]), r["created_at"]) for r in curs.fetchall()]

    def find_idempotency(self, key: str) -> IdempotencyRecord | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT key, request_hash, response FROM {i} WHERE key = %s").format(i=self.idem), (key,))
            r = curs.fetchone()
            return IdempotencyRecord(r["key"], r["request_hash"], bytes(r["response"])) if r else None

    def find_idempotencies(self, keys: Sequence[str]) -> dict[str, IdempotencyRecord]:
        if not keys:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT key, request_hash, response FROM {i} WHERE key = ANY(%s)").format(i=self.idem),
                (list(keys),),
            )
            return {
                r["key"]: IdempotencyRecord(r["key"], r["request_hash"], bytes(r["response"])) for r in curs.fetchall()
            }

    def _read_nodes(self, curs: Any, nodes: Sequence[Node]) -> dict[Node, bytes]:
        if not nodes:
            return {}
        curs.execute(
            SQL(
                "SELECT level, idx, hash FROM {tree} WHERE (level, idx) IN "
                "(SELECT * FROM unnest(%s::smallint[], %s::bigint[]))"
            ).format(tree=self.tree),
            ([n[0] for n in nodes], [n[1] for n in nodes]),
            prepare=True,
        )
        return {(r["level"], r["idx"]): bytes(r["hash"]) for r in curs.fetchall()}

    def _tree_size(self, curs: Any) -> int:
        curs.execute(SQL("SELECT max(idx) AS idx FROM {tree} WHERE level = 0").format(tree=self.tree), prepare=True)
        r = curs.fetchone()
        return 0 if r is None or r["idx"] is None else int(r["idx"]) + 1

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return self._read_nodes(curs, nodes)

    def tree_size(self) -> int:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return self._tree_size(curs)

    def _locate_row(self, curs: Any, event_id: str) -> tuple[Row | None, int]:
        curs.execute(
            SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state, event_id, chain, "
                "(SELECT max(idx) FROM {tree} WHERE level = 0) AS tree_last FROM {t} WHERE event_id = %s"
            ).format(t=self.t, tree=self.tree),
            (event_id,),
            prepare=True,
        )
        r = curs.fetchone()
        return (None, 0) if r is None else (_pg_row(r), _size((r["tree_last"],)))

    def locate_row(self, event_id: str) -> tuple[Row | None, int]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return self._locate_row(curs, event_id)

    def locate_with_nodes(
        self, event_id: str, nodes_for: Callable[[Row, int], Sequence[Node]]
    ) -> tuple[Row | None, dict[Node, bytes]]:
        # One connection; nodes are written once and never change, so the second read needs no snapshot
        # of the first (a later one holds every node the first's tree size names).
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            row, size = self._locate_row(curs, event_id)
            return (None, {}) if row is None else (row, self._read_nodes(curs, nodes_for(row, size)))

    def position_of(self, event_id: str) -> int | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT notification_id FROM {t} WHERE event_id = %s").format(t=self.t), (event_id,))
            r = curs.fetchone()
            return None if r is None else int(r["notification_id"])

    def save_audit_record(self, kind: str, body: bytes) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("INSERT INTO {a} (kind, body) VALUES (%s, %s)").format(a=self.audit), (kind, body))

    def audit_records(self, kind: str, latest: int | None = None) -> list[bytes]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            if latest is None:
                curs.execute(SQL("SELECT body FROM {a} WHERE kind = %s ORDER BY id").format(a=self.audit), (kind,))
            else:
                curs.execute(
                    SQL("SELECT body FROM {a} WHERE kind = %s ORDER BY id DESC LIMIT %s").format(a=self.audit),
                    (kind, latest),
                )
            return [bytes(r["body"]) for r in curs.fetchall()]


@contextmanager
def creation_lock(datastore: PostgresDatastore) -> Iterator[None]:
    """Serialize table creation across processes opening one schema at once (a session advisory lock)."""
    key = f"ledger-create:{datastore.schema}"
    with datastore.get_connection() as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


def _pg_row(r: Any) -> Row:
    return Row(
        r["notification_id"],
        StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])),
        r["event_id"],
        bytes(r["chain"]),
    )


def _stored_events(rows: Sequence[Any]) -> list[StoredEvent]:
    return [StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])) for r in rows]


def _idempotency_records(rows: Sequence[Any]) -> dict[str, IdempotencyRecord]:
    return {r["key"]: IdempotencyRecord(r["key"], r["request_hash"], bytes(r["response"])) for r in rows}


class _PostgresTxn(AppendTxn):
    def __init__(self, recorder: PostgresLedgerRecorder, curs: Any, *, copy: bool = False) -> None:
        self.r = recorder
        self.curs = curs
        self.copy = copy  # write rows with COPY (not in pipeline mode)
        self._asked_keys: Any = None  # cursors whose reads `ask` sent
        self._asked_streams: Any = None
        self.inserted = False
        self.last: int | None = None

    def last_row(self) -> Row | None:
        rows = self.r._select_rows(self.curs, SQL("ORDER BY notification_id DESC LIMIT 1"), ())
        row = rows[0] if rows else None
        self.last = row.position if row else 0
        return row

    def rows_after(self, position: int, limit: int) -> list[Row]:
        return self.r._select_rows(
            self.curs, SQL("WHERE notification_id > %s ORDER BY notification_id LIMIT %s"), (position, limit)
        )

    @property
    def _streams_sql(self) -> Composable:
        return SQL(
            "SELECT originator_id, originator_version, topic, state FROM {t} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(t=self.r.t)

    @property
    def _idempotency_sql(self) -> Composable:
        return SQL("SELECT key, request_hash, response FROM {i} WHERE key = ANY(%s)").format(i=self.r.idem)

    def stream_events(self, stream_ids: Sequence[str]) -> list[StoredEvent]:
        if not stream_ids:
            return []
        self.curs.execute(self._streams_sql, (list(stream_ids),), prepare=True)
        return _stored_events(self.curs.fetchall())

    def ask(self, keys: Sequence[str], stream_ids: Sequence[str]) -> None:
        # Sent now, behind the lock (so answered as of the lock), read by `answers`: in pipeline mode
        # they travel with the lock and the last row's read instead of a round trip each.
        conn = self.curs.connection
        self._asked_keys = self._asked_streams = None
        if keys:
            self._asked_keys = conn.cursor()
            self._asked_keys.execute(self._idempotency_sql, (list(keys),), prepare=True)
        if stream_ids:
            self._asked_streams = conn.cursor()
            self._asked_streams.execute(self._streams_sql, (list(stream_ids),), prepare=True)

    def answers(self) -> tuple[dict[str, IdempotencyRecord], list[StoredEvent]]:
        keys, streams = self._asked_keys, self._asked_streams
        return (
            {} if keys is None else _idempotency_records(keys.fetchall()),
            [] if streams is None else _stored_events(streams.fetchall()),
        )

    def locate(self, event_id: str) -> str | None:
        self.curs.execute(SQL("SELECT originator_id FROM {t} WHERE event_id = %s").format(t=self.r.t), (event_id,))
        r = self.curs.fetchone()
        return None if r is None else str(r["originator_id"])

    def idempotency(self, keys: Sequence[str]) -> dict[str, IdempotencyRecord]:
        if not keys:
            return {}
        self.curs.execute(self._idempotency_sql, (list(keys),))
        return _idempotency_records(self.curs.fetchall())

    def reserve_positions(self, count: int) -> list[int]:
        # Under the EXCLUSIVE lock no other transaction inserts, so the next positions
        # follow the last one: the log has no gaps, and none can commit out of order.
        if self.last is None:
            self.last_row()
        assert self.last is not None
        start = self.last + 1
        self.last += count
        return list(range(start, start + count))

    def _copy_rows(self, table: Composable, columns: str, types: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """COPY rows in binary: no SQL text to parse nor bytea to escape."""
        with self.curs.copy(
            SQL("COPY {table} (" + columns + ") FROM STDIN (FORMAT BINARY)").format(table=table)
        ) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def insert(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        if self.copy:
            self._copy_rows(
                self.r.t,
                f"notification_id, {EVENT_COLUMNS}",
                ("int8", "text", "int8", "text", "bytea", "text", "bytea"),
                (r.columns() for r in rows),
            )
            self.inserted = True
            self.extend_tree(rows)
            return
        self.curs.execute(
            SQL(
                "INSERT INTO {t} (notification_id, " + EVENT_COLUMNS + ") "
                "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::bytea[], %s::text[], %s::bytea[])"
            ).format(t=self.r.t),
            [list(column) for column in zip(*(r.columns() for r in rows), strict=True)],
            prepare=True,
        )
        self.inserted = True
        self.extend_tree(rows)

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        return self.r._read_nodes(self.curs, nodes)

    def write_nodes(self, nodes: Mapping[Node, bytes]) -> None:
        if not nodes:
            return
        if self.copy:
            rows = ((level, idx, h) for (level, idx), h in nodes.items())
            self._copy_rows(self.r.tree, "level, idx, hash", ("int2", "int8", "bytea"), rows)
            return
        self.curs.execute(
            SQL("INSERT INTO {tree} SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])").format(
                tree=self.r.tree
            ),
            ([n[0] for n in nodes], [n[1] for n in nodes], list(nodes.values())),
            prepare=True,
        )

    def tree_size(self) -> int:
        return self.r._tree_size(self.curs)

    def put_idempotency(self, records: Sequence[IdempotencyRecord]) -> None:
        if not records:
            return
        if self.copy:
            rows = ((r.key, r.request_hash, r.response) for r in records)
            self._copy_rows(self.r.idem, "key, request_hash, response", ("text", "text", "bytea"), rows)
            return
        self.curs.execute(
            SQL("INSERT INTO {i} SELECT * FROM unnest(%s::text[], %s::text[], %s::bytea[])").format(i=self.r.idem),
            ([r.key for r in records], [r.request_hash for r in records], [r.response for r in records]),
        )


__all__ = [
    "AppendTxn",
    "Checkpoint",
    "IdempotencyRecord",
    "LedgerRecorder",
    "Notification",
    "POPOLedgerRecorder",
    "PostgresLedgerRecorder",
    "Row",
    "SQLiteLedgerRecorder",
]
