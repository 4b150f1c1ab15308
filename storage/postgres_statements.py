"""The SQL the PostgreSQL store sends, rendered once per recorder.

Composing a statement (`SQL(...).format(...)`) and rendering it to bytes on every call cost about a
tenth of a single append's CPU; the tables never change for a recorder, so each statement's text is
built once and psycopg is given its bytes. Identifiers are quoted as libpq quotes them (double quotes,
embedded quotes doubled), in UTF-8, the ledger's client encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.abc import Query
from psycopg.sql import SQL, Composable, Identifier

from storage.recorders import EVENT_COLUMNS

ROW_COLUMNS = "notification_id, " + EVENT_COLUMNS


def rendered(statement: Composable) -> bytes:
    return statement.as_bytes()


def rendered_query(statement: Query) -> Query:
    """A statement of the library's, rendered if it is composed (the others are sent as they are)."""
    return rendered(statement) if isinstance(statement, Composable) else statement


@dataclass(frozen=True, slots=True)
class PostgresStatements:
    """Each statement of the store, as the bytes sent to the server."""

    last_row: bytes
    rows_after: bytes
    stored_after: bytes
    streams: bytes
    idempotency: bytes
    idempotency_key: bytes
    locate_stream: bytes
    insert_rows: bytes
    insert_nodes: bytes
    insert_idempotency: bytes
    copy_rows: bytes
    copy_nodes: bytes
    copy_idempotency: bytes
    read_nodes: bytes
    tree_size: bytes
    locate_row: bytes
    position_of: bytes
    save_checkpoint: bytes
    checkpoints: bytes
    save_audit_record: bytes
    audit_records: bytes
    latest_audit_records: bytes


def postgres_statements(
    t: Composable, idem: Composable, tree: Composable, cp: Composable, audit: Composable
) -> PostgresStatements:
    """The store's statements on these tables (each a schema-qualified name)."""
    select_rows = SQL("SELECT " + ROW_COLUMNS + " FROM {t} ").format(t=t)
    return PostgresStatements(
        last_row=rendered(select_rows + SQL("ORDER BY notification_id DESC LIMIT 1")),
        rows_after=rendered(select_rows + SQL("WHERE notification_id > %s ORDER BY notification_id LIMIT %s")),
        stored_after=rendered(
            SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {t} "
                "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
            ).format(t=t)
        ),
        streams=rendered(
            SQL(
                "SELECT originator_id, originator_version, topic, state FROM {t} "
                "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
            ).format(t=t)
        ),
        idempotency=rendered(SQL("SELECT key, request_hash, response FROM {i} WHERE key = ANY(%s)").format(i=idem)),
        idempotency_key=rendered(SQL("SELECT key, request_hash, response FROM {i} WHERE key = %s").format(i=idem)),
        locate_stream=rendered(SQL("SELECT originator_id FROM {t} WHERE event_id = %s").format(t=t)),
        insert_rows=rendered(
            SQL(
                "INSERT INTO {t} (" + ROW_COLUMNS + ") "
                "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::bytea[], %s::text[], %s::bytea[])"
            ).format(t=t)
        ),
        insert_nodes=rendered(
            SQL("INSERT INTO {tree} SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])").format(tree=tree)
        ),
        insert_idempotency=rendered(
            SQL("INSERT INTO {i} SELECT * FROM unnest(%s::text[], %s::text[], %s::bytea[])").format(i=idem)
        ),
        copy_rows=rendered(SQL("COPY {t} (" + ROW_COLUMNS + ") FROM STDIN (FORMAT BINARY)").format(t=t)),
        copy_nodes=rendered(SQL("COPY {tree} (level, idx, hash) FROM STDIN (FORMAT BINARY)").format(tree=tree)),
        copy_idempotency=rendered(
            SQL("COPY {i} (key, request_hash, response) FROM STDIN (FORMAT BINARY)").format(i=idem)
        ),
        read_nodes=rendered(
            SQL(
                "SELECT level, idx, hash FROM {tree} WHERE (level, idx) IN "
                "(SELECT * FROM unnest(%s::smallint[], %s::bigint[]))"
            ).format(tree=tree)
        ),
        tree_size=rendered(SQL("SELECT max(idx) AS idx FROM {tree} WHERE level = 0").format(tree=tree)),
        locate_row=rendered(
            SQL(
                "SELECT " + ROW_COLUMNS + ", "
                "(SELECT max(idx) FROM {tree} WHERE level = 0) AS tree_last FROM {t} WHERE event_id = %s"
            ).format(t=t, tree=tree)
        ),
        position_of=rendered(SQL("SELECT notification_id FROM {t} WHERE event_id = %s").format(t=t)),
        save_checkpoint=rendered(SQL("INSERT INTO {cp} VALUES (%s, %s, %s) ON CONFLICT DO NOTHING").format(cp=cp)),
        checkpoints=rendered(SQL("SELECT position, chain, created_at FROM {cp} ORDER BY position").format(cp=cp)),
        save_audit_record=rendered(SQL("INSERT INTO {a} (kind, body) VALUES (%s, %s)").format(a=audit)),
        audit_records=rendered(SQL("SELECT body FROM {a} WHERE kind = %s ORDER BY id").format(a=audit)),
        latest_audit_records=rendered(
            SQL("SELECT body FROM {a} WHERE kind = %s ORDER BY id DESC LIMIT %s").format(a=audit)
        ),
    )


def notify(channel: str) -> bytes:
    return rendered(SQL("NOTIFY {0}").format(Identifier(channel)))
