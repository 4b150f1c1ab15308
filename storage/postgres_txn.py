"""What a command does on PostgreSQL under the append lock: its reads, pipelined with the lock where
asked together, and its writes (unnest inserts for a single command, binary COPY for a batch)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import StoredEvent

from ledger.merkle import Node
from storage.recorders import IdempotencyRecord, LockedAppendTxn, Row

if TYPE_CHECKING:  # the recorder imports this module
    from storage.postgres_recorder import PostgresLedgerRecorder


def pg_row(r: Any) -> Row:
    return Row(
        r["notification_id"],
        StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])),
        r["event_id"],
        bytes(r["chain"]),
    )


def stored_events(rows: Sequence[Any]) -> list[StoredEvent]:
    return [StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])) for r in rows]


def idempotency_records(rows: Sequence[Any]) -> dict[str, IdempotencyRecord]:
    return {r["key"]: IdempotencyRecord(r["key"], r["request_hash"], bytes(r["response"])) for r in rows}


class PostgresAppendTxn(LockedAppendTxn):
    """A command's reads and writes on PostgreSQL while the append lock is held (pipelined, or COPY for a batch)."""

    def __init__(self, recorder: PostgresLedgerRecorder, curs: Any, *, copy: bool = False) -> None:
        self.r = recorder
        self.curs = curs
        self.copy = copy  # write rows with COPY (not in pipeline mode)
        self._asked_keys: Any = None  # cursors whose reads `ask` sent
        self._asked_streams: Any = None
        self.inserted = False
        self.rows_inserted = 0
        self.last = None

    def last_row(self) -> Row | None:
        rows = self.r._select_rows(self.curs, self.r.sql.last_row, ())
        row = rows[0] if rows else None
        self.last = row.position if row else 0
        return row

    def rows_after(self, position: int, limit: int) -> list[Row]:
        return self.r._select_rows(self.curs, self.r.sql.rows_after, (position, limit))

    def stream_events(self, stream_ids: Sequence[str]) -> list[StoredEvent]:
        if not stream_ids:
            return []
        self.curs.execute(self.r.sql.streams, (list(stream_ids),), prepare=True)
        return stored_events(self.curs.fetchall())

    def ask(self, keys: Sequence[str], stream_ids: Sequence[str]) -> None:
        # Sent now, behind the lock (so answered as of the lock), read by `answers`: in pipeline mode
        # they travel with the lock and the last row's read instead of a round trip each.
        conn = self.curs.connection
        self._asked_keys = self._asked_streams = None
        if keys:
            self._asked_keys = conn.cursor()
            self._asked_keys.execute(self.r.sql.idempotency, (list(keys),), prepare=True)
        if stream_ids:
            self._asked_streams = conn.cursor()
            self._asked_streams.execute(self.r.sql.streams, (list(stream_ids),), prepare=True)

    def answers(self) -> tuple[dict[str, IdempotencyRecord], list[StoredEvent]]:
        keys, streams = self._asked_keys, self._asked_streams
        return (
            {} if keys is None else idempotency_records(keys.fetchall()),
            [] if streams is None else stored_events(streams.fetchall()),
        )

    def locate(self, event_id: str) -> str | None:
        self.curs.execute(self.r.sql.locate_stream, (event_id,))
        r = self.curs.fetchone()
        return None if r is None else str(r["originator_id"])

    def idempotency(self, keys: Sequence[str]) -> dict[str, IdempotencyRecord]:
        if not keys:
            return {}
        self.curs.execute(self.r.sql.idempotency, (list(keys),))
        return idempotency_records(self.curs.fetchall())

    def _copy_rows(self, statement: bytes, types: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """COPY rows in binary: no SQL text to parse nor bytea to escape."""
        with self.curs.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def insert(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        if self.copy:
            self._copy_rows(
                self.r.sql.copy_rows,
                ("int8", "text", "int8", "text", "bytea", "text", "bytea"),
                (r.columns() for r in rows),
            )
            self.inserted = True
            self.rows_inserted += len(rows)
            self.extend_tree(rows)
            return
        self.curs.execute(
            self.r.sql.insert_rows,
            [list(column) for column in zip(*(r.columns() for r in rows), strict=True)],
            prepare=True,
        )
        self.inserted = True
        self.rows_inserted += len(rows)
        self.extend_tree(rows)

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        return self.r._read_nodes(self.curs, nodes)

    def write_nodes(self, nodes: Mapping[Node, bytes]) -> None:
        if not nodes:
            return
        if self.copy:
            rows = ((level, idx, h) for (level, idx), h in nodes.items())
            self._copy_rows(self.r.sql.copy_nodes, ("int2", "int8", "bytea"), rows)
            return
        self.curs.execute(
            self.r.sql.insert_nodes,
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
            self._copy_rows(self.r.sql.copy_idempotency, ("text", "text", "bytea"), rows)
            return
        self.curs.execute(
            self.r.sql.insert_idempotency,
            ([r.key for r in records], [r.request_hash for r in records], [r.response for r in records]),
        )
