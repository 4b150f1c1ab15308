"""Console sessions across processes: two applications built from one configuration, as two workers are.

A session started on one is accepted by the other (the cookie is signed with a secret both
derive from the configuration); a forged, re-signed, expired or orphaned cookie is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import URLSafeSerializer
from pydantic import SecretStr

from api.bootstrap import create_app
from api.console.sessions import utc_now
from api.settings import Settings

KEYS = "support:support:sessions-support-secret-0123456789abcdefghijklmn,auditor:auditor:sessions-auditor-secret-0123456789abcdefghijklmn"
COOKIE = "ledger_console"


def settings_for(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "api_keys": SecretStr(KEYS),
        "code_hash_time_cost": 1,
        "code_hash_memory_kib": 64,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


def running(settings: Settings) -> Iterator[tuple[FastAPI, TestClient]]:
    app = create_app(settings, announce=lambda _: None)
    with TestClient(app) as client:
        yield app, client


@pytest.fixture
def first(url: str) -> Iterator[tuple[FastAPI, TestClient]]:
    yield from running(settings_for(url))


@pytest.fixture
def second(url: str) -> Iterator[tuple[FastAPI, TestClient]]:
    yield from running(settings_for(url))


def sign_in(http: TestClient, secret: str) -> str:
    """Sign in through the form (with an empty cookie jar); the session cookie's value."""
    http.cookies.clear()
    page = http.get("/console/sign-in")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token
    done = http.post("/console/sign-in", data={"api_key": secret, "form_token": token.group(1)}, follow_redirects=False)
    assert done.status_code == 303, done.text
    value: str | None = http.cookies.get(COOKIE)
    assert value
    return value


def home_status(http: TestClient, cookie: str) -> int:
    http.cookies.clear()
    http.cookies.set(COOKIE, cookie, path="/console")
    status: int = http.get("/console/", follow_redirects=False).status_code
    return status


def test_a_session_started_on_one_process_is_accepted_by_another(
    first: tuple[FastAPI, TestClient], second: tuple[FastAPI, TestClient]
) -> None:
    cookie = sign_in(first[1], "sessions-support-secret-0123456789abcdefghijklmn")
    assert "sessions-support-secret-0123456789abcdefghijklmn" not in cookie
    second_client = second[1]
    second_client.cookies.set(COOKIE, cookie, path="/console")
    page = second_client.get("/console/")
    assert page.status_code == 200
    assert "Signed in as support (support)" in re.sub(r"<[^>]+>", "", page.text)


def test_a_form_of_one_process_is_accepted_by_another(
    first: tuple[FastAPI, TestClient], second: tuple[FastAPI, TestClient]
) -> None:
    """The CSRF token is bound to the session, not to the process that rendered the form."""
    cookie = sign_in(first[1], "sessions-auditor-secret-0123456789abcdefghijklmn")
    page = first[1].get("/console/integrity")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    second_client = second[1]
    second_client.cookies.set(COOKIE, cookie, path="/console")
    signed_out = second_client.post("/console/sign-out", data={"csrf_token": token.group(1)}, follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/console/sign-in"


def test_a_tampered_cookie_is_refused(first: tuple[FastAPI, TestClient]) -> None:
    cookie = sign_in(first[1], "sessions-support-secret-0123456789abcdefghijklmn")
    payload, signature = cookie.rsplit(".", 1)
    claims = {"sid": "x", "cid": "auditor", "role": "auditor", "exp": 4102444800}
    unsigned = URLSafeSerializer("guessed", salt="ledger-console-session").dumps(claims).rsplit(".", 1)[0]
    assert home_status(first[1], unsigned + "." + signature) == 303
    other_char = "A" if payload[-1] != "A" else "B"
    assert home_status(first[1], payload[:-1] + other_char + "." + signature) == 303
    assert home_status(first[1], cookie) == 200


def test_a_cookie_signed_under_another_configuration_is_refused(url: str, first: tuple[FastAPI, TestClient]) -> None:
    cookie = sign_in(first[1], "sessions-support-secret-0123456789abcdefghijklmn")
    for other in running(settings_for(url, console_secret=SecretStr("another-deployment-secret"))):
        assert home_status(other[1], cookie) == 303


def test_a_session_ends_everywhere_when_its_key_is_removed(url: str) -> None:
    shared = SecretStr("one-deployment-secret")
    for _, signer in running(settings_for(url, console_secret=shared)):
        support = sign_in(signer, "sessions-support-secret-0123456789abcdefghijklmn")
        auditor = sign_in(signer, "sessions-auditor-secret-0123456789abcdefghijklmn")
    fewer = SecretStr("support:support:sessions-support-secret-0123456789abcdefghijklmn")  # the auditor key is gone
    for _, client in running(settings_for(url, console_secret=shared, api_keys=fewer)):
        assert home_status(client, support) == 200
        assert home_status(client, auditor) == 303


def test_a_session_expires_after_the_configured_minutes_on_every_process(
    first: tuple[FastAPI, TestClient], second: tuple[FastAPI, TestClient]
) -> None:
    cookie = sign_in(first[1], "sessions-support-secret-0123456789abcdefghijklmn")
    assert home_status(second[1], cookie) == 200
    sessions = second[0].state.console.sessions
    sessions.clock = lambda: utc_now() + timedelta(minutes=61)
    assert home_status(second[1], cookie) == 303
