"""Failed authentications per client address: over LEDGER_AUTH_FAILURE_LIMIT within the window → 429.

Wrong API keys and refused console sign-ins count against the address they came from. Once
over the limit, that address gets 429 with Retry-After for every authentication — the right
key too, so guessing stops being answered — until its oldest failure leaves the window.
Other addresses are not affected. (The counts are per process: see api/throttle.py.)
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from api.bootstrap import create_app
from tests.api.conftest import SECRETS, auth, settings_for

LIMIT, WINDOW = 5, 1.0


@pytest.fixture
def app() -> Iterator[FastAPI]:
    application = create_app(
        settings_for("memory://", auth_failure_limit=LIMIT, auth_failure_window_seconds=WINDOW),
        announce=lambda _: None,
    )
    with TestClient(application):
        yield application


def from_address(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, client=(address, 40000), raise_server_exceptions=True)


def wrong_key(http: TestClient, n: int) -> Response:
    response: Response = http.get(
        "/v1/verify", headers={"Authorization": f"Bearer wrong-key-number-{n:04d}-xxxxxxxxxxxxxxxx"}
    )
    return response


def sign_in(http: TestClient, secret: str) -> Response:
    page = http.get("/console/sign-in")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token is not None
    response: Response = http.post(
        "/console/sign-in", data={"api_key": secret, "form_token": token.group(1)}, follow_redirects=False
    )
    return response


def test_wrong_api_keys_up_to_the_limit_answer_401_then_429_with_retry_after_even_for_the_right_key(
    app: FastAPI,
) -> None:
    attacker = from_address(app, "203.0.113.7")
    assert [wrong_key(attacker, n).status_code for n in range(LIMIT)] == [401] * LIMIT

    refused = attacker.get("/v1/verify", headers=auth("auditor"))

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_failed_authentications"
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW + 1
    assert wrong_key(attacker, 99).status_code == 429


def test_another_address_is_not_throttled(app: FastAPI) -> None:
    attacker, other = from_address(app, "203.0.113.7"), from_address(app, "198.51.100.2")
    for n in range(LIMIT):
        wrong_key(attacker, n)

    assert other.get("/v1/verify", headers=auth("auditor")).status_code == 200
    assert wrong_key(other, 0).status_code == 401


def test_the_right_key_works_again_once_the_failures_have_left_the_window(app: FastAPI) -> None:
    attacker = from_address(app, "203.0.113.7")
    for n in range(LIMIT):
        wrong_key(attacker, n)
    assert attacker.get("/v1/verify", headers=auth("auditor")).status_code == 429

    time.sleep(WINDOW + 0.1)

    assert attacker.get("/v1/verify", headers=auth("auditor")).status_code == 200


def test_right_keys_and_requests_without_a_key_are_not_counted(app: FastAPI) -> None:
    client = from_address(app, "203.0.113.9")
    for _ in range(LIMIT * 2):
        assert client.get("/v1/verify", headers=auth("auditor")).status_code == 200
        assert client.get("/v1/verify").status_code == 401

    assert client.get("/v1/verify", headers=auth("auditor")).status_code == 200


def test_failed_console_sign_ins_are_throttled_with_429_and_retry_after_even_for_the_right_key(app: FastAPI) -> None:
    browser = from_address(app, "203.0.113.8")
    answers = [sign_in(browser, f"guess-{n}").status_code for n in range(LIMIT - 1)]
    answers.append(sign_in(browser, SECRETS["registrar"]).status_code)  # a valid key of a refused role counts too
    assert answers == [401] * LIMIT

    refused = sign_in(browser, SECRETS["auditor"])

    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    # The same address is throttled on the API as well: one count per address.
    assert browser.get("/v1/verify", headers=auth("auditor")).status_code == 429
    assert sign_in(from_address(app, "198.51.100.3"), SECRETS["auditor"]).status_code == 303
