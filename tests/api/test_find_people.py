"""GET /v1/people?query=… over HTTP: the same matching as the console's search box, for support and auditors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import demo_bearer as bearer


@pytest.fixture
def http(demo_app: FastAPI) -> TestClient:
    return TestClient(demo_app)


@pytest.mark.parametrize("role", ["support", "auditor"])
def test_support_and_auditors_find_people_by_name_email_or_id(http: TestClient, role: str) -> None:
    by_word = http.get("/v1/people", params={"query": "dubois"}, headers=bearer(role))
    assert by_word.status_code == 200, by_word.text
    assert by_word.json()["people"] == [
        {"person_id": "P-4002", "name": "Claire Dubois", "email": by_word.json()["people"][0]["email"]}
    ]
    email = by_word.json()["people"][0]["email"]
    by_email = http.get("/v1/people", params={"query": email[:5].upper()}, headers=bearer(role)).json()
    assert "P-4002" in [p["person_id"] for p in by_email["people"]]
    by_id = http.get("/v1/people", params={"query": "p-40", "limit": 1}, headers=bearer(role)).json()
    assert [p["person_id"] for p in by_id["people"]] == ["P-4001"]
    assert isinstance(by_id["position"], int)


def test_the_portal_may_not_search_people(http: TestClient) -> None:
    answer = http.get("/v1/people", params={"query": "p-"}, headers=bearer("portal"))
    assert answer.status_code == 403


@pytest.mark.parametrize("params", [{}, {"query": ""}, {"query": "p", "limit": "0"}, {"query": "p", "limit": "²"}])
def test_a_missing_query_or_a_bad_limit_is_a_422(http: TestClient, params: dict[str, Any]) -> None:
    answer = http.get("/v1/people", params=params, headers=bearer("support"))
    assert answer.status_code == 422


def test_a_search_reads_your_writes_like_every_read(http: TestClient) -> None:
    beyond = http.get("/v1/people", params={"query": "p-", "min_position": 10**9}, headers=bearer("support"))
    assert beyond.status_code == 422
    assert beyond.json()["error"]["field"] == "min_position"
    held = http.get("/v1/people", params={"query": "p-", "min_position": 1}, headers=bearer("support"))
    assert held.status_code == 200
