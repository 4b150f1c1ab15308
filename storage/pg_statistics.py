"""The planner's statistics of the ledger's PostgreSQL tables, kept fresh by the ledger itself.

Without statistics PostgreSQL guesses that a stream holds a fixed share of the table, so at a few
million events a read of two streams is planned as a parallel scan of the whole table, compiled
with JIT: 30 ms to 600 ms instead of a fraction of one. Autovacuum would analyze the tables, but it
may be off (it is on some of the machines this ledger runs on) or far behind a bulk import. So each
process counts the rows it writes and analyzes once they reach a tenth of the table (autovacuum's
own default), after its commit, in a thread of its own so that no request waits for it. Counting
starts from what the server says was written since the last analyze, so a table loaded and never
analyzed is analyzed at the first write. A failed analyze is logged, never raised: the write it
follows has committed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from psycopg.rows import tuple_row

log = logging.getLogger("ledger.statistics")

SCALE = 0.1  # of the table's rows, as autovacuum's analyze_scale_factor
FLOOR = 1_000  # rows: small tables are planned well enough without


def analyze_is_due(written: int, rows: int, *, scale: float = SCALE, floor: int = FLOOR) -> bool:
    """Whether rows written since the last analyze call for a new one."""
    return written >= floor + scale * rows


class FreshStatistics:
    """Analyzes `tables` (the first one counted) whenever the rows written since the last analyze are due."""

    def __init__(self, datastore: Any, tables: Sequence[str], *, scale: float = SCALE, floor: int = FLOOR) -> None:
        self.datastore = datastore
        self.tables = list(tables)  # qualified names, the counted table first
        self.scale, self.floor = scale, floor
        self._written: int | None = None  # since the last analyze; None until read from the server
        self._rows = 0
        self._lock = threading.Lock()

    def wrote(self, rows: int) -> None:
        """Count rows just committed; analyze now if that makes it due."""
        with self._lock:
            if self._written is None:
                try:
                    self._written, self._rows = self._server_counts()
                except Exception as e:  # the write has committed: its caller must not see a failure
                    log.warning("statistics unread", extra={"fields": {"tables": self.tables, "error": repr(e)}})
                    return
            self._written += rows
            due = analyze_is_due(self._written, self._rows, scale=self.scale, floor=self.floor)
            if due:
                self._written = 0
        if due:
            threading.Thread(target=self.analyze, name="ledger-analyze", daemon=True).start()

    def analyze(self) -> None:
        try:
            with self.datastore.get_connection() as conn:
                for table in self.tables:
                    conn.execute(f"ANALYZE {table}")
            _, self._rows = self._server_counts()
        except Exception as e:  # (a read-only standby, an outage): the next due write tries again
            if not getattr(getattr(self.datastore, "pool", None), "closed", False):  # else the process is closing
                log.warning("analyze failed", extra={"fields": {"tables": self.tables, "error": repr(e)}})
            return
        log.info("analyzed", extra={"fields": {"tables": self.tables, "rows": self._rows}})

    def _server_counts(self) -> tuple[int, int]:
        """(rows written since the last analyze, live rows) of the counted table, as the server knows them."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            row = curs.execute(
                "SELECT n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables WHERE relid = to_regclass(%s)",
                (self.tables[0],),
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)
