"""Application recorders of the eventsourcing library, extended for the ledger.

Each store (`memory_recorder`, `sqlite_recorder`, `postgres_recorder`) subclasses the library's
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

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

from eventsourcing.persistence import Notification, StoredEvent

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


class LockedAppendTxn(AppendTxn):
    """A transaction of a store whose append lock keeps every other writer out."""

    last: int | None = None  # the highest position, once `last_row` has read it

    def reserve_positions(self, count: int) -> list[int]:
        # Under the lock no other transaction inserts, so the next positions follow the last one:
        # the log has no gaps, and none can commit out of order.
        if self.last is None:
            self.last_row()
        assert self.last is not None
        start = self.last + 1
        self.last += count
        return list(range(start, start + count))


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


def leaf_count(row: Any) -> int:
    """The stored tree's size from the highest leaf index (a one-column row, or None when there is none)."""
    return 0 if row is None or row[0] is None else int(row[0]) + 1


__all__ = [
    "AppendTxn",
    "Checkpoint",
    "IdempotencyRecord",
    "LedgerRecorder",
    "Notification",
    "Row",
    "StoredRow",
]
