"""Tamper evidence: an insider edits the database directly with SQL, and verification finds and locates it.

Each attack runs on SQLite and on PostgreSQL against the real tables (`ledger_events`,
its checkpoints table): change a row's stored event or its chain value, delete a row,
delete rows at the end (truncation), swap two rows' positions, insert a forged row —
and, hardest, do any of that *and* rewrite the chain values (and the database's own
checkpoints) from the tampered row on, so that the log is self-consistent again.
The first kinds are found by a full verify, at `first_bad_position`; the last only
against checkpoints an auditor exported and kept outside the database.

The verification modes themselves (incremental from the last checkpoint, full,
against exported checkpoints), the HTTP parameters and the CLI are checked here too.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson
import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.bootstrap import create_app
from api.cli import app as cli_app
from api.settings import Settings
from bootstrap import open_ledger
from projections.system import LedgerSystem
from storage.integrity import GENESIS, chain_hash, checkpoint_json, parse_checkpoints, verify
from storage.recorders import Checkpoint, Row
from tests.conftest import CALENDAR, FAST_HASHER, PG_URL, Clock, run

AUDITOR = "auditor-secret-tamper-0123456789abcdefgh"
API_KEYS = f"aud:auditor:{AUDITOR},reg:registrar:registrar-secret-tamper-0123456789abcdefgh"


# --- a ledger and an insider with SQL access to its tables ----------------------------------------


class Insider:
    """Direct SQL on the store's tables, bypassing the ledger: what a database administrator can do."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            self.kind = "sqlite"
            self.events, self.pos, self.checkpoint_table = "ledger_events", "rowid", "ledger_checkpoints"
            self.mark = "?"
        else:
            self.kind = "postgres"
            schema = parse_qs(urlparse(url).query)["schema"][0]
            self.events = f'"{schema}".ledger_events'
            self.pos = "notification_id"
            self.checkpoint_table = f'"{schema}".ledger_events_checkpoints'
            self.mark = "%s"

    def sql(self, statement: str, *params: Any) -> list[Any]:
        statement = statement.format(events=self.events, pos=self.pos, checkpoints=self.checkpoint_table)
        statement = statement.replace("?", self.mark)
        if self.kind == "sqlite":
            with sqlite3.connect(self.url[len("sqlite:///") :]) as conn:
                return conn.execute(statement, params).fetchall()
        with psycopg.connect(PG_URL, autocommit=True) as pg, pg.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def rows(self) -> list[Row]:
        found = self.sql(
            "SELECT {pos}, originator_id, originator_version, topic, state, event_id, chain FROM {events} ORDER BY {pos}"
        )
        return [Row(r[0], StoredEvent(r[1], r[2], r[3], bytes(r[4])), r[5], bytes(r[6])) for r in found]

    def row(self, position: int) -> Row:
        (found,) = [r for r in self.rows() if r.position == position]
        return found

    # -- attacks --

    def change_state(self, position: int, old: bytes, new: bytes) -> None:
        state = self.row(position).stored.state
        assert old in state
        self.sql("UPDATE {events} SET state = ? WHERE {pos} = ?", state.replace(old, new), position)

    def set_chain(self, position: int, chain: bytes) -> None:
        self.sql("UPDATE {events} SET chain = ? WHERE {pos} = ?", chain, position)

    def delete(self, *positions: int) -> None:
        for p in positions:
            self.sql("DELETE FROM {events} WHERE {pos} = ?", p)

    def move(self, old: int, new: int) -> None:
        self.sql("UPDATE {events} SET {pos} = ? WHERE {pos} = ?", new, old)

    def swap(self, a: int, b: int) -> None:
        self.move(a, -1)
        self.move(b, a)
        self.move(-1, b)

    def insert_after(self, position: int, forged: StoredEvent, event_id: str, chain: bytes) -> int:
        """Shift the rows after `position` up by one and put a forged row in the hole; its position."""
        self.sql("UPDATE {events} SET {pos} = -{pos} WHERE {pos} > ?", position)
        self.sql("UPDATE {events} SET {pos} = 1 - {pos} WHERE {pos} < 0")
        self.sql(
            "INSERT INTO {events} ({pos}, originator_id, originator_version, topic, state, event_id, chain) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            position + 1,
            forged.originator_id,
            forged.originator_version,
            forged.topic,
            forged.state,
            event_id,
            chain,
        )
        return position + 1

    def rewrite_chain(self, *, and_checkpoints: bool) -> None:
        """Recompute every row's chain value over the rows as they now are (covering the tracks)."""
        chain = GENESIS
        for r in self.rows():
            chain = chain_hash(chain, r.position, r.stored, r.event_id)
            if chain != r.chain:
                self.set_chain(r.position, chain)
        if and_checkpoints:
            by_position = {r.position: r.chain for r in self.rows()}
            for position, old in self.sql("SELECT position, chain FROM {checkpoints}"):
                if position not in by_position:
                    self.sql("DELETE FROM {checkpoints} WHERE position = ?", position)
                elif by_position[position] != bytes(old):
                    self.sql("UPDATE {checkpoints} SET chain = ? WHERE position = ?", by_position[position], position)

    def wipe_checkpoints(self) -> None:
        self.sql("DELETE FROM {checkpoints}")


