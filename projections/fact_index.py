"""The fact index: a read model of every event, indexed by person and organization, bitemporally.

One row per event (`lp_facts`):

| column         | meaning                                                                   |
|----------------|---------------------------------------------------------------------------|
| position       | ledger position (PRIMARY KEY)                                             |
| event_id, type | the event                                                                 |
| stream, version| its aggregate stream and version                                          |
| person_id      | the person the fact is about (teacher of a restriction, redeemer, …)      |
| org_id         | the organization it is about; `district_id` for a school's district       |
| effective_at   | valid time, µs since the epoch (UTC): the fact holds from here            |
| recorded_at    | transaction time, µs since the epoch                                      |
| voided_at      | position of the void that retracts it, or NULL                            |
| topic, state   | the stored event, decoded when rules need it                              |

Valid time × known interval: a fact holds in valid time from `effective_at` (how
long is decided by the rules in `ledger/`, from the facts that end it), and the
ledger knew it for positions `[position, voided_at)`. A query at (`at`, `as_of`)
selects the rows of a few streams known at `as_of` — an indexed lookup — and
folds them with the rules.

Each store's view subclasses the library's TrackingRecorder, and the rows of a
batch are written in the same transaction as the tracking position: a crash
resumes exactly once, and a rebuild is a replay from position 0.
"""

from __future__ import annotations

import bisect
from abc import abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from eventsourcing.persistence import StoredEvent, Tracking, TrackingRecorder
from eventsourcing.popo import POPOTrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from ledger import events as ev
from storage.pg_statistics import FreshStatistics
from storage.postgres_recorder import creation_lock
from storage.recorders import StoredRow

TRACKING_NAME = "Ledger"  # the application whose log the view follows
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(instant: datetime) -> int:
    """An instant as integer microseconds since the epoch (exact)."""
    return (instant - EPOCH) // _US


def from_us(value: int) -> datetime:
    """Integer microseconds since the epoch back to a UTC datetime."""
    return EPOCH + timedelta(microseconds=value)


class Fact(NamedTuple):
    """One row of the fact index (the stored event still encoded); fields in column order."""

    position: int
    event_id: str
    type: str
    stream: str
    version: int
    person_id: str | None
    org_id: str | None
    district_id: str | None
    effective_at: int
    recorded_at: int
    voided_at: int | None
    topic: str
    state: bytes

    def stored(self) -> StoredEvent:
        return StoredEvent(self.stream, self.version, self.topic, self.state)

    def known_at(self, position: int) -> bool:
        """Whether the ledger held this fact at `position` (transaction time)."""
        return self.position <= position and (self.voided_at is None or self.voided_at > position)


def fact_of(row: StoredRow, kind: str, state: dict[str, Any], about: tuple[str | None, str | None]) -> Fact:
    """Index one event from its stored row and raw state; `about` is (person, org) (voids inherit their target's)."""
    position, stream, version, topic, raw = row
    return Fact(
        position,
        state["event_id"],
        kind,
        stream,
        version,
        about[0],
        about[1],
        state.get("district_id"),
        iso_us(state["effective_at"]),
        iso_us(state["timestamp"]),
        None,
        topic,
        bytes(raw),
    )


def iso_us(text: str) -> int:
    """An ISO-8601 instant (as the mapper stores it) as µs since the epoch."""
    return to_us(datetime.fromisoformat(text))


