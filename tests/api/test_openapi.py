"""The OpenAPI document tells portal developers the truth: the roles each operation admits (`x-roles`,
checked by calling it with every role's key), examples that fit the answers' models, and docs pages
that load nothing from outside the server."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from api.bootstrap import API_ROUTERS
from api.openapi import ANYONE, api_routes, operation_key
from tests.api.conftest import SECRETS, auth

ROLES = tuple(SECRETS)


@pytest.fixture
def store_url() -> str:
    return "memory://"  # the document and the gates do not depend on the store


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


def call(
    client: TestClient, method: str, path: str, headers: dict[str, str], params: dict[str, Any] | None = None
) -> int:
    """Call an operation with no other input: a gate answers 403 before the input is looked at."""
    url = re.sub(r"\{[^}]+\}", "X-1", path)
    query = {name: str(value).lower() for name, value in (params or {}).items()}
    response = client.request(method, url, headers=headers, params=query, json={} if method == "POST" else None)
    status: int = response.status_code
    return status


def test_every_v1_operation_lists_as_x_roles_exactly_the_roles_the_server_admits(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    v1 = [(m, p, op) for m, p, op in operations(schema) if p.startswith("/v1/")]
    assert len(v1) >= 10
    wrong = []
    for method, path, op in v1:
        if op.get("x-roles") == [ANYONE]:
            if call(client, method, path, {}) == 401:
                wrong.append(f"{method} {path}: documented open to anyone, but asks for a key")
            continue
        conditions = op.get("x-role-conditions", {})
        admitted = [role for role in ROLES if call(client, method, path, auth(role), conditions.get(role)) != 403]
        if op.get("x-roles") != admitted:
            wrong.append(f"{method} {path}: x-roles {op.get('x-roles')}, server admits {admitted}")
        if call(client, method, path, {}) != 401:
            wrong.append(f"{method} {path}: answers without a key, but x-roles are {op.get('x-roles')}")
    assert wrong == []


def test_support_may_post_commands_only_as_a_dry_run_and_the_document_says_so(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/v1/commands", "/v1/commands/batch"):
        op = schema["paths"][path]["post"]
        assert op["x-roles"] == ["registrar", "support"]
        assert op["x-role-conditions"] == {"support": {"dry_run": True}}
        first_line = op["description"].splitlines()[0]
        assert first_line == "**Roles:** registrar, support (support: dry_run=true only)."


def test_a_role_admitted_under_a_condition_is_refused_without_it(client: TestClient) -> None:
    conditioned = [
        (m, p, role, needs)
        for m, p, op in operations(client.get("/openapi.json").json())
        for role, needs in op.get("x-role-conditions", {}).items()
    ]
    assert conditioned
    for method, path, role, needs in conditioned:
        assert call(client, method, path, auth(role)) == 403, f"{method} {path} as {role} without {needs}"
        unmet = {name: not value for name, value in needs.items()}
        assert call(client, method, path, auth(role), unmet) == 403, f"{method} {path} as {role} with {unmet}"
        assert call(client, method, path, auth(role), needs) != 403, f"{method} {path} as {role} with {needs}"


def test_each_operation_names_its_roles_in_its_description(client: TestClient) -> None:
    for method, path, op in operations(client.get("/openapi.json").json()):
        roles = op["x-roles"]
        assert roles, f"{method} {path} has no x-roles"
        line = op["description"].splitlines()[0]
        assert line.startswith("**Roles:**"), f"{method} {path}: {line}"
        assert all(role in line for role in roles if role != ANYONE)


def test_operations_open_to_anyone_answer_without_a_key(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    open_ops = [(m, p) for m, p, op in operations(schema) if op["x-roles"] == [ANYONE]]
    assert ("GET", "/healthz") in open_ops
    for method, path in open_ops:
        if "{" not in path:
            assert call(client, method, path, {}) == 200, f"{method} {path}"


def _answer_example(op: dict[str, Any]) -> Any:
    for status, response in op["responses"].items():
        if status.startswith("2"):
            return response.get("content", {}).get("application/json", {}).get("example")
    return None


def test_every_v1_operation_shows_a_request_and_an_answer_example(client: TestClient) -> None:
    missing = []
    for method, path, op in operations(client.get("/openapi.json").json()):
        if not path.startswith("/v1/"):
            continue
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        request_example = body.get("examples") if body else [p for p in op.get("parameters", []) if "example" in p]
        if not request_example and op.get("parameters"):
            missing.append(f"{method} {path}: request")
        if _answer_example(op) is None:
            missing.append(f"{method} {path}: answer")
    assert missing == []


def test_every_answer_example_fits_the_model_the_operation_answers_with(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for route in api_routes(API_ROUTERS):
        assert route.methods is not None
        for method in route.methods:
            example = _answer_example(schema["paths"][route.path_format][method.lower()])
            if example is not None and route.response_model is not None:
                TypeAdapter(route.response_model).validate_python(example)
            elif example is not None:
                pytest.fail(f"{operation_key(method, route)} has an example but no response model")


def test_a_dry_run_answer_shows_a_preview_example_fitting_the_preview_model(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    checked = 0
    for route in api_routes(API_ROUTERS):
        for status, documented in (route.responses or {}).items():
            model = documented.get("model")
            if not str(status).startswith("2") or model is None:
                continue
            for method in route.methods or ():
                response = schema["paths"][route.path_format][method.lower()]["responses"][str(status)]
                example = response["content"]["application/json"]["example"]
                TypeAdapter(model).validate_python(example)
                assert example.get("dry_run") is True, f"{operation_key(method, route)} {status}"
                checked += 1
    assert checked == 2  # one command and a batch


def test_the_command_examples_are_commands_the_server_accepts_as_input(client: TestClient) -> None:
    body = client.get("/openapi.json").json()["paths"]["/v1/commands"]["post"]["requestBody"]
    examples = body["content"]["application/json"]["examples"]
    assert {"redeem", "register", "remove"} <= set(examples)
    for example in examples.values():
        # A well-formed command is judged by the rules (404 unknown school, 409 …), never refused as malformed.
        response = client.post("/v1/commands", json=example["value"], headers=auth("registrar"))
        assert response.status_code != 422, response.text


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href", "spec-url") and v]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_assets_served_by_the_server_itself(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    parser = _Links()
    parser.feed(response.text)
    scripted = re.findall(r"url:\s*'([^']+)'", response.text)  # Swagger UI's spec URL
    urls = parser.urls + scripted
    assert any(u.endswith(".js") for u in urls)
    assert "/openapi.json" in urls
    assert not re.search(r"https?://", response.text), "the page names another origin"
    for url in urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("", ""), url
        assert client.get(url).status_code == 200, url
