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


def test_support_previews_voiding_a_removal_and_sees_the_access_it_would_give_back(http: TestClient) -> None:
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


def test_a_refused_preview_answers_the_same_error_as_the_command(http: TestClient) -> None:
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
def test_support_may_only_preview_and_portal_and_auditor_may_not_command(
    http: TestClient, role: str, dry_run: bool, status: int
) -> None:
    command = {"type": "register_person", "person_id": "P-NEW", "name": "New", "email": "new@x.org"}
    before = head(http)
    answer = http.post("/v1/commands", params={"dry_run": str(dry_run).lower()}, json=command, headers=bearer(role))
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == "forbidden"
    assert head(http) == before


def test_a_preview_of_issuing_a_code_never_shows_a_code(http: TestClient) -> None:
    command = {"type": "issue_access_code", "school_id": "S-120", "exam_year": 2025}
    answer = http.post("/v1/commands?dry_run=true", json=command, headers=bearer("support"))
    assert answer.status_code == 200, answer.text
    assert "code" not in answer.json()["result"]
    assert [e["type"] for e in answer.json()["events"]][-1] == "AccessCodeIssued"


# --- a batch ----------------------------------------------------------------------------------------

NEW_ADMIN = [
    {"type": "register_person", "person_id": "P-BATCH", "name": "Bo Tch", "email": "bo@x.org", "idempotency_key": "b1"},
    {"type": "accept_terms", "person_id": "P-BATCH", "terms_version": "v1", "idempotency_key": "b2"},
    {"type": "add_affiliation", "person_id": "P-BATCH", "org_id": "S-120", "idempotency_key": "b3"},
    {
        "type": "grant_system_access",
        "person_id": "P-BATCH",
        "org_id": "S-120",
        "system": "course_audit",
        "idempotency_key": "b4",
    },
]


def test_support_previews_a_batch_decided_together_and_its_keys_stay_free(http: TestClient) -> None:
    before = head(http)
    answer = http.post(
        "/v1/commands/batch", params={"dry_run": "true"}, json={"commands": NEW_ADMIN}, headers=bearer("support")
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["dry_run"] is True
    assert body["position"] == before
    # Each command is decided after the ones before it: the grant sees the person the batch registers.
    types = [e["type"] for e in body["events"]]
    assert types == ["PersonRegistered", "TermsAccepted", "AffiliationAdded", "SystemAccessGranted"]
    assert [e["position"] for e in body["events"]] == list(range(before + 1, before + 5))
    assert body["replayed"] == [False] * 4
    assert len(body["results"]) == 4
    changes = [(c["person_id"], c["org_id"], c["role"], c["change"]) for c in body["access_changes"]]
    assert changes == [("P-BATCH", "S-120", "school_admin", "starts")]
    assert head(http) == before
    assert http.get("/v1/people/P-BATCH/timeline", headers=bearer("support")).status_code == 404

    real = http.post("/v1/commands/batch", json={"commands": NEW_ADMIN}, headers=bearer("registrar"))
    assert real.status_code == 201, real.text
    assert real.json()["position"] == before + 4
    appended = [e["position"] for r in real.json()["results"] for e in r["events"]]
    assert appended == list(range(before + 1, before + 5))  # appended, not answered as replays


def test_a_refused_batch_preview_answers_the_same_error_as_the_batch_naming_the_command(http: TestClient) -> None:
    commands = [
        {"type": "register_person", "person_id": "P-BATCH2", "name": "Two", "email": "two@x.org"},
        {"type": "remove_access", "person_id": "P-1001", "org_id": "S-110", "removed_by": "P-1002"},
    ]
    before = head(http)
    previewed = http.post("/v1/commands/batch?dry_run=true", json={"commands": commands}, headers=bearer("support"))
    real = http.post("/v1/commands/batch", json={"commands": commands}, headers=bearer("registrar"))
    assert previewed.status_code == real.status_code == 409
    assert previewed.json() == real.json()
    assert previewed.json()["error"]["field"].startswith("commands[1]")
    assert head(http) == before


@pytest.mark.parametrize(
    "commands",
    [
        [{"type": "remove_access", "person_id": "P-1001", "org_id": "S-110", "removed_by": "P-1002"}],
        [
            {"type": "accept_terms", "person_id": "P-1001", "terms_version": "v9", "idempotency_key": "twice"},
            {"type": "accept_terms", "person_id": "P-1002", "terms_version": "v9", "idempotency_key": "twice"},
        ],
    ],
    ids=["a batch of one", "a key twice"],
)
def test_a_batch_preview_is_refused_exactly_as_the_batch(http: TestClient, commands: list[dict[str, Any]]) -> None:
    before = head(http)
    previewed = http.post("/v1/commands/batch?dry_run=true", json={"commands": commands}, headers=bearer("registrar"))
    real = http.post("/v1/commands/batch", json={"commands": commands}, headers=bearer("registrar"))
    assert previewed.status_code == real.status_code
    assert previewed.status_code in (409, 422)
    assert previewed.json() == real.json()
    assert head(http) == before


@pytest.mark.parametrize(
    ("role", "dry_run", "status"), [("support", False, 403), ("portal", True, 403), ("auditor", True, 403)]
)
def test_support_may_only_preview_a_batch_and_portal_and_auditor_may_not_send_one(
    http: TestClient, role: str, dry_run: bool, status: int
) -> None:
    commands = [{"type": "register_person", "person_id": "P-NEW2", "name": "New", "email": "new2@x.org"}]
    before = head(http)
    answer = http.post(
        "/v1/commands/batch",
        params={"dry_run": str(dry_run).lower()},
        json={"commands": commands},
        headers=bearer(role),
    )
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == "forbidden"
    assert head(http) == before
