"""Crash safety: SIGKILL the server in the middle of a stream of commands, restart it, lose nothing.

Several client threads send commands to a real `ledger serve` process, each with an
idempotency key. Once enough have been answered, the server is killed with SIGKILL
(no shutdown, no flush: whatever was mid-transaction is cut off). After a restart
on the same database:

- every command that was answered `201` is in the log exactly once, with the events
  and positions it was answered with (found by idempotency key in the feed);
- no command appears twice; the clients then retry every command of their stream
  with the same keys: the answered ones are replayed unchanged, the unanswered ones
  land — each exactly once;
- the integrity chain is intact;
- the restarted server's projections answer a set of probes exactly as the reference
  evaluator does (a plain fold over the raw log, computed in this process by opening
  the same database).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api import present, present_access
from api.models import WindowsResult
from bootstrap import open_ledger
from ledger.access.vocabulary import Level, Report
from projections.queries import Queries
from projections.source import ReferenceSource
from storage.service import utc_now
from tests.conftest import CALENDAR, FAST_HASHER
from tests.e2e.servers import Server, start_server

pytestmark = pytest.mark.slow

THREADS = 4
PEOPLE_PER_THREAD = 25
PAST = "2024-08-01"
AT = "2025-08-01"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return str(request.getfixturevalue("pg_schema_url"))


def world() -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "world-district",
            {"type": "register_district", "district_id": "D1", "name": "District", "effective_at": PAST},
        ),
        (
            "world-school",
            {"type": "register_school", "school_id": "S1", "name": "School", "district_id": "D1", "effective_at": PAST},
        ),
        (
            "world-release",
            {"type": "release_scores", "exam_year": 2025, "released_on": "2025-07-01", "effective_at": "2025-07-01"},
        ),
    ]


def stream(thread: int) -> list[tuple[str, dict[str, Any]]]:
    """One client's commands: five per teacher, each depending on the ones before it."""
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(PEOPLE_PER_THREAD):
        pid = f"T{thread}-{i}"
        for kind, body in (
            ("register", {"type": "register_person", "name": f"Teacher {pid}", "email": f"{pid.lower()}@x.org"}),
            ("affiliate", {"type": "add_affiliation", "org_id": "S1"}),
            ("terms", {"type": "accept_terms", "terms_version": "v1"}),
            ("authorize", {"type": "authorize_course", "school_id": "S1", "subject": "AP-BIO", "school_year": 2025}),
            (
                "section",
                {
                    "type": "assign_section",
                    "school_id": "S1",
                    "subject": "AP-BIO",
                    "section_id": f"SEC-{pid}",
                    "school_year": 2025,
                },
            ),
        ):
            key = f"crash-{pid}-{kind}"
            out.append((key, {**body, "person_id": pid, "effective_at": PAST, "idempotency_key": key}))
    return out


def same_answer(replay: dict[str, Any], first: dict[str, Any]) -> bool:
    """A replay answers the first result; its receipt keeps the first leaves under a head as new or newer."""
    replay_receipt, first_receipt = replay.get("receipt", {}), first.get("receipt", {})
    return (
        {k: v for k, v in replay.items() if k != "receipt"} == {k: v for k, v in first.items() if k != "receipt"}
        and replay_receipt.get("leaves") == first_receipt.get("leaves")
        and replay_receipt["head"]["tree_size"] >= first_receipt["head"]["tree_size"]
    )


@dataclass
class Client:
    """One client thread's record: what it was answered, and anything unexpected."""

    commands: list[tuple[str, dict[str, Any]]]
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    cut_off: str | None = None  # the key in flight when the server died

    def run(self, server: Server, *, retry: bool = False) -> None:
        with server.client("registrar", timeout=30) as http:
            for key, body in self.commands:
                for attempt in range(20):
                    try:
                        response = http.post("/v1/commands", json=body)
                    except httpx.TransportError:
                        self.cut_off = key
                        return
                    if response.status_code == 503 and attempt < 19:  # busy store: a client retries
                        time.sleep(0.1)
                        continue
                    break
                if response.status_code != 201:
                    self.unexpected.append(f"{key}: {response.status_code} {response.text}")
                    return
                if retry and key in self.answered and not same_answer(response.json(), self.answered[key]):
                    self.unexpected.append(f"{key}: replay differs from the first answer")
                self.answered.setdefault(key, response.json())


