"""Scale-out: two `ledger serve` processes on one PostgreSQL schema behave as one ledger.

- A command written through one server is seen through the other by a check with
  `min_position` (read-your-writes across processes).
- Every answer of one server states a position at or after the previous one's, while
  the other server writes (one notion of position per process).
- Redemptions of one code arriving through both servers at once: exactly five
  staff get a place (R9), the others are refused with 409 and record nothing.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.servers import Server, start_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SCHOOL, DISTRICT, PRINCIPAL = "S-1", "D-1", "P-PRIN"
STAFF = [f"P-S{n:02d}" for n in range(1, 13)]


@pytest.fixture
def two_servers(pg_schema_url: str, tmp_path: Path) -> Iterator[list[Server]]:
    servers: list[Server] = []
    try:
        for name in ("a", "b"):
            servers.append(start_server(pg_schema_url, tmp_path, name=name))
        yield servers
    finally:
        for server in servers:
            server.stop()


def post(http: httpx.Client, **command: Any) -> dict[str, Any]:
    response = http.post("/v1/commands", json=command)
    assert response.status_code == 201, response.text
    return dict(response.json())


def school_with_staff(registrar: httpx.Client) -> tuple[str, int]:
    """A school with a principal and twelve affiliated staff; 2025 released; its code issued. (code, position)"""
    commands: list[dict[str, Any]] = [
        {"type": "register_district", "district_id": DISTRICT, "name": "District", "effective_at": "2024-08-01"},
        {
            "type": "register_school",
            "school_id": SCHOOL,
            "name": "School",
            "district_id": DISTRICT,
            "effective_at": "2024-08-01",
        },
    ]
    for pid in (PRINCIPAL, *STAFF):
        commands += [
            {
                "type": "register_person",
                "person_id": pid,
                "name": pid,
                "email": f"{pid.lower()}@x.org",
                "effective_at": "2024-08-01",
            },
            {"type": "add_affiliation", "person_id": pid, "org_id": SCHOOL, "effective_at": "2024-08-01"},
            {"type": "accept_terms", "person_id": pid, "terms_version": "v1", "effective_at": "2024-08-01"},
        ]
    commands += [
        {
            "type": "designate_principal",
            "school_id": SCHOOL,
            "person_id": PRINCIPAL,
            "exam_year": 2025,
            "effective_at": "2024-09-01",
        },
        {"type": "release_scores", "exam_year": 2025, "released_on": "2025-07-07", "effective_at": "2025-07-07"},
        {"type": "issue_access_code", "school_id": SCHOOL, "exam_year": 2025, "effective_at": "2025-07-01"},
    ]
    response = registrar.post("/v1/commands/batch", json={"commands": commands})
    assert response.status_code == 201, response.text
    body = response.json()
    return body["results"][-1]["result"]["code"], body["position"]


def check_params(person_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "org_id": SCHOOL,
        "report": "student_datafile",
        "exam_year": 2025,
        "school_id": SCHOOL,
        "at": "2025-07-08",
        **extra,
    }


def test_a_command_written_through_one_server_is_seen_through_the_other_with_min_position(
    two_servers: list[Server],
) -> None:
    a, b = two_servers
    with a.client("registrar") as registrar, b.client("portal") as portal:
        code, _ = school_with_staff(registrar)
        for n in range(3):  # each write is read back at once through the other process
            redeemed = post(
                registrar,
                type="redeem_access_code",
                school_id=SCHOOL,
                exam_year=2025,
                person_id=STAFF[n],
                code=code,
                effective_at="2025-07-02",
            )
            answer = portal.get("/v1/check", params=check_params(STAFF[n], min_position=redeemed["position"]))
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["position"] >= redeemed["position"]
            assert body["allowed"] is True
            assert redeemed["events"][0]["event_id"] in body["evidence"]
        # B answered at the last position: its latest position cannot be earlier (nor later: nothing else was written).
        assert httpx.get(f"{b.url}/healthz").json()["position"] == redeemed["position"]


def test_the_positions_one_server_states_never_go_back_while_the_other_writes(two_servers: list[Server]) -> None:
    a, b = two_servers
    with a.client("registrar") as registrar:
        _, setup = school_with_staff(registrar)
    with b.client("portal") as portal:  # B answers at what it holds: first let it hold the staff
        assert portal.get("/v1/check", params=check_params(STAFF[0], min_position=setup)).status_code == 200
    written: list[int] = []
    done = threading.Event()

    def write() -> None:
        try:
            with a.client("registrar") as http:
                for n in range(40):
                    person = f"P-NEW{n:03d}"
                    body = post(http, type="register_person", person_id=person, name=person, email=f"{person}@x.org")
                    written.append(body["position"])
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    stated: list[tuple[str, int]] = []  # (what answered, the position it stated), in the order B answered
    with b.client("portal") as portal:
        while not done.is_set() or len(stated) < 30:
            check = portal.get("/v1/check", params=check_params(STAFF[0])).json()
            stated.append(("check", check["position"]))
            health = portal.get("/healthz").json()
            stated.append(("healthz", health["position"]))
            stated.append(("healthz projected", health["projected_position"]))
            if written:
                wanted = written[-1]
                waited = portal.get("/v1/check", params=check_params(STAFF[0], min_position=wanted)).json()
                assert waited["position"] >= wanted
                stated.append(("check min_position", waited["position"]))
            stated.append(("healthz", portal.get("/healthz").json()["position"]))
    writer.join(timeout=60)
    assert len(written) == 40
    reads = [p for what, p in stated if what != "healthz"]
    latest = [p for what, p in stated if what == "healthz"]
    assert reads == sorted(reads), stated
    assert latest == sorted(latest), stated
    # Each "latest position" is at or after every position answered before it.
    answered = 0
    for what, position in stated:
        if what == "healthz":
            assert position >= answered, stated
        else:
            answered = max(answered, position)


def test_the_five_staff_limit_holds_when_redemptions_arrive_through_both_servers(two_servers: list[Server]) -> None:
    a, b = two_servers
    with a.client("registrar") as registrar:
        code, position = school_with_staff(registrar)

    barrier = threading.Barrier(len(STAFF))
    results: dict[str, httpx.Response] = {}

    def redeem(server: Server, person_id: str) -> None:
        with server.client("registrar") as http:
            command = {
                "type": "redeem_access_code",
                "school_id": SCHOOL,
                "exam_year": 2025,
                "person_id": person_id,
                "code": code,
                "effective_at": "2025-07-02",
            }
            barrier.wait(timeout=30)
            results[person_id] = http.post("/v1/commands", json=command)

    threads = [threading.Thread(target=redeem, args=(two_servers[n % 2], pid)) for n, pid in enumerate(STAFF)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    statuses = Counter(r.status_code for r in results.values())
    assert statuses == {201: 5, 409: 7}, {p: (r.status_code, r.text) for p, r in results.items()}
    for r in results.values():
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "five_staff_limit"
            assert r.json()["error"]["rule"] == "R9"
    winners = sorted(p for p, r in results.items() if r.status_code == 201)

    # Both servers agree: five redemptions appended, only the attempt of each refused one (its code was
    # judged right: R10 records it), five places used.
    last = position + len(STAFF)
    for server in (a, b):
        with server.client("auditor") as auditor:
            windows = auditor.get(f"/v1/orgs/{SCHOOL}/windows", params={"at": "2025-07-08", "min_position": last})
            (code_state,) = windows.json()["codes"]
            assert code_state["staff_places_used"] == 5
            assert code_state["staff_places_free"] == 0
            assert sorted(code_state["staff"]) == winners
            feed = auditor.get("/v1/events", params={"after": position, "limit": 100}).json()["events"]
            assert Counter(e["type"] for e in feed) == {"AccessCodeRedeemed": 5, "AccessCodeRedemptionFailed": 7}
            refused = sorted(e["data"]["person_id"] for e in feed if e["type"] == "AccessCodeRedemptionFailed")
            assert refused == sorted(set(STAFF) - set(winners))
            assert auditor.get("/v1/verify").json()["ok"] is True
