"""A server started on a ledger that has history warms its query cache in the background.

`/healthz` answers at once and checks are answered while warming runs; `/readyz` stays 200
and reports how far warming has got, then that it is done; LEDGER_WARM_CACHE=false turns it off.
(A restarted server needs a store that outlives its process: SQLite and PostgreSQL.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import create_app, default_system
from api.settings import Settings
from ledger.calendar import LedgerCalendar
from projections.system import LedgerSystem
from tests.api.conftest import TEACHER, S, auth, settings_for, world_commands

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

CHECK = {
    "person_id": TEACHER,
    "org_id": S,
    "school_id": S,
    "report": "subject_score_roster",
    "exam_year": 2025,
    "subject": "AP-BIO",
    "section_id": "BIO-1",
    "at": "2025-07-08",
}


@pytest.fixture(params=STORES)
def ledger_with_history(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A store holding the small world, written by a server that has since stopped."""
    url = f"sqlite:///{tmp_path}/ledger.db" if request.param == "sqlite" else request.getfixturevalue("pg_schema_url")
    with TestClient(create_app(settings_for(url, warm_cache=False), announce=lambda _: None)) as http:
        response = http.post("/v1/commands/batch", json={"commands": world_commands()}, headers=auth("registrar"))
        assert response.status_code == 201, response.text
        # Projected before it stops, so the restarted server's index already lists every stream.
        deadline = time.monotonic() + 20
        while http.get("/readyz").json()["lag"] != 0 and time.monotonic() < deadline:
            time.sleep(0.02)
    return str(url)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Holds warming's first batch until set (set at the end in any case)."""
    event = threading.Event()
    yield event
    event.set()


def start_held(url: str, gate: threading.Event) -> TestClient:
    """A server on `url` whose warming waits for `gate` before loading anything."""

    def system_factory(settings: Settings, calendar: LedgerCalendar) -> LedgerSystem:
        system = default_system(settings, calendar)
        warm = system.source.hold_warmed

        def held(fresh: Any, gap: Any) -> tuple[int, bool]:
            assert gate.wait(10), "the test never released warming"
            return warm(fresh, gap)

        system.source.hold_warmed = held  # type: ignore[method-assign]
        return system

    return TestClient(create_app(settings_for(url), system_factory=system_factory, announce=lambda _: None))


def warming_of(http: TestClient) -> dict[str, Any]:
    response = http.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["ready"] is True
    return dict(response.json()["warming"])


def test_a_restarted_server_is_live_ready_and_answers_checks_while_it_warms(
    ledger_with_history: str, gate: threading.Event
) -> None:
    with start_held(ledger_with_history, gate) as http:
        assert http.get("/healthz").status_code == 200
        warming = warming_of(http)
        assert warming["done"] is False, warming
        assert warming["loaded"] == 0
        check = http.get("/v1/check", params=CHECK, headers=auth("portal"))
        assert check.status_code == 200, check.text
        assert check.json()["allowed"] is True, check.json()

        gate.set()
        deadline = time.monotonic() + 20
        while not (warming := warming_of(http))["done"] and time.monotonic() < deadline:
            time.sleep(0.05)

        # Every stream of the small world: the calendar, the district, two schools and ten people.
        assert warming == {"done": True, "loaded": 14, "of": 14, "full": False, "error": None}
        again = http.get("/v1/check", params=CHECK, headers=auth("portal"))
        assert again.json() == {**check.json(), "position": again.json()["position"]}


def test_a_server_with_warming_turned_off_reports_no_warming(ledger_with_history: str) -> None:
    with TestClient(create_app(settings_for(ledger_with_history, warm_cache=False), announce=lambda _: None)) as http:
        response = http.get("/readyz")
        assert response.status_code == 200
        assert response.json()["warming"] is None