class FactIndex:
    """What every store's view offers to the queries (a mixin over a library TrackingRecorder)."""

    @abstractmethod
    def process(self, facts: Sequence[Fact], voids: Sequence[tuple[int, int]], last_position: int) -> None:
        """Write facts, mark voided ones ((target position, void position)), record the tracking position:
        one transaction."""

    @abstractmethod
    def about(self, event_id: str) -> tuple[int, str | None, str | None] | None:
        """(position, person, org) of an indexed event, or None if it is not indexed."""

    @abstractmethod
    def facts_of_streams(self, streams: Sequence[str], as_of: int) -> list[Fact]:
        """Facts of these streams known at `as_of`, in position order."""

    @abstractmethod
    def facts_after(self, position: int, limit: int) -> list[Fact]:
        """Facts after a position, in position order (to follow the index incrementally)."""

    @abstractmethod
    def all_facts_of_streams(self, streams: Sequence[str]) -> list[Fact]:
        """Every fact of these streams, voided ones included, in position order."""

    @abstractmethod
    def load_streams(self, streams: Sequence[str]) -> tuple[int, list[Fact]]:
        """The tracked position and every fact of these streams (voided ones included, in position order),
        read together in one round trip: the facts are exactly those at or before that position."""

    @abstractmethod
    def stream_ids(self) -> list[str]:
        """Every stream with a fact in the index (one pass over the stream index)."""

    @abstractmethod
    def facts_by_stream(self, last: str) -> AbstractContextManager[tuple[int, Iterator[Fact]]]:
        """The tracked position and every fact (voided ones included), by stream, then position: the
        streams whose id does not start with `last` first, then those that do. Read from one snapshot,
        so the facts are exactly those at or before that position, and streamed: rows arrive as they
        are iterated, for as long as the context is open."""

    @abstractmethod
    def streams_about_person(self, person_id: str, as_of: int) -> set[str]:
        """Streams holding facts about this person known at `as_of`."""

    @abstractmethod
    def persons_at_org(self, org_id: str, as_of: int) -> set[str]:
        """Persons with facts at this organization known at `as_of`."""

    @abstractmethod
    def schools_of_district(self, district_id: str, as_of: int) -> list[str]:
        """Schools registered in the district known at `as_of`."""

    @abstractmethod
    def facts_about_person(self, person_id: str) -> list[Fact]:
        """Every fact about the person (voided ones included), in position order."""

    @abstractmethod
    def position_at(self, recorded_at_us: int) -> int:
        """The last position recorded at or before an instant (0 if none)."""

    @abstractmethod
    def times_after(self, position: int, limit: int) -> list[tuple[int, int]]:
        """(position, recorded_at µs) of facts after a position, in position order."""

    @abstractmethod
    def recorded_at_of(self, positions: Iterable[int]) -> dict[int, int]:
        """recorded_at (µs) of indexed positions."""

    @abstractmethod
    def fact_by_event_id(self, event_id: str) -> Fact | None:
        """One fact by event id."""

    @abstractmethod
    def types_and_positions(self, event_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        """(type, position) of indexed events by event id, in one lookup; ids not indexed are left out."""

    @abstractmethod
    def directory_facts(self, after: int, upto: int) -> list[Fact]:
        """Registrations, profile updates and voids of person streams in (after, upto], in position order."""

    @abstractmethod
    def drop(self) -> None:
        """Remove every row and the tracking position (before a rebuild)."""

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Load without the secondary indexes, then build them once (a rebuild is a bulk load)."""
        yield

    def tracked(self) -> int:
        """The last position processed (0 when nothing is)."""
        assert isinstance(self, TrackingRecorder)
        return int(self.max_tracking_id(TRACKING_NAME) or 0)


# --- memory ---------------------------------------------------------------------------------


class POPOFactIndex(POPOTrackingRecorder, FactIndex):
    """The fact index in memory (tests and `memory://`)."""

    def __init__(self) -> None:
        super().__init__()
        self._init_tables()

    def _init_tables(self) -> None:
        self._facts: dict[int, Fact] = {}
        self._by_event: dict[str, int] = {}
        self._by_stream: dict[str, list[int]] = defaultdict(list)
        self._by_person: dict[str, list[int]] = defaultdict(list)
        self._by_org: dict[str, list[int]] = defaultdict(list)
        self._by_district: dict[str, list[int]] = defaultdict(list)
        self._positions: list[int] = []
        self._recorded: list[int] = []

    def process(self, facts: Sequence[Fact], voids: Sequence[tuple[int, int]], last_position: int) -> None:
        with self._database_lock:
            self._assert_tracking_uniqueness(Tracking(TRACKING_NAME, last_position))
            for f in facts:
                self._facts[f.position] = f
                self._by_event[f.event_id] = f.position
                self._by_stream[f.stream].append(f.position)
                if f.person_id:
                    self._by_person[f.person_id].append(f.position)
                if f.org_id:
                    self._by_org[f.org_id].append(f.position)
                if f.type == "SchoolRegistered" and f.district_id:
                    self._by_district[f.district_id].append(f.position)
                self._positions.append(f.position)
                self._recorded.append(f.recorded_at)
            for pos, void_position in voids:
                if pos in self._facts:
                    self._facts[pos] = self._facts[pos]._replace(voided_at=void_position)
            self._insert_tracking(Tracking(TRACKING_NAME, last_position))

    def _known(self, positions: Iterable[int], as_of: int) -> list[Fact]:
        out = [self._facts[p] for p in positions if p <= as_of]
        return [f for f in out if f.known_at(as_of)]

    def about(self, event_id: str) -> tuple[int, str | None, str | None] | None:
        with self._database_lock:
            pos = self._by_event.get(event_id)
            return None if pos is None else (pos, self._facts[pos].person_id, self._facts[pos].org_id)

    def facts_of_streams(self, streams: Sequence[str], as_of: int) -> list[Fact]:
        with self._database_lock:
            positions = sorted(p for s in streams for p in self._by_stream.get(s, ()))
            return self._known(positions, as_of)

    def facts_after(self, position: int, limit: int) -> list[Fact]:
        with self._database_lock:
            i = bisect.bisect_right(self._positions, position)
            return [self._facts[p] for p in self._positions[i : i + limit]]

    def all_facts_of_streams(self, streams: Sequence[str]) -> list[Fact]:
        with self._database_lock:
            return [self._facts[p] for p in sorted(p for s in streams for p in self._by_stream.get(s, ()))]

    def load_streams(self, streams: Sequence[str]) -> tuple[int, list[Fact]]:
        with self._database_lock:
            return int(self.max_tracking_id(TRACKING_NAME) or 0), self.all_facts_of_streams(streams)

    def stream_ids(self) -> list[str]:
        with self._database_lock:
            return [s for s, positions in self._by_stream.items() if positions]

    @contextmanager
    def facts_by_stream(self, last: str) -> Iterator[tuple[int, Iterator[Fact]]]:
        with self._database_lock:
            tracked = int(self.max_tracking_id(TRACKING_NAME) or 0)
            ordered = sorted(self._by_stream, key=lambda s: (s.startswith(last), s))
            facts = [self._facts[p] for s in ordered for p in self._by_stream[s]]
        yield tracked, iter(facts)

    def streams_about_person(self, person_id: str, as_of: int) -> set[str]:
        with self._database_lock:
            return {f.stream for f in self._known(self._by_person.get(person_id, ()), as_of)}

    def persons_at_org(self, org_id: str, as_of: int) -> set[str]:
        with self._database_lock:
            return {f.person_id for f in self._known(self._by_org.get(org_id, ()), as_of) if f.person_id}

    def schools_of_district(self, district_id: str, as_of: int) -> list[str]:
        with self._database_lock:
            return sorted({f.org_id for f in self._known(self._by_district.get(district_id, ()), as_of) if f.org_id})

    def facts_about_person(self, person_id: str) -> list[Fact]:
        with self._database_lock:
            positions = set(self._by_person.get(person_id, ())) | set(
                self._by_stream.get(ev.person_stream(person_id), ())
            )
            return [self._facts[p] for p in sorted(positions)]

    def position_at(self, recorded_at_us: int) -> int:
        with self._database_lock:
            i = bisect.bisect_right(self._recorded, recorded_at_us)
            return self._positions[i - 1] if i else 0

    def times_after(self, position: int, limit: int) -> list[tuple[int, int]]:
        with self._database_lock:
            i = bisect.bisect_right(self._positions, position)
            return list(zip(self._positions[i : i + limit], self._recorded[i : i + limit], strict=True))

    def recorded_at_of(self, positions: Iterable[int]) -> dict[int, int]:
        with self._database_lock:
            return {p: self._facts[p].recorded_at for p in positions if p in self._facts}

    def fact_by_event_id(self, event_id: str) -> Fact | None:
        with self._database_lock:
            pos = self._by_event.get(event_id)
            return None if pos is None else self._facts[pos]

    def types_and_positions(self, event_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        with self._database_lock:
            found = ((i, self._by_event.get(i)) for i in event_ids)
            return {i: (self._facts[p].type, p) for i, p in found if p is not None}

    def directory_facts(self, after: int, upto: int) -> list[Fact]:
        with self._database_lock:
            lo = bisect.bisect_right(self._positions, after)
            hi = bisect.bisect_right(self._positions, upto)
            return [f for p in self._positions[lo:hi] if _in_directory(f := self._facts[p])]

    def drop(self) -> None:
        with self._database_lock:
            self._init_tables()
            self._max_tracking_ids[TRACKING_NAME] = None


# --- SQL stores ---------------------------------------------------------------------------------

COLUMNS = (
    "position, event_id, type, stream, version, person_id, org_id, district_id, "
    "effective_at, recorded_at, voided_at, topic, state"
)


def _prefixed(alias: str) -> str:
    return ", ".join(alias + c.strip() for c in COLUMNS.split(","))


def _fact(r: Sequence[Any]) -> Fact:
    return Fact(
        int(r[0]),
        r[1],
        r[2],
        r[3],
        int(r[4]),
        r[5],
        r[6],
        r[7],
        int(r[8]),
        int(r[9]),
        None if r[10] is None else int(r[10]),
        r[11],
        bytes(r[12]),
    )


class _SQLFacts(FactIndex):
    """Queries shared by SQLite and PostgreSQL; `q` adapts placeholders and `_run` executes."""

    placeholder = "?"
    table = "lp_facts"
    tracking_table = "tracking"

    @abstractmethod
    def _read(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]: ...

    def q(self, sql: str) -> str:
        """Adapt a query written for SQLite: table name (schema-qualified on PostgreSQL) and placeholders."""
        sql = sql.replace("lp_facts", self.table)
        return sql if self.placeholder == "?" else sql.replace("?", "%s")

    def _known_clause(self) -> str:
        return "position <= ? AND (voided_at IS NULL OR voided_at > ?)"

    def about(self, event_id: str) -> tuple[int, str | None, str | None] | None:
        rows = self._read(self.q("SELECT position, person_id, org_id FROM lp_facts WHERE event_id = ?"), (event_id,))
        return (int(rows[0][0]), rows[0][1], rows[0][2]) if rows else None

    def facts_of_streams(self, streams: Sequence[str], as_of: int) -> list[Fact]:
        if not streams:
            return []
        marks = ",".join("?" * len(streams))
        sql = f"SELECT {COLUMNS} FROM lp_facts WHERE stream IN ({marks}) AND {self._known_clause()} ORDER BY position"
        return [_fact(r) for r in self._read(self.q(sql), (*streams, as_of, as_of))]

    def facts_after(self, position: int, limit: int) -> list[Fact]:
        sql = f"SELECT {COLUMNS} FROM lp_facts WHERE position > ? ORDER BY position LIMIT ?"
        return [_fact(r) for r in self._read(self.q(sql), (position, limit))]

    def all_facts_of_streams(self, streams: Sequence[str]) -> list[Fact]:
        if not streams:
            return []
        marks = ",".join("?" * len(streams))
        sql = f"SELECT {COLUMNS} FROM lp_facts WHERE stream IN ({marks}) ORDER BY position"
        return [_fact(r) for r in self._read(self.q(sql), tuple(streams))]

    def load_streams(self, streams: Sequence[str]) -> tuple[int, list[Fact]]:
        # The tracking row and the facts come from one statement, hence one snapshot: a batch's facts
        # and its tracking position are written in one transaction, so these are exactly the facts
        # at or before the position returned (a LEFT JOIN: the position comes even without facts).
        marks = ",".join("?" * len(streams)) or "NULL"
        sql = (
            f"SELECT t.tracked, {_prefixed('f.')} FROM ({self._tracked_sql()}) t "
            f"LEFT JOIN lp_facts f ON f.stream IN ({marks}) ORDER BY f.position"
        )
        return self._with_tracked(self._read(self.q(sql), (TRACKING_NAME, *streams)))

    def stream_ids(self) -> list[str]:
        return [r[0] for r in self._read(self.q("SELECT DISTINCT stream FROM lp_facts"), ())]

    def _by_stream_statements(self, last: str) -> list[tuple[str, tuple[Any, ...]]]:
        """The statements of `facts_by_stream` (with their parameters), to run in one snapshot."""
        pattern = last + "%"  # (`last` is a plain prefix: no wildcards)
        sql = f"SELECT {COLUMNS} FROM lp_facts WHERE stream {{}} LIKE ? ORDER BY stream, position"
        return [(self.q(sql.format("NOT")), (pattern,)), (self.q(sql.format("")), (pattern,))]

    BY_STREAM_PAGE = 2000  # rows fetched at a time by `facts_by_stream`

    def _tracked_sql(self) -> str:
        return f"SELECT MAX(notification_id) AS tracked FROM {self.tracking_table} WHERE application_name = ?"

    @staticmethod
    def _with_tracked(rows: list[Sequence[Any]]) -> tuple[int, list[Fact]]:
        tracked = int(rows[0][0] or 0) if rows else 0
        return tracked, [_fact(r[1:]) for r in rows if r[1] is not None]

    def streams_about_person(self, person_id: str, as_of: int) -> set[str]:
        sql = f"SELECT DISTINCT stream FROM lp_facts WHERE person_id = ? AND {self._known_clause()}"
        return {r[0] for r in self._read(self.q(sql), (person_id, as_of, as_of))}

    def persons_at_org(self, org_id: str, as_of: int) -> set[str]:
        sql = (
            f"SELECT DISTINCT person_id FROM lp_facts WHERE org_id = ? AND person_id IS NOT NULL "
            f"AND {self._known_clause()}"
        )
        return {r[0] for r in self._read(self.q(sql), (org_id, as_of, as_of))}

    def schools_of_district(self, district_id: str, as_of: int) -> list[str]:
        sql = (
            "SELECT DISTINCT org_id FROM lp_facts WHERE district_id = ? AND type = 'SchoolRegistered' "
            f"AND {self._known_clause()} ORDER BY org_id"
        )
        return [r[0] for r in self._read(self.q(sql), (district_id, as_of, as_of))]

    def facts_about_person(self, person_id: str) -> list[Fact]:
        sql = (
            f"SELECT {COLUMNS} FROM lp_facts WHERE person_id = ? "
            f"UNION SELECT {COLUMNS} FROM lp_facts WHERE stream = ? ORDER BY position"
        )
        return [_fact(r) for r in self._read(self.q(sql), (person_id, ev.person_stream(person_id)))]

    def position_at(self, recorded_at_us: int) -> int:
        # ORDER BY … LIMIT 1 walks the (recorded_at, position) index; MAX(position) with the
        # WHERE clause would scan. recorded_at never decreases along positions.
        sql = "SELECT position FROM lp_facts WHERE recorded_at <= ? ORDER BY recorded_at DESC, position DESC LIMIT 1"
        rows = self._read(self.q(sql), (recorded_at_us,))
        return int(rows[0][0]) if rows else 0

    def times_after(self, position: int, limit: int) -> list[tuple[int, int]]:
        sql = "SELECT position, recorded_at FROM lp_facts WHERE position > ? ORDER BY position LIMIT ?"
        return [(int(r[0]), int(r[1])) for r in self._read(self.q(sql), (position, limit))]

    def recorded_at_of(self, positions: Iterable[int]) -> dict[int, int]:
        wanted = sorted(set(positions))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self._read(self.q(f"SELECT position, recorded_at FROM lp_facts WHERE position IN ({marks})"), wanted)
        return {int(r[0]): int(r[1]) for r in rows}

    def fact_by_event_id(self, event_id: str) -> Fact | None:
        rows = self._read(self.q(f"SELECT {COLUMNS} FROM lp_facts WHERE event_id = ?"), (event_id,))
        return _fact(rows[0]) if rows else None

    def types_and_positions(self, event_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        wanted = sorted(set(event_ids))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        sql = f"SELECT event_id, type, position FROM lp_facts WHERE event_id IN ({marks})"
        return {str(r[0]): (str(r[1]), int(r[2])) for r in self._read(self.q(sql), wanted)}

    def directory_facts(self, after: int, upto: int) -> list[Fact]:
        sql = (
            f"SELECT {COLUMNS} FROM lp_facts WHERE type IN {DIRECTORY_TYPES_SQL} "
            "AND position > ? AND position <= ? ORDER BY position"
        )
        return [f for f in map(_fact, self._read(self.q(sql), (after, upto))) if _in_directory(f)]


# Facts that name people (the directory behind "find a person"); a small partial index finds them.
DIRECTORY_TYPES = ("PersonRegistered", "ProfileUpdated", "EventVoided")
DIRECTORY_TYPES_SQL = "('PersonRegistered', 'ProfileUpdated', 'EventVoided')"


def _in_directory(f: Fact) -> bool:
    return f.type in DIRECTORY_TYPES and ev.parse_stream_id(f.stream)[0] == "person"


INDEXES = (
    "CREATE INDEX IF NOT EXISTS lp_facts_stream ON lp_facts (stream, position)",
    "CREATE INDEX IF NOT EXISTS lp_facts_person ON lp_facts (person_id, position)",
    "CREATE INDEX IF NOT EXISTS lp_facts_org ON lp_facts (org_id, position)",
    "CREATE INDEX IF NOT EXISTS lp_facts_district ON lp_facts (district_id, position)",
    "CREATE INDEX IF NOT EXISTS lp_facts_recorded ON lp_facts (recorded_at, position)",
    f"CREATE INDEX IF NOT EXISTS lp_facts_directory ON lp_facts (position) WHERE type IN {DIRECTORY_TYPES_SQL}",
    # Separate from the table so a rebuild can load without it (random UUID keys halve insert speed).
    "CREATE UNIQUE INDEX IF NOT EXISTS lp_facts_event ON lp_facts (event_id)",
)
INDEX_NAMES = tuple(s.split(" ON ")[0].split()[-1] for s in INDEXES)


class SQLiteFactIndex(SQLiteTrackingRecorder, _SQLFacts):
    """The fact index in the ledger's SQLite database."""

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS lp_facts ("
            "position INTEGER PRIMARY KEY, event_id TEXT NOT NULL, type TEXT NOT NULL, "
            "stream TEXT NOT NULL, version INTEGER NOT NULL, person_id TEXT, org_id TEXT, district_id TEXT, "
            "effective_at INTEGER NOT NULL, recorded_at INTEGER NOT NULL, voided_at INTEGER, "
            "topic TEXT NOT NULL, state BLOB NOT NULL)",
            *INDEXES,
        ]

    def _read(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return list(c.fetchall())

    @contextmanager
    def facts_by_stream(self, last: str) -> Iterator[tuple[int, Iterator[Fact]]]:
        # One read transaction: in WAL mode its statements share the snapshot its first one took.
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None  # plain tuples
            cursor.execute(self._tracked_sql(), (TRACKING_NAME,))
            row = cursor.fetchone()
            yield int(row[0] or 0) if row else 0, self._streamed(cursor, last)

    def _streamed(self, cursor: Any, last: str) -> Iterator[Fact]:
        for sql, params in self._by_stream_statements(last):
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(self.BY_STREAM_PAGE):
                yield from map(_fact, rows)

    def process(self, facts: Sequence[Fact], voids: Sequence[tuple[int, int]], last_position: int) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(f"INSERT INTO lp_facts ({COLUMNS}) VALUES ({','.join('?' * 13)})", facts)
            if voids:
                c.executemany(
                    "UPDATE lp_facts SET voided_at = ? WHERE position = ?", [(void, target) for target, void in voids]
                )
            self._insert_tracking(c, Tracking(TRACKING_NAME, last_position))

    def drop(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("DROP TABLE IF EXISTS lp_facts")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (TRACKING_NAME,))
            for statement in self.construct_create_table_statements()[1:]:
                c.execute(statement)

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        with self.datastore.transaction(commit=True) as c:
            for name in INDEX_NAMES:
                c.execute(f"DROP INDEX IF EXISTS {name}")
        try:
            yield
        finally:  # (if interrupted, opening the ledger creates them again: IF NOT EXISTS)
            with self.datastore.transaction(commit=True) as c:
                for statement in INDEXES:
                    c.execute(statement)


class PostgresFactIndex(PostgresTrackingRecorder, _SQLFacts):
    """The fact index in the ledger's PostgreSQL database (same schema as the events)."""

    placeholder = "%s"

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.table = f"{self.datastore.schema}.lp_facts"
        self.tracking_table = f'{self.datastore.schema}."{self.tracking_table_name}"'
        self._bulk = False
        self.statistics = FreshStatistics(self.datastore, [self.table])
        self.sql_create_statements.extend(SQL(s).format() for s in self._table_statements())

    def _table_statements(self) -> list[str]:
        schema = self.datastore.schema
        return [
            f"CREATE TABLE IF NOT EXISTS {schema}.lp_facts ("
            "position bigint PRIMARY KEY, event_id text NOT NULL, type text NOT NULL, "
            "stream text NOT NULL, version bigint NOT NULL, person_id text, org_id text, district_id text, "
            "effective_at bigint NOT NULL, recorded_at bigint NOT NULL, voided_at bigint, "
            "topic text NOT NULL, state bytea NOT NULL)",
            *(s.replace(" ON lp_facts", f" ON {schema}.lp_facts") for s in INDEXES),
        ]

    def create_table(self) -> None:
        with creation_lock(self.datastore):
            super().create_table()

    def _read(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(sql, params, prepare=True)
            return list(curs.fetchall())

    @contextmanager
    def facts_by_stream(self, last: str) -> Iterator[tuple[int, Iterator[Fact]]]:
        # One repeatable-read transaction (one snapshot for all its statements), each statement read
        # through a server-side cursor a page at a time.
        with self.datastore.get_connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            with conn.cursor(row_factory=tuple_row) as curs:
                curs.execute(self.q(self._tracked_sql()), (TRACKING_NAME,))
                row = curs.fetchone()
            yield int(row[0] or 0) if row else 0, self._streamed(conn, last)

    def _streamed(self, conn: Any, last: str) -> Iterator[Fact]:
        for sql, params in self._by_stream_statements(last):
            with conn.cursor(name="ledger_facts_by_stream", row_factory=tuple_row) as curs:
                curs.execute(sql, params)
                while rows := curs.fetchmany(self.BY_STREAM_PAGE):
                    yield from map(_fact, rows)

    def tracked(self) -> int:
        # One attempt, not the library's ten (see `PostgresLedgerRecorder.last_position`).
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self.max_tracking_id_statement, (TRACKING_NAME,), prepare=True)
            row = curs.fetchone()
            return int(row[0] or 0) if row else 0

    def process(self, facts: Sequence[Fact], voids: Sequence[tuple[int, int]], last_position: int) -> None:
        table = self.table
        with self.datastore.transaction(commit=True) as curs:
            if self._bulk:
                # A rebuild: losing its last batches to a crash loses their tracking too (same
                # transaction), and they are simply projected again; no need to wait for the disk.
                curs.execute("SET LOCAL synchronous_commit = off")
            if len(facts) > 100:
                with curs.copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy:
                    for fact in facts:
                        copy.write_row(fact)
            elif facts:
                columns = list(zip(*facts, strict=True))
                curs.execute(
                    f"INSERT INTO {table} ({COLUMNS}) SELECT * FROM unnest("
                    "%s::bigint[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[], "
                    "%s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::bytea[])",
                    [list(c) for c in columns],
                )
            for target, void in voids:
                curs.execute(f"UPDATE {table} SET voided_at = %s WHERE position = %s", (void, target))
            self._insert_tracking(curs, Tracking(TRACKING_NAME, last_position))
        if not self._bulk:  # (a rebuild analyzes once its indexes are back)
            self.statistics.wrote(len(facts))

    def drop(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(f"DROP TABLE IF EXISTS {self.table}")
            curs.execute(
                SQL("DELETE FROM {0}.{1} WHERE application_name = %s").format(
                    Identifier(self.datastore.schema), Identifier(self.tracking_table_name)
                ),
                (TRACKING_NAME,),
            )
            for statement in self._table_statements():
                curs.execute(statement)

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        schema = self.datastore.schema
        with self.datastore.transaction(commit=True) as curs:
            for name in INDEX_NAMES:
                curs.execute(f"DROP INDEX IF EXISTS {schema}.{name}")
        self._bulk = True
        try:
            yield
        finally:  # (if interrupted, opening the ledger creates them again: IF NOT EXISTS)
            self._bulk = False
            with self.datastore.transaction(commit=True) as curs:
                for statement in self._table_statements()[1:]:
                    curs.execute(statement)
            # Statistics for the new rows now, not whenever autovacuum comes by: without them the
            # planner takes a read of a few hundred streams for a scan of the whole table.
            with self.datastore.get_connection() as conn:
                conn.execute(f"ANALYZE {self.table}")


__all__ = ["POPOFactIndex", "PostgresFactIndex", "SQLiteFactIndex"]
