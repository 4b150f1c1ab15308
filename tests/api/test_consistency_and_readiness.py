"""`consistency=full` on every read, and `/readyz` (readiness) beside `/healthz` (liveness).

- `consistency=full` answers at the log's head as of the request, or 503 with
  Retry-After when the projections do not get there in time; any other value is 422
  naming `consistency`.
- `/readyz` answers 200 while the store answers and reads are close to the log, and
  503 naming the problem when reads lag more than LEDGER_READY_MAX_LAG positions.
  (The store being unreachable is shown on a cluster the test stops:
  `tests/e2e/test_readiness_store_down.py`.)
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import PRINCIPAL, SECRETS, Api, World, auth

READS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "/v1/check",
        "portal",
        {"person_id": PRINCIPAL, "org_id": "S-1", "report": "student_datafile", "exam_year": 2025, "school_id": "S-1"},
    ),
    (f"/v1/people/{PRINCIPAL}/rights", "portal", {}),
    (f"/v1/people/{PRINCIPAL}/timeline", "support", {}),
    ("/v1/orgs/S-1/access", "support", {"from": "2024-08-01", "to": "2025-08-01"}),
    ("/v1/orgs/S-1/windows", "portal", {}),
    ("/v1/people", "support", {"query": "p-prin"}),
    ("/v1/events", "auditor", {}),
    ("/v1/verify", "auditor", {}),
]


@pytest.mark.parametrize(("path", "role", "params"), READS, ids=[r[0] for r in READS])
def test_every_read_refuses_a_consistency_other_than_full_naming_it(
    api: Api, world: World, path: str, role: str, params: dict[str, Any]
) -> None:
    response = api.http.get(path, params={**params, "consistency": "eventual"}, headers=auth(role))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "consistency"


@pytest.mark.parametrize(("path", "role", "params"), READS, ids=[r[0] for r in READS])
def test_every_read_accepts_consistency_full(
    api: Api, world: World, path: str, role: str, params: dict[str, Any]
) -> None:
    response = api.http.get(path, params={**params, "consistency": "full"}, headers=auth(role))
    assert response.status_code == 200, response.text
    body = response.json()
    if "position" in body:
        assert body["position"] == world.position


def test_consistency_full_answers_at_the_log_head_written_just_before(api: Api, world: World) -> None:
    written = api.ok(type="register_person", person_id="P-NEW", name="New", email="new@x.org")
    response = api.http.get(
        "/v1/people/P-NEW/rights",
        params={"consistency": "full"},
        headers={"Authorization": f"Bearer {SECRETS['portal']}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["position"] == written["position"]


def test_consistency_full_is_503_with_retry_after_when_the_projections_do_not_get_there_in_time(
    make_client: Any,
) -> None:
    api = make_client(project=False, read_wait_seconds=0.2)
    api.ok(type="register_district", district_id="D-9", name="Nine")
    response = api.get("/v1/orgs/D-9/windows", "portal", min_position=None, consistency="full")
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"]
    assert response.json()["error"]["code"] == "projection_timeout"


def test_readyz_is_200_with_no_lag_once_the_projections_hold_the_log(api: Api, world: World) -> None:
    api.get("/v1/orgs/S-1/windows", "portal")  # waits for the world (min_position)
    response = api.http.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ready"] is True
    assert body["log_position"] == body["position"] == world.position
    assert body["lag"] == 0
    assert body["problems"] == []


def test_readyz_is_503_when_reads_lag_the_log_by_more_than_the_setting_while_healthz_stays_ok(make_client: Any) -> None:
    api = make_client(project=False, ready_max_lag=1)
    assert api.http.get("/readyz").status_code == 200
    for n in range(3):
        api.ok(type="register_district", district_id=f"D-{n}", name=f"District {n}")
    response = api.http.get("/readyz")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["ready"] is False
    assert body["lag"] == 3
    assert body["max_lag"] == 1
    assert any("behind" in p for p in body["problems"])
    health = api.http.get("/healthz")
    assert health.status_code == 200
    assert health.json()["position"] == 3