SQL_STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=SQL_STORES)
def sql_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def sql_ledger(sql_url: str, clock: Clock) -> Iterator[LedgerSystem]:
    system = open_ledger(sql_url, calendar=CALENDAR, clock=clock, hasher=FAST_HASHER, follow=False)
    try:
        yield system
    finally:
        system.close()


@pytest.fixture
def insider(sql_url: str) -> Insider:
    return Insider(sql_url)


def populate(ledger: LedgerSystem, clock: Clock, people: int = 8, *, checkpoint_each: bool = False) -> list[Checkpoint]:
    """A district, a school and `people` persons named Person-N; with `checkpoint_each`, a verification
    after every command and the checkpoints it returned (what a diligent auditor exports)."""
    exported: list[Checkpoint] = []

    def step(**command: Any) -> None:
        clock.advance(minutes=1)
        run(ledger, **command)
        if checkpoint_each:
            report = verify(ledger.service.recorder)
            assert report.ok
            assert report.checkpoint is not None
            exported.append(report.checkpoint)

    step(type="register_district", district_id="D1", name="District", effective_at="2020-01-01")
    step(type="register_school", school_id="S1", name="School", district_id="D1", effective_at="2020-01-01")
    for n in range(1, people + 1):
        step(
            type="register_person",
            person_id=f"P{n}",
            name=f"Person-{n}",
            email=f"p{n}@x.org",
            effective_at="2020-01-01",
        )
    return exported


def recorder(ledger: LedgerSystem) -> Any:
    return ledger.service.recorder


def position_of_person(insider: Insider, n: int) -> int:
    (found,) = [r.position for r in insider.rows() if f'"Person-{n}"'.encode() in r.stored.state]
    return found


# --- verification modes (every store) ----------------------------------------------------------------


def test_an_untouched_log_verifies_and_records_a_checkpoint_at_its_end(ledger: LedgerSystem, clock: Clock) -> None:
    populate(ledger, clock)
    end = recorder(ledger).last_position()

    report = verify(recorder(ledger))

    assert (report.ok, report.checked, report.position, report.first_bad_position) == (True, end, end, None)
    assert report.checkpoint is not None
    assert report.checkpoint.position == end
    assert [c.position for c in recorder(ledger).checkpoints()] == [end]
    assert recorder(ledger).checkpoints()[0].chain == report.checkpoint.chain


def test_an_empty_log_verifies_without_a_checkpoint(ledger: LedgerSystem) -> None:
    report = verify(recorder(ledger))
    assert (report.ok, report.checked, report.position, report.checkpoint) == (True, 0, 0, None)
    assert recorder(ledger).checkpoints() == []


def test_verification_resumes_from_the_last_checkpoint_and_full_starts_from_genesis(
    ledger: LedgerSystem, clock: Clock
) -> None:
    populate(ledger, clock, people=4)
    first = verify(recorder(ledger))
    run(ledger, type="register_person", person_id="P-late", name="Late", email="late@x.org")
    run(ledger, type="accept_terms", person_id="P-late", terms_version="v1")

    again = verify(recorder(ledger))
    full = verify(recorder(ledger), full=True)

    assert (again.ok, again.full, again.from_position, again.checked) == (True, False, first.position, 2)
    assert (full.ok, full.full, full.from_position, full.checked) == (True, True, 0, first.position + 2)
    assert full.checkpoints_compared == 2  # both recorded checkpoints still hold
    assert [c.position for c in recorder(ledger).checkpoints()] == [first.position, first.position + 2]


