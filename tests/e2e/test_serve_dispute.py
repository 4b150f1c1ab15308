"""A dispute played over HTTP against a real `ledger serve` process (SQLite and PostgreSQL).

A counselor redeems her school's code on Jul 2, 2025; the principal removes her
with effect from Jul 5, but the ledger only learns it later. Support asks: what
did the ledger say about Jul 8 before the removal was recorded, and what do we
know now? The server stamps `recorded_at` with its real clock, so transaction
times are "now"; valid times are set in 2025.
"""

from __future__ import annotations

import signal
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger_client import LedgerClient, Positions
from tests.e2e.servers import KEYS, Server, serve

pytestmark = pytest.mark.slow

SCHOOL, DISTRICT, PRINCIPAL, COUNSELOR = "S-110", "D-100", "P-2001", "P-4002"
CHECK: dict[str, Any] = {
    "org_id": SCHOOL,
    "report": "student_datafile",
    "exam_year": 2025,
    "school_id": SCHOOL,
    "at": "2025-07-08",
}  # asked about COUNSELOR


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return str(request.getfixturevalue("pg_schema_url"))


def instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None
    return parsed


def setup_school(registrar: LedgerClient) -> str:
    """A district, a school, its principal and a counselor; 2025 released; the 2025 code issued. Returns the code."""
    commands: list[dict[str, Any]] = [
        {
            "type": "register_district",
            "district_id": DISTRICT,
            "name": "Lakeside Unified",
            "effective_at": "2022-08-01",
        },
        {
            "type": "register_school",
            "school_id": SCHOOL,
            "name": "Lakeside High",
            "district_id": DISTRICT,
            "effective_at": "2022-08-01",
        },
    ]
    for pid, name in ((PRINCIPAL, "Linda Park"), (COUNSELOR, "Claire Dubois")):
        commands += [
            {
                "type": "register_person",
                "person_id": pid,
                "name": name,
                "email": f"{pid.lower()}@lakeside.example.org",
                "effective_at": "2022-08-01",
            },
            {"type": "add_affiliation", "person_id": pid, "org_id": SCHOOL, "effective_at": "2022-08-15"},
            {"type": "accept_terms", "person_id": pid, "terms_version": "2022-08", "effective_at": "2022-09-01"},
        ]
    commands += [
        {
            "type": "designate_principal",
            "school_id": SCHOOL,
            "person_id": PRINCIPAL,
            "exam_year": 2025,
            "effective_at": "2024-10-01",
        },
        {"type": "release_scores", "exam_year": 2025, "released_on": "2025-07-07", "effective_at": "2025-07-07"},
    ]
    registrar.batch(commands)
    issued = registrar.command("issue_access_code", school_id=SCHOOL, exam_year=2025, effective_at="2025-07-01")
    return str(issued.result["code"])


def clients(server: Server, *roles: str) -> list[LedgerClient]:
    """ledger_client clients for `roles`, sharing the position written (each read sees every earlier write)."""
    positions = Positions()
    return [LedgerClient(server.url, server.keys[role], positions=positions) for role in roles]


