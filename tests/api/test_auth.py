"""API keys and roles: 401 without or with a bad key, 403 for a role that may not call an endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from httpx import Response

from api.throttle import AuthThrottle
from tests.api.conftest import SECRETS, STAFF, Api, World, auth
from tests.api.test_commands import assert_error

ROLES = ("registrar", "portal", "support", "auditor")


def endpoints(person: str) -> dict[str, tuple[str, str, dict[str, Any], set[str]]]:
    """Every endpoint of §9 with a valid request and the roles that may call it."""
    period = {"from": "2025-07-01", "to": "2025-08-01"}
    check = {
        "person_id": person,
        "org_id": "S-1",
        "report": "student_datafile",
        "exam_year": 2025,
        "school_id": "S-1",
        "at": "2025-07-08",
    }
    return {
        "command": ("POST", "/v1/commands", {}, {"registrar"}),
        "batch": ("POST", "/v1/commands/batch", {}, {"registrar"}),
        "check": ("GET", "/v1/check", check, {"portal", "support", "auditor"}),
        "rights": ("GET", f"/v1/people/{person}/rights", {}, {"portal", "support", "auditor"}),
        "timeline": ("GET", f"/v1/people/{person}/timeline", {}, {"support", "auditor"}),
        "access": ("GET", "/v1/orgs/S-1/access", period, {"support", "auditor"}),
        "windows": ("GET", "/v1/orgs/S-1/windows", {}, {"portal", "support", "auditor"}),
        "events": ("GET", "/v1/events", {}, {"auditor"}),
        "verify": ("GET", "/v1/verify", {}, {"auditor"}),
    }


def call(api: Api, name: str, method: str, path: str, params: dict[str, Any], headers: dict[str, str]) -> Response:
    if method == "POST":
        command = {"type": "register_person", "person_id": f"P-NEW-{name}", "name": "New", "email": "new@x.org"}
        body = command if name == "command" else {"commands": [command]}
        response: Response = api.http.post(path, json=body, headers=headers)
    else:
        response = api.http.get(path, params={**params, "min_position": api.written}, headers=headers)
    return response


def test_each_role_may_call_exactly_its_endpoints_and_gets_403_elsewhere(api: Api, world: World) -> None:
    wrong: list[str] = []
    for name, (method, path, params, allowed) in endpoints(STAFF[0]).items():
        for role in ROLES:
            response = call(api, name, method, path, params, auth(role))
            expected = (201 if method == "POST" else 200) if role in allowed else 403
            if response.status_code != expected:
                wrong.append(f"{role} {method} {path}: {response.status_code}, expected {expected}")
            elif expected == 403:
                assert_error(response, 403, "forbidden")
    assert wrong == []


def test_a_refused_role_appends_nothing(api: Api, world: World) -> None:
    for role in ("portal", "support", "auditor"):
        response = api.http.post(
            "/v1/commands", headers=auth(role), json={"type": "register_district", "district_id": "D-9", "name": "Nine"}
        )
        assert_error(response, 403, "forbidden")
    assert api.position() == world.position


def test_every_endpoint_but_healthz_answers_401_without_a_key_or_with_a_bad_one(api: Api, world: World) -> None:
    bad_headers = [
        {},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": f"Basic {SECRETS['auditor']}"},  # right secret, wrong scheme
        {"Authorization": "Bearer "},
        {"Authorization": f"Bearer aud:auditor:{SECRETS['auditor']}"},  # the whole triple is not the secret
        {"Authorization": f"Bearer {SECRETS['auditor']}x"},
    ]
    # Hundreds of bad keys from one address: lift the throttle (tests/api/test_auth_throttle.py has its own tests).
    app = api.http.app
    assert isinstance(app, FastAPI)
    app.state.container.throttle = AuthThrottle(limit=10**6, window_seconds=60)
    wrong: list[str] = []
    for name, (method, path, params, _) in endpoints(STAFF[0]).items():
        for headers in bad_headers:
            response = call(api, name, method, path, params, headers)
            if response.status_code != 401:
                wrong.append(f"{method} {path} with {headers}: {response.status_code}")
            else:
                assert_error(response, 401, "unauthorized")
                assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert wrong == []
    assert api.position() == world.position
    assert api.http.get("/healthz").status_code == 200


def test_the_bearer_scheme_is_case_insensitive(api: Api, world: World) -> None:
    response = api.http.get("/v1/verify", headers={"Authorization": f"bearer {SECRETS['auditor']}"})
    assert response.status_code == 200


def test_without_configured_keys_one_key_per_role_is_generated_and_announced(make_client: Any) -> None:
    api = make_client(api_keys=None)
    (text,) = api.announced
    assert "LEDGER_API_KEYS" in text
    assert "generated" in text
    secrets: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split()
        if "Bearer" in words:
            secrets[words[0]] = words[-1]
    assert set(secrets) == set(ROLES)
    assert len(set(secrets.values())) == 4
    assert all(len(secret) >= 32 for secret in secrets.values())
    # The announced keys work, each with its role.
    registrar = {"Authorization": f"Bearer {secrets['registrar']}"}
    auditor = {"Authorization": f"Bearer {secrets['auditor']}"}
    command = {"type": "register_district", "district_id": "D-9", "name": "Nine"}
    assert api.http.post("/v1/commands", json=command, headers=registrar).status_code == 201
    assert api.http.get("/v1/verify", headers=auditor).status_code == 200
    assert api.http.get("/v1/verify", headers=registrar).status_code == 403
    # The fixed test keys are not among them.
    assert api.http.get("/v1/verify", headers=auth("auditor")).status_code == 401


def test_a_malformed_key_list_stops_the_start_naming_the_entry_but_not_its_secret(make_client: Any) -> None:
    for keys, words in (
        ("reg:root:top-secret-1", ("entry 1", "reg", "root")),
        ("portal:portal:ok-secret-0123456789abcdefghijklmnop,broken-top-secret-1", ("entry 2",)),
    ):
        with pytest.raises(ValueError, match="LEDGER_API_KEYS") as refused:
            make_client(api_keys=keys)
        message = str(refused.value)
        assert all(w in message for w in words), message
        assert "top-secret-1" not in message


@pytest.mark.parametrize("secret", ["twelve-chars", "x" * 31])
def test_a_key_shorter_than_32_characters_stops_the_start_naming_the_entry_but_not_its_secret(
    make_client: Any, secret: str
) -> None:
    keys = f"aud:auditor:{'a' * 40},portal:portal:{secret}"

    with pytest.raises(ValueError, match="LEDGER_API_KEYS") as refused:
        make_client(api_keys=keys)

    message = str(refused.value)
    assert "entry 2 (portal)" in message
    assert f"{len(secret)} characters" in message
    assert "at least 32" in message
    assert secret not in message


def test_a_key_of_32_characters_is_accepted(make_client: Any) -> None:
    api = make_client(api_keys=f"aud:auditor:{'k' * 32}")
    assert api.http.get("/v1/verify", headers={"Authorization": f"Bearer {'k' * 32}"}).status_code == 200


def test_the_configured_keys_never_appear_in_a_repr_of_the_settings() -> None:
    from api.settings import Settings

    settings = Settings(api_keys="portal:portal:top-secret-in-settings")
    assert "top-secret-in-settings" not in repr(settings)
    assert "top-secret-in-settings" not in str(settings.model_dump())