def test_verifying_an_unchanged_log_again_keeps_the_existing_checkpoint(ledger: LedgerSystem, clock: Clock) -> None:
    populate(ledger, clock, people=2)
    first = verify(recorder(ledger))
    second = verify(recorder(ledger))
    assert (second.ok, second.checked, second.checkpoint) == (True, 0, first.checkpoint)
    assert len(recorder(ledger).checkpoints()) == 1


def test_an_exported_checkpoint_of_an_intact_log_is_proved_extended(ledger: LedgerSystem, clock: Clock) -> None:
    populate(ledger, clock, people=3)
    kept = verify(recorder(ledger)).checkpoint
    assert kept is not None
    run(ledger, type="register_person", person_id="P-next", name="Next", email="next@x.org")

    report = verify(recorder(ledger), external=parse_checkpoints(orjson.loads(orjson.dumps(checkpoint_json(kept)))))

    assert report.ok
    assert report.position == kept.position + 1
    assert report.checkpoints_compared == 2


def test_an_exported_checkpoint_with_a_wrong_chain_value_fails(ledger: LedgerSystem, clock: Clock) -> None:
    populate(ledger, clock, people=3)
    kept = verify(recorder(ledger)).checkpoint
    assert kept is not None
    forged = Checkpoint(kept.position, bytes(32), "")

    report = verify(recorder(ledger), external=[forged])

    assert not report.ok
    assert report.first_bad_position == 1
    assert f"checkpoint at position {kept.position}" in (report.problem or "")


def test_checkpoints_read_back_from_every_export_shape() -> None:
    cp = Checkpoint(7, bytes(range(32)), "2025-01-01T00:00:00+00:00")
    one = checkpoint_json(cp)
    for shape in (one, [one], {"checkpoints": [one]}, {"ok": True, "checkpoint": one}):
        assert parse_checkpoints(orjson.loads(orjson.dumps(shape))) == [cp]
    for bad in ({"position": 7, "chain": "zz"}, {"position": 0, "chain": one["chain"]}, {"chain": one["chain"]}, "x"):
        with pytest.raises(ValueError):
            parse_checkpoints(bad)


# --- attacks with SQL (SQLite and PostgreSQL) -----------------------------------------------------------


def test_an_intact_sql_store_verifies_fully(sql_ledger: LedgerSystem, clock: Clock, insider: Insider) -> None:
    populate(sql_ledger, clock)
    assert len(insider.rows()) == recorder(sql_ledger).last_position() == 10
    report = verify(recorder(sql_ledger), full=True)
    assert report.ok
    assert report.checked == 10


def test_changing_a_stored_event_is_found_at_its_position(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider
) -> None:
    populate(sql_ledger, clock)
    target = position_of_person(insider, 4)
    insider.change_state(target, b"Person-4", b"Mallory-4")

    report = verify(recorder(sql_ledger), full=True)

    assert not report.ok
    assert report.first_bad_position == target
    assert report.position == target - 1  # everything before it still holds


def test_changing_a_chain_value_is_found_at_its_position(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider
) -> None:
    populate(sql_ledger, clock)
    insider.set_chain(6, bytes(32))
    report = verify(recorder(sql_ledger), full=True)
    assert (report.ok, report.first_bad_position) == (False, 6)


def test_deleting_a_row_is_found_at_the_row_after_it(sql_ledger: LedgerSystem, clock: Clock, insider: Insider) -> None:
    populate(sql_ledger, clock)
    insider.delete(5)

    report = verify(recorder(sql_ledger), full=True)

    assert (report.ok, report.position, report.first_bad_position) == (False, 4, 6)
    assert "removed" in (report.problem or "")


def test_swapping_two_rows_positions_is_found_at_the_first_of_them(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider
) -> None:
    populate(sql_ledger, clock)
    insider.swap(3, 7)

    report = verify(recorder(sql_ledger), full=True)

    assert (report.ok, report.first_bad_position) == (False, 3)
    assert "reordered" in (report.problem or "")


def test_inserting_a_forged_row_is_found_at_its_position(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider
) -> None:
    populate(sql_ledger, clock)
    model = insider.row(4)  # a real row to imitate: same stream kind, a plausible body
    forged = StoredEvent("person:P-ghost", 1, model.stored.topic, model.stored.state.replace(b"Person-", b"Ghost-"))
    at = insider.insert_after(4, forged, str(uuid.uuid4()), insider.row(5).chain)

    report = verify(recorder(sql_ledger), full=True)

    assert (report.ok, report.first_bad_position) == (False, at)


