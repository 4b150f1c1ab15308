"""POST /v1/commands?dry_run=true over HTTP: who may preview, the answer's shape, refusals, nothing recorded.

Against the demo history: P-4002 redeemed S-110's 2025 code on Jul 2, 2025 and was removed
with effect from Jul 5 (recorded Jul 20). Voiding that removal would give the access back
until the code expires.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import demo_bearer as bearer


@pytest.fixture
def http(demo_app: FastAPI) -> TestClient:
    return TestClient(demo_app)


def head(http: TestClient) -> int:
    position = http.get("/healthz").json()["position"]
    assert isinstance(position, int)
    return position


def the_removal(http: TestClient) -> dict[str, Any]:
    timeline = http.get("/v1/people/P-4002/timeline", headers=bearer("support")).json()
    return next(e for e in timeline["events"] if e["type"] == "AccessRemoved")


def test_support_previews_voiding_a_removal_and_sees_the_access_it_would_give_back(http):
    removal = the_removal(http)
    before = head(http)
    command = {"type": "void_event", "event_id": removal["event_id"], "reason": "wrong person", "idempotency_key": "k1"}
    answer = http.post("/v1/commands", params={"dry_run": "true"}, json=command, headers=bearer("support"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["dry_run"] is True
    assert body["position"] == before
    assert [(e["type"], e["position"], e["data"]["event_id"]) for e in body["events"]] == [
        ("EventVoided", before + 1, removal["event_id"])
    ]
    changes = [c for c in body["access_changes"] if c["person_id"] == "P-4002"]
    assert [(c["org_id"], c["role"], c["change"]) for c in changes] == [("S-110", "school_admin", "ends later")]
    assert changes[0]["before"]["valid_to"].startswith("2025-07-05")
    assert changes[0]["after"]["valid_to"].startswith("2026-08-01")
    # Nothing appended, the key not used: the registrar's real command still appends.
    assert head(http) == before
    real = http.post("/v1/commands", json=command, headers=bearer("registrar"))
    assert real.status_code == 201
    assert real.headers.get("Idempotent-Replayed") is None
    assert real.json()["position"] == before + 1


def test_a_refused_preview_answers_the_same_error_as_the_command(http):
    command = {"type": "remove_access", "person_id": "P-1001", "org_id": "S-110", "removed_by": "P-1002"}
    before = head(http)
    previewed = http.post("/v1/commands?dry_run=true", json=command, headers=bearer("registrar"))
    real = http.post("/v1/commands", json=command, headers=bearer("registrar"))
    assert previewed.status_code == real.status_code == 409
    assert previewed.json() == real.json()
    assert previewed.json()["error"]["rule"] == "R14"
    assert head(http) == before


@pytest.mark.parametrize(
    ("role", "dry_run", "status"), [("support", False, 403), ("portal", True, 403), ("auditor", True, 403)]
)
def test_support_may_only_preview_and_portal_and_auditor_may_not_command(http, role, dry_run, status):
    command = {"type": "register_person", "person_id": "P-NEW", "name": "New", "email": "new@x.org"}
    before = head(http)
    answer = http.post("/v1/commands", params={"dry_run": str(dry_run).lower()}, json=command, headers=bearer(role))
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == "forbidden"
    assert head(http) == before


def test_a_preview_of_issuing_a_code_never_shows_a_code(http):
    command = {"type": "issue_access_code", "school_id": "S-120", "exam_year": 2025}
    answer = http.post("/v1/commands?dry_run=true", json=command, headers=bearer("support"))
    assert answer.status_code == 200, answer.text
    assert "code" not in answer.json()["result"]
    assert [e["type"] for e in answer.json()["events"]][-1] == "AccessCodeIssued"
