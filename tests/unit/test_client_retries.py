"""ledger_client's retries, against a scripted transport: bounded, honouring Retry-After, one idempotency key."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ledger_client import LedgerApiError, LedgerClient

ACCEPTED = {"position": 7, "recorded_at": "2025-07-02T13:05:41+00:00", "events": [], "result": {}}
BUSY = {"error": {"code": "store_unavailable", "message": "retry", "rule": None}}


def scripted(*answers: httpx.Response | Exception) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    remaining = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = remaining.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), seen


def client(transport: httpx.MockTransport, sleeps: list[float], **options: Any) -> LedgerClient:
    record: Callable[[float], None] = sleeps.append
    return LedgerClient("http://ledger.test", "key", transport=transport, sleep=record, **options)


def busy(retry_after: str | None = "1") -> httpx.Response:
    return httpx.Response(503, json=BUSY, headers={"Retry-After": retry_after} if retry_after else {})


def test_a_command_answered_503_is_retried_after_retry_after_with_the_same_idempotency_key() -> None:
    transport, seen = scripted(busy("2"), busy("1"), httpx.Response(201, json=ACCEPTED))
    sleeps: list[float] = []
    result = client(transport, sleeps).command("register_person", person_id="P-1", name="A", email="a@x.org")

    assert result.position == 7
    assert sleeps == [2.0, 1.0]
    keys = {json.loads(r.content)["idempotency_key"] for r in seen}
    assert len(seen) == 3
    assert len(keys) == 1
    assert keys != {None}


def test_retries_are_bounded_and_the_last_503_is_raised() -> None:
    transport, seen = scripted(busy(), busy(), busy())
    with pytest.raises(LedgerApiError) as refused:
        client(transport, [], retries=2).command("accept_terms", person_id="P-1", terms_version="v1")
    assert refused.value.status == 503
    assert refused.value.code == "store_unavailable"
    assert len(seen) == 3


def test_a_long_retry_after_is_capped_and_a_missing_one_backs_off() -> None:
    transport, _ = scripted(busy("3600"), busy(None), httpx.Response(201, json=ACCEPTED))
    sleeps: list[float] = []
    client(transport, sleeps, max_wait=5.0, backoff=0.5).command("accept_terms", person_id="P-1", terms_version="v1")
    assert sleeps == [5.0, 1.0]  # capped; then 0.5 * 2**1


def test_a_refusal_by_a_rule_is_not_retried_and_names_rule_and_field() -> None:
    refused_body = {"error": {"code": "five_staff_limit", "message": "full", "rule": "R9", "field": "code"}}
    transport, seen = scripted(httpx.Response(409, json=refused_body))
    with pytest.raises(LedgerApiError) as refused:
        client(transport, []).command("redeem_access_code", person_id="P-1", school_id="S", exam_year=2025, code="x")
    assert (refused.value.status, refused.value.rule, refused.value.field) == (409, "R9", "code")
    assert len(seen) == 1


def test_a_connection_failure_is_retried() -> None:
    transport, seen = scripted(httpx.ConnectError("refused"), httpx.Response(201, json=ACCEPTED))
    assert client(transport, []).command("accept_terms", person_id="P-1", terms_version="v1").position == 7
    assert len(seen) == 2


def test_the_position_of_a_write_is_sent_as_min_position_by_the_next_read() -> None:
    check = {"allowed": True, "role": "teacher", "rules": ["R3"], "reason": "", "evidence": [], "position": 7}
    transport, seen = scripted(httpx.Response(201, json=ACCEPTED), httpx.Response(200, json=check))
    ledger = client(transport, [])
    ledger.command("accept_terms", person_id="P-1", terms_version="v1")
    ledger.check("P-1", org_id="S", report="score_summary", exam_year=2025, school_id="S")
    assert seen[1].url.params["min_position"] == "7"