def test_inserting_a_forged_row_with_its_own_correct_chain_value_is_found_at_the_row_it_displaced(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider
) -> None:
    populate(sql_ledger, clock)
    model = insider.row(4)
    forged = StoredEvent("person:P-ghost", 1, model.stored.topic, model.stored.state.replace(b"Person-", b"Ghost-"))
    event_id = str(uuid.uuid4())
    at = insider.insert_after(4, forged, event_id, chain_hash(model.chain, 5, forged, event_id))

    report = verify(recorder(sql_ledger), full=True)

    # The forged row links correctly to the one before; the real row after it no longer does.
    assert (report.ok, report.position, report.first_bad_position) == (False, at, at + 1)


def test_deleting_rows_at_the_end_is_reported_against_the_last_checkpoint(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider
) -> None:
    populate(sql_ledger, clock)
    assert verify(recorder(sql_ledger)).ok
    insider.delete(10, 9)

    by_default = verify(recorder(sql_ledger))
    full = verify(recorder(sql_ledger), full=True)

    for report in (by_default, full):
        assert (report.ok, report.position, report.first_bad_position) == (False, 8, 9)
        assert "removed from its end" in (report.problem or "")


def test_a_truncation_that_also_removed_the_recorded_checkpoints_fails_against_an_exported_one(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider
) -> None:
    populate(sql_ledger, clock)
    exported = verify(recorder(sql_ledger)).checkpoint
    assert exported is not None
    assert exported.position == 10
    insider.delete(10)
    insider.wipe_checkpoints()

    report = verify(recorder(sql_ledger), external=[exported])

    assert (report.ok, report.position, report.first_bad_position) == (False, 9, 10)
    assert "before the exported checkpoint at position 10" in (report.problem or "")


def test_a_rewritten_chain_is_caught_by_the_checkpoints_the_database_recorded(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider
) -> None:
    populate(sql_ledger, clock)
    assert verify(recorder(sql_ledger)).ok  # a checkpoint at 10
    target = position_of_person(insider, 6)
    insider.change_state(target, b"Person-6", b"Mallory-6")
    insider.rewrite_chain(and_checkpoints=False)

    by_default = verify(recorder(sql_ledger))  # the checkpoint's row changed: not trusted, so from genesis
    assert not by_default.ok
    assert by_default.first_bad_position == 1  # somewhere after genesis, up to the checkpoint at 10
    assert "recorded checkpoint at position 10" in (by_default.problem or "")


@pytest.mark.parametrize(
    "attack",
    ["change", "delete", "swap", "insert", "truncate"],
)
def test_an_attack_with_the_chain_and_checkpoints_rewritten_is_located_by_exported_checkpoints(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider, attack: str
) -> None:
    exported = populate(sql_ledger, clock, checkpoint_each=True)  # one exported checkpoint per position
    assert [c.position for c in exported] == list(range(1, 11))
    target = position_of_person(insider, 5)
    if attack == "change":
        insider.change_state(target, b"Person-5", b"Mallory-5")
    elif attack == "delete":
        insider.delete(target)
    elif attack == "swap":
        insider.swap(target, target + 2)
    elif attack == "insert":
        model = insider.row(target)
        insider.insert_after(
            target - 1,
            StoredEvent("person:P-ghost", 1, model.stored.topic, model.stored.state),
            str(uuid.uuid4()),
            bytes(32),
        )
    else:
        insider.delete(10, 9, 8, 7)
        target = 7
    insider.rewrite_chain(and_checkpoints=True)

    inside_only = verify(recorder(sql_ledger), full=True, record=False)
    against_exports = verify(recorder(sql_ledger), external=exported)

    assert inside_only.ok  # the database alone vouches for the rewritten log...
    assert not against_exports.ok  # ...the auditor's own checkpoints do not
    assert against_exports.first_bad_position == target
    assert against_exports.position == target - 1


# --- over HTTP and on the command line -------------------------------------------------------------------