def full_feed(server: Server) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with server.client("auditor") as http:
        after = 0
        while True:
            page = http.get("/v1/events", params={"after": after, "limit": 1000}).json()
            if not page["events"]:
                return events
            events += page["events"]
            after = page["next_after"]


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Every server a test starts is stopped (or already dead) at the end."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def test_a_killed_server_loses_no_answered_command_and_duplicates_none(
    database_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    server = start_server(database_url, tmp_path, name="first")
    servers.append(server)
    with server.client("registrar") as http:
        for key, body in world():
            assert http.post("/v1/commands", json={**body, "idempotency_key": key}).status_code == 201
    clients = [Client(stream(t)) for t in range(THREADS)]
    threads = [threading.Thread(target=c.run, args=(server,)) for c in clients]
    for t in threads:
        t.start()

    kill_after = random.randint(60, 160)
    deadline = time.monotonic() + 120
    while sum(len(c.answered) for c in clients) < kill_after and time.monotonic() < deadline:
        time.sleep(0.01)
    server.process.kill()  # SIGKILL: no graceful shutdown
    server.process.wait(10)
    for t in threads:
        t.join(60)
    answered_before_crash = {k: v for c in clients for k, v in c.answered.items()}
    assert [u for c in clients for u in c.unexpected] == []
    assert len(answered_before_crash) >= kill_after
    assert len(answered_before_crash) < THREADS * PEOPLE_PER_THREAD * 5, "the server was killed after the stream"

    restarted = start_server(database_url, tmp_path, name="restarted")
    servers.append(restarted)
    after_crash = full_feed(restarted)
    by_key = Counter(e["idempotency_key"] for e in after_crash)

    # Every answered command is there once, exactly as answered; nothing is there twice.
    for key, answer in answered_before_crash.items():
        found = [e for e in after_crash if e["idempotency_key"] == key]
        assert [(e["event_id"], e["position"]) for e in found] == [
            (e["event_id"], e["position"]) for e in answer["events"]
        ], key
    assert [key for key, n in by_key.items() if n > 1] == []
    # At most the commands in flight at the kill committed without being answered.
    in_flight = set(by_key) - set(answered_before_crash) - {k for k, _ in world()}
    assert in_flight <= {c.cut_off for c in clients}

    # The clients retry their whole stream with the same keys.
    retry_threads = [threading.Thread(target=c.run, args=(restarted,), kwargs={"retry": True}) for c in clients]
    for t in retry_threads:
        t.start()
    for t in retry_threads:
        t.join(300)
    assert [u for c in clients for u in c.unexpected] == []
    final = full_feed(restarted)
    keys = Counter(e["idempotency_key"] for e in final)
    expected = {k for k, _ in world()} | {k for c in clients for k, _ in c.commands}
    assert set(keys) == expected
    assert set(keys.values()) == {1}
    assert [e["position"] for e in final] == sorted(e["position"] for e in final)

    with restarted.client("auditor") as http:
        verified = http.get("/v1/verify", params={"full": "true"}).json()
    assert verified["ok"] is True
    assert verified["checked"] == len(final)

    compare_with_reference(restarted, database_url, final[-1]["position"])


def compare_with_reference(server: Server, database_url: str, last: int) -> None:
    """The server's projections and the reference evaluator (over the raw log) agree on every probe."""
    system = open_ledger(database_url, calendar=CALENDAR, hasher=FAST_HASHER, follow=False)
    try:
        reference = Queries(ReferenceSource(system.service.recorder, system.service.mapper), CALENDAR, utc_now)
        at = CALENDAR.parse_instant(AT)
        people = [f"T{t}-{i}" for t in range(THREADS) for i in range(0, PEOPLE_PER_THREAD, 6)]
        probes: list[tuple[str, dict[str, Any], Any]] = []
        for pid in people:
            probes.append(
                (
                    f"/v1/people/{pid}/rights",
                    {"at": AT},
                    present.rights_result(reference.rights(pid, at=at, as_of=last)),
                )
            )
            probes.append(
                (f"/v1/people/{pid}/timeline", {}, present.timeline_result(reference.timeline(pid, as_of=last)))
            )
            check = {
                "person_id": pid,
                "org_id": "S1",
                "report": Report.SUBJECT_SCORE_ROSTER.value,
                "exam_year": 2025,
                "school_id": "S1",
                "subject": "AP-BIO",
                "section_id": f"SEC-{pid}",
                "at": AT,
            }
            probes.append(
                (
                    "/v1/check",
                    check,
                    present.check_result(
                        reference.check(
                            person_id=pid,
                            org_id="S1",
                            report=Report.SUBJECT_SCORE_ROSTER,
                            exam_year=2025,
                            school_id="S1",
                            subject="AP-BIO",
                            section_id=f"SEC-{pid}",
                            at=at,
                            as_of=last,
                        )
                    ),
                )
            )
        window = reference.windows("S1", at=at, as_of=last)
        probes.append(
            (
                "/v1/orgs/S1/windows",
                {"at": AT},
                WindowsResult(
                    org_id="S1",
                    at=window.at.isoformat(),
                    position=window.position,
                    **window.body,
                ),
            )
        )
        start, end = CALENDAR.parse_instant("2025-07-01"), CALENDAR.parse_instant("2025-09-01")
        probes.append(
            (
                "/v1/orgs/S1/access",
                {"from": "2025-07-01", "to": "2025-09-01", "level": "student"},
                present_access.access_result(
                    reference.who_had_access("S1", start, end, Level.STUDENT, as_of=last), CALENDAR.zone
                ),
            )
        )
    finally:
        system.close()

    with server.client("auditor") as http:
        for path, params, expected in probes:
            response = http.get(path, params={**params, "as_of": last, "min_position": last})
            assert response.status_code == 200, (path, response.text)
            assert response.json() == expected.model_dump(mode="json", by_alias=True), path
    allowed = [p for p in probes if p[0] == "/v1/check" and p[2].allowed]
    assert allowed, "the probes should include teachers who were fully set up"
