"""Operations: /openapi.json, /metrics in Prometheus text, logs without secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from api.bootstrap import create_app
from ledger.commands import parse_command
from tests.api.conftest import SECRETS, STAFF, Api, World, redeem, settings_for, world_commands

# Every command of the contract (docs/rules.md, "Commands and events").
CONTRACT_COMMANDS = {
    "register_district",
    "register_school",
    "register_person",
    "update_profile",
    "add_affiliation",
    "end_affiliation",
    "accept_terms",
    "designate_principal",
    "designate_superintendent",
    "release_scores",
    "authorize_course",
    "withdraw_course_authorization",
    "assign_section",
    "grant_system_access",
    "remove_system_access",
    "issue_access_code",
    "revoke_access_code",
    "redeem_access_code",
    "add_district_user",
    "remove_district_user",
    "restrict_student_data",
    "lift_student_data_restriction",
    "remove_access",
    "void_event",
}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    """The served /openapi.json (the same on every store, so read once from a memory ledger)."""
    with TestClient(create_app(settings_for("memory://"), announce=lambda _: None)) as http:
        response = http.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def resolve(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    node: dict[str, Any] = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_openapi_documents_every_command_of_spec_section_4_with_an_example(openapi: dict[str, Any]) -> None:
    body = openapi["paths"]["/v1/commands"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    mapping = body["discriminator"]["mapping"]
    assert body["discriminator"]["propertyName"] == "type"
    assert set(mapping) == CONTRACT_COMMANDS
    for name, ref in mapping.items():
        schema = resolve(openapi, ref)
        examples = schema.get("examples")
        assert examples, f"{name} has no example"
        for example in examples:
            assert example["type"] == name
            parse_command(example)  # every example is a valid command
        assert {"effective_at", "idempotency_key"} <= set(schema["properties"])


def test_openapi_documents_the_paths_and_query_parameters_of_section_9(openapi: dict[str, Any]) -> None:
    paths = openapi["paths"]
    expected = {
        ("post", "/v1/commands"): set(),
        ("post", "/v1/commands/batch"): set(),
        ("get", "/v1/check"): {
            "person_id",
            "org_id",
            "report",
            "exam_year",
            "school_id",
            "subject",
            "section_id",
            "at",
            "as_of",
            "min_position",
            "consistency",
        },
        ("get", "/v1/people/{person_id}/rights"): {"person_id", "at", "as_of", "consistency"},
        ("get", "/v1/people/{person_id}/timeline"): {"person_id"},
        ("get", "/v1/orgs/{org_id}/access"): {"org_id", "from", "to", "level", "as_of"},
        ("get", "/v1/orgs/{org_id}/windows"): {"org_id", "at", "as_of"},
        ("get", "/v1/events"): {"after", "limit"},
        ("get", "/v1/verify"): set(),
        ("get", "/healthz"): set(),
        ("get", "/readyz"): set(),
    }
    for (method, path), params in expected.items():
        assert method in paths.get(path, {}), f"{method.upper()} {path} is not documented"
        documented = {p["name"] for p in paths[path][method].get("parameters", [])}
        assert params <= documented, (path, params - documented)
    required = {p["name"] for p in paths["/v1/check"]["get"]["parameters"] if p.get("required")}
    assert required == {"person_id", "org_id", "report", "exam_year"}
    assert any(s.get("scheme", "").lower() == "bearer" for s in openapi["components"]["securitySchemes"].values())


def test_openapi_documents_the_201_of_commands_and_the_error_shape(openapi: dict[str, Any]) -> None:
    post = openapi["paths"]["/v1/commands"]["post"]["responses"]
    assert "201" in post
    accepted = resolve(openapi, post["201"]["content"]["application/json"]["schema"]["$ref"])
    assert {"position", "recorded_at", "events", "result"} <= set(accepted["properties"])
    assert "409" in post
    assert "422" in post
    assert "429" in post


def metric_samples(text: str) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def test_metrics_are_prometheus_text_with_request_counts_per_route_and_projection_lag(api: Api, world: World) -> None:
    for _ in range(3):
        assert (
            api.check(
                person_id=STAFF[0], org_id="S-1", report="student_datafile", exam_year=2025, school_id="S-1"
            ).status_code
            == 200
        )
    assert api.get("/v1/people/P-NOBODY/rights", "portal").status_code == 404

    response = api.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = metric_samples(response.text)

    requests = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in samples["ledger_http_requests_total"]
    }
    assert requests[("GET", "/v1/check", "200")] == 3
    assert requests[("POST", "/v1/commands/batch", "201")] == 1
    # Routes are templates, so a path parameter does not make a new series.
    assert requests[("GET", "/v1/people/{person_id}/rights", "404")] == 1
    assert not any("P-NOBODY" in route for _, route, _ in requests)
    latency = {s.labels["route"]: s.value for s in samples["ledger_http_request_seconds_count"]}
    assert latency["/v1/check"] == 3
    (lag,) = samples["ledger_projection_lag_positions"]
    assert lag.value == 0  # the reads above waited for the projection (min_position)


def test_metrics_show_a_lagging_projection(make_client: Any) -> None:
    api = make_client(project=False)
    api.batch(world_commands())
    samples = metric_samples(api.http.get("/metrics").text)
    (lag,) = samples["ledger_projection_lag_positions"]
    assert lag.value == len(world_commands())


def server_log_lines(captured: str) -> list[dict[str, Any]]:
    """The app's JSON log lines (the test client's own httpx lines left out)."""
    lines = []
    for line in captured.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("logger") != "httpx":
                lines.append(record)
    return lines


def test_logs_never_contain_the_authorization_header_the_api_secret_or_an_access_code(
    make_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    api = make_client()  # started inside the test, so its log handler writes to the captured stderr
    code = api.batch(world_commands()).json()["results"][-1]["result"]["code"]
    assert redeem(api, STAFF[0], code).status_code == 201
    assert redeem(api, STAFF[1], code.lower() + "-WRONG").status_code == 409
    assert redeem(api, STAFF[2], code + "X" * 64).status_code == 422  # malformed: too long
    assert api.http.get("/v1/verify", headers={"Authorization": "Bearer guessed-secret"}).status_code == 401
    api.check(person_id=STAFF[0], org_id="S-1", report="student_datafile", exam_year=2025, school_id="S-1")

    captured = capsys.readouterr()
    lines = server_log_lines(captured.err + captured.out)
    text = json.dumps(lines)
    assert any(r.get("route") == "/v1/commands" and r.get("status") == 201 for r in lines), "no request log seen"
    assert any(r.get("status") == 401 for r in lines)
    for secret in (*SECRETS.values(), "guessed-secret", code, code.lower(), "Bearer", "Authorization"):
        assert secret not in text, f"{secret!r} leaked into the logs"


def test_error_bodies_do_not_echo_a_malformed_code(api: Api, world: World) -> None:
    secret = world.code + "Z" * 64
    response = redeem(api, STAFF[0], secret)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "code"
    assert secret not in response.text
    assert world.code not in response.text