def play_dispute(server: Server) -> None:
    registrar, support = clients(server, "registrar", "support")
    with registrar, support:
        code = setup_school(registrar)
        redeemed = registrar.command(
            "redeem_access_code",
            school_id=SCHOOL,
            exam_year=2025,
            person_id=COUNSELOR,
            code=code,
            effective_at="2025-07-02T09:30:00",
        )
        time.sleep(0.05)  # a gap in transaction time between what was known and the late news
        removed = registrar.command(
            "remove_access",
            person_id=COUNSELOR,
            org_id=SCHOOL,
            removed_by=PRINCIPAL,
            effective_at="2025-07-05",
            idempotency_key="removal-P-4002",
        )
        removal_id = removed.events[0].event_id
        learned_at = instant(removed.recorded_at)
        assert instant(removed.events[0].effective_at) < learned_at  # reported late
        before_news = instant(redeemed.recorded_at) + (learned_at - instant(redeemed.recorded_at)) / 2

        # What the ledger said, before it learned of the removal: allowed, as a school admin by code (R8).
        # (The client asks for the position of its last write, `min_position`, by itself.)
        said = support.check(COUNSELOR, **CHECK, as_of=before_news)
        assert said.allowed is True
        assert said.role == "school_admin"
        assert "R8" in said.rules
        assert said.position == redeemed.position
        assert redeemed.events[0].event_id in said.evidence

        # What we know now: the removal took effect on Jul 5 (R14).
        known = support.check(COUNSELOR, **CHECK)
        assert known.allowed is False
        assert known.rules == ["R14"]
        assert removal_id in known.evidence
        assert known.position >= removed.position

        # The same question as of a position: just before the removal, and at it.
        at_position = support.check(COUNSELOR, **CHECK, as_of=removed.position - 1)
        assert (at_position.allowed, at_position.position) == (True, removed.position - 1)

        # The timeline shows both: access to the code's expiry, known until the removal was recorded; and
        # access ending on Jul 5, known since.
        body = support.timeline(COUNSELOR)
        assert [e["type"] for e in body.events][-2:] == ["AccessCodeRedeemed", "AccessRemoved"]
        intervals = [i for i in body.intervals if i["org_id"] == SCHOOL]
        (superseded,) = [i for i in intervals if i["known_to"] is not None]
        (current,) = [i for i in intervals if i["known_to"] is None]
        assert instant(superseded["known_to"]) == learned_at == instant(current["known_from"])
        assert instant(superseded["known_from"]) == instant(redeemed.recorded_at)
        assert instant(superseded["valid_to"]) == instant("2026-08-01T00:00:00-04:00")
        assert instant(current["valid_to"]) == instant("2025-07-05T00:00:00-04:00")
        assert superseded["valid_from"] == current["valid_from"]

        # Re-sending the removal (a client retry) appends nothing.
        again = registrar.command(
            "remove_access",
            person_id=COUNSELOR,
            org_id=SCHOOL,
            removed_by=PRINCIPAL,
            effective_at="2025-07-05",
            idempotency_key="removal-P-4002",
        )
        assert again.replayed is True
        assert again.position == removed.position
        assert httpx.get(f"{server.url}/healthz").json()["position"] == removed.position

    with server.client("auditor") as http:
        assert http.get("/v1/verify").json()["ok"] is True
        assert code not in http.get("/v1/events", params={"limit": 1000}).text


def test_a_dispute_over_http_against_a_real_server(database_url: str, tmp_path: Path) -> None:
    with serve(database_url, tmp_path) as server:
        play_dispute(server)
    log = server.log()
    assert server.process.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in log
    # The server's own logs carry no key and no code.
    for secret in KEYS.values():
        assert secret not in log
    assert '"route":"/v1/check"' in log


def test_a_restarted_server_answers_from_the_same_ledger(database_url: str, tmp_path: Path) -> None:
    with serve(database_url, tmp_path, name="first") as first, LedgerClient(first.url, KEYS["registrar"]) as registrar:
        code = setup_school(registrar)
        written = registrar.command(
            "redeem_access_code",
            school_id=SCHOOL,
            exam_year=2025,
            person_id=COUNSELOR,
            code=code,
            effective_at="2025-07-02",
        )
    with serve(database_url, tmp_path, name="second") as second, LedgerClient(second.url, KEYS["portal"]) as portal:
        assert httpx.get(f"{second.url}/healthz").json()["position"] == written.position
        answer = portal.check(COUNSELOR, **CHECK, min_position=written.position)
        assert answer.allowed is True
        assert answer.position == written.position
        recorded = instant(written.recorded_at)
        earlier = portal.check(
            COUNSELOR, **CHECK, as_of=recorded - timedelta(microseconds=1), min_position=written.position
        )
        assert earlier.allowed is False