@pytest.fixture
def http(sql_url: str, sql_ledger: LedgerSystem) -> Iterator[TestClient]:
    settings = Settings(database_url=sql_url, api_keys=API_KEYS, code_hash_time_cost=1, code_hash_memory_kib=64)
    with TestClient(create_app(settings, announce=lambda _: None)) as client:
        client.headers["Authorization"] = f"Bearer {AUDITOR}"
        yield client


def test_http_verify_changes_nothing_and_a_posted_checkpoint_is_exported_and_accepted_back(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider, http: TestClient
) -> None:
    populate(sql_ledger, clock)

    looked = http.get("/v1/verify").json()
    nothing = http.get("/v1/checkpoints").json()
    first = http.post("/v1/checkpoints")
    listed = http.get("/v1/checkpoints").json()
    changed = position_of_person(insider, 2)
    insider.change_state(changed, b"Person-2", b"Mallory-2")
    insider.rewrite_chain(and_checkpoints=True)
    full = http.get("/v1/verify", params={"full": "true"}).json()
    kept = listed["checkpoints"][-1]
    against = http.get(
        "/v1/verify", params={"checkpoint_position": kept["position"], "checkpoint_chain": kept["chain"]}
    ).json()

    assert looked["ok"] is True
    assert nothing == {"checkpoints": [], "next_after": 0}
    assert first.status_code == 201
    body = first.json()
    assert {k: body[k] for k in ("ok", "checked", "position", "first_bad_position")} == {
        "ok": True,
        "checked": 10,
        "position": 10,
        "first_bad_position": None,
    }
    assert body["head"]["tree_size"] == 10
    assert listed == {"checkpoints": [body["checkpoint"]], "next_after": 10}
    # The chain rewritten with the row: the Merkle tree still holds the event as first stored.
    assert full["ok"] is False
    assert full["first_bad_position"] == changed
    assert against["ok"] is False
    assert against["first_bad_position"] == 1
    assert against["position"] == 0


def test_http_verify_full_locates_a_changed_row(
    sql_ledger: LedgerSystem, clock: Clock, insider: Insider, http: TestClient
) -> None:
    populate(sql_ledger, clock)
    target = position_of_person(insider, 3)
    insider.change_state(target, b"Person-3", b"Mallory-3")
    body = http.get("/v1/verify", params={"full": "true"}).json()
    assert (body["ok"], body["position"], body["first_bad_position"]) == (False, target - 1, target)


def test_http_verify_refuses_unpaired_or_malformed_checkpoints(
    sql_ledger: LedgerSystem, clock: Clock, http: TestClient
) -> None:
    populate(sql_ledger, clock, people=1)
    unpaired = http.get("/v1/verify", params={"checkpoint_position": 2})
    malformed = http.get("/v1/verify", params={"checkpoint_position": 2, "checkpoint_chain": "not-hex"})
    for response in (unpaired, malformed):
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_input"


def test_http_checkpoints_are_for_auditors_only(sql_ledger: LedgerSystem, http: TestClient) -> None:
    response = http.get(
        "/v1/checkpoints", headers={"Authorization": "Bearer registrar-secret-tamper-0123456789abcdefgh"}
    )
    assert response.status_code == 403


def test_cli_exports_checkpoints_and_verifies_against_the_file(
    sql_url: str,
    sql_ledger: LedgerSystem,
    clock: Clock,
    insider: Insider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    populate(sql_ledger, clock)
    monkeypatch.setenv("LEDGER_DATABASE_URL", sql_url)
    cli = CliRunner()

    verified = cli.invoke(cli_app, ["verify"])
    exported = cli.invoke(cli_app, ["checkpoints"])
    kept = tmp_path / "checkpoints.json"
    kept.write_text(exported.stdout)
    insider.delete(10)
    insider.wipe_checkpoints()
    full = cli.invoke(cli_app, ["verify", "--full"])
    against = cli.invoke(cli_app, ["verify", "--checkpoint", str(kept), "--json"])

    assert verified.exit_code == 0
    assert "10 events verified" in verified.stdout
    assert [c["position"] for c in orjson.loads(exported.stdout)["checkpoints"]] == [10]
    # Nine intact rows and no chain checkpoint left, but the signed head recorded by the first verify
    # (and the Merkle tree) still hold the removed event.
    assert full.exit_code == 1
    assert "first bad position 10" in full.stderr
    assert against.exit_code == 1
    body = orjson.loads(against.stdout)
    assert (body["ok"], body["position"], body["first_bad_position"]) == (False, 9, 10)
