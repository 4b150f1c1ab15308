"""The PostgreSQL store: the library's recorder and table, plus `event_id`, `chain` and the ledger's tables.

The append transaction takes `LOCK TABLE … IN EXCLUSIVE MODE`, as the library itself does for every
insert so that commit order equals position order (readers are not blocked); `postgres_txn` holds
what a command does under it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from ledger.merkle import Node
from storage.pg_statistics import FreshStatistics
from storage.postgres_statements import notify, postgres_statements, rendered_query
from storage.postgres_txn import PostgresAppendTxn, pg_row
from storage.recorders import AppendTxn, Checkpoint, IdempotencyRecord, LedgerRecorder, Row, StoredRow, leaf_count


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
        self.sql = postgres_statements(self.t, self.idem, self.tree, self.cp, self.audit)
        self.lock_statements = [rendered_query(s) for s in self.lock_table_statements]
        self.notify_statement = notify(self.channel_name)
        self.statistics = FreshStatistics(
            datastore,
            [
                f'"{self.datastore.schema}"."{name}"'
                for name in (
                    self.events_table_name,
                    f"{self.events_table_name}_tree",
                    f"{self.events_table_name}_idempotency",
                )
            ],
        )

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
            for statement in self.lock_statements:
                lock.execute(statement, prepare=True)
            txn = self._open_txn(PostgresAppendTxn(self, curs, copy=bulk))
            yield txn
            if txn.inserted:
                curs.execute(self.notify_statement)
        self._committed_head(txn)
        if txn.rows_inserted:
            self.statistics.wrote(txn.rows_inserted)

    def _select_rows(self, curs: Any, statement: bytes, params: Sequence[Any]) -> list[Row]:
        curs.execute(statement, params, prepare=True)
        return [pg_row(r) for r in curs.fetchall()]

    def read_rows(self, after: int, limit: int) -> list[Row]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return self._select_rows(curs, self.sql.rows_after, (after, limit))

    def read_stored(self, after: int, limit: int) -> list[StoredRow]:
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self.sql.stored_after, (after, limit), prepare=True)
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
            curs.execute(self.sql.save_checkpoint, (checkpoint.position, checkpoint.chain, checkpoint.created_at))

    def checkpoints(self) -> list[Checkpoint]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.sql.checkpoints)
            return [Checkpoint(r["position"], bytes(r["chain"]), r["created_at"]) for r in curs.fetchall()]

    def find_idempotency(self, key: str) -> IdempotencyRecord | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.sql.idempotency_key, (key,))
            r = curs.fetchone()
            return IdempotencyRecord(r["key"], r["request_hash"], bytes(r["response"])) if r else None

    def find_idempotencies(self, keys: Sequence[str]) -> dict[str, IdempotencyRecord]:
        if not keys:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.sql.idempotency, (list(keys),))
            return {
                r["key"]: IdempotencyRecord(r["key"], r["request_hash"], bytes(r["response"])) for r in curs.fetchall()
            }

    def _read_nodes(self, curs: Any, nodes: Sequence[Node]) -> dict[Node, bytes]:
        if not nodes:
            return {}
        curs.execute(self.sql.read_nodes, ([n[0] for n in nodes], [n[1] for n in nodes]), prepare=True)
        return {(r["level"], r["idx"]): bytes(r["hash"]) for r in curs.fetchall()}

    def _tree_size(self, curs: Any) -> int:
        curs.execute(self.sql.tree_size, prepare=True)
        r = curs.fetchone()
        return 0 if r is None or r["idx"] is None else int(r["idx"]) + 1

    def read_nodes(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return self._read_nodes(curs, nodes)

    def tree_size(self) -> int:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            return self._tree_size(curs)

    def _locate_row(self, curs: Any, event_id: str) -> tuple[Row | None, int]:
        curs.execute(self.sql.locate_row, (event_id,), prepare=True)
        r = curs.fetchone()
        return (None, 0) if r is None else (pg_row(r), leaf_count((r["tree_last"],)))

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
            curs.execute(self.sql.position_of, (event_id,))
            r = curs.fetchone()
            return None if r is None else int(r["notification_id"])

    def save_audit_record(self, kind: str, body: bytes) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self.sql.save_audit_record, (kind, body))

    def audit_records(self, kind: str, latest: int | None = None) -> list[bytes]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            if latest is None:
                curs.execute(self.sql.audit_records, (kind,))
            else:
                curs.execute(self.sql.latest_audit_records, (kind, latest))
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
