"""The memory store for tests: the library's POPO recorder plus the ledger's tables, under the recorder's own lock."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from ledger.merkle import Node
from storage.recorders import AppendTxn, Checkpoint, IdempotencyRecord, LedgerRecorder, Row, StoredRow


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
