"""POST /v1/commands and /v1/commands/batch: 201 bodies, refusals and their statuses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from httpx import Response

from tests.api.conftest import PRINCIPAL, STAFF, Api, World, auth, redeem, world_commands


def instant(text: str) -> datetime:
    """An ISO-8601 instant that must carry an offset."""
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, f"{text} has no offset"
    return parsed


def assert_error(response: Response, status: int, code: str | None = None, rule: str | None = None) -> dict[str, Any]:
    """The §9 error shape: {"error": {code, message, rule}}; returns the inner object."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert {"code", "message", "rule"} <= set(error)
    assert isinstance(error["message"], str)
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    if rule is not None:
        assert error["rule"] == rule
    return dict(error)


def test_a_command_answers_201_with_its_position_recorded_at_events_and_result(api: Api) -> None:
    response = api.command(type="register_district", district_id="D-9", name="Nine", effective_at="2024-08-01")

    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"position", "recorded_at", "events", "result"}
    assert body["position"] == 1
    assert isinstance(body["result"], dict)
    (event,) = body["events"]
    assert set(event) >= {"event_id", "type", "position", "recorded_at", "effective_at"}
    assert event["type"] == "DistrictRegistered"
    assert event["position"] == body["position"]
    assert instant(event["recorded_at"]) == instant(body["recorded_at"])
    # effective_at as a date is the start of that day in the ledger's zone (America/New_York, EDT).
    assert instant(event["effective_at"]) == instant("2024-08-01T00:00:00-04:00")


def test_effective_at_defaults_to_recorded_at(api: Api) -> None:
    body = api.ok(type="register_district", district_id="D-9", name="Nine")
    (event,) = body["events"]
    assert instant(event["effective_at"]) == instant(event["recorded_at"])


def test_the_appended_event_is_in_the_feed_at_the_answered_position(api: Api) -> None:
    body = api.ok(type="register_district", district_id="D-9", name="Nine")
    feed = api.get("/v1/events", after=body["position"] - 1, limit=1).json()
    assert feed["events"][0]["event_id"] == body["events"][0]["event_id"]
    assert feed["events"][0]["actor"] == "reg"  # the API client that appended it


def test_issue_access_code_returns_the_code_once_and_never_stores_it(api: Api, world: World) -> None:
    api.ok(type="designate_principal", school_id="S-2", person_id=PRINCIPAL, exam_year=2025, effective_at="2024-09-01")
    first = api.command(
        type="issue_access_code", school_id="S-2", exam_year=2025, effective_at="2025-07-01", idempotency_key="issue-s2"
    )
    assert first.status_code == 201, first.text
    code = first.json()["result"]["code"]
    assert isinstance(code, str)
    assert len(code) >= 8
    assert first.json()["events"][0]["type"] == "AccessCodeIssued"

    again = api.command(
        type="issue_access_code", school_id="S-2", exam_year=2025, effective_at="2025-07-01", idempotency_key="issue-s2"
    )
    assert again.status_code == 201
    assert again.json()["events"] == first.json()["events"]
    assert again.json()["result"].get("code") != code  # the code is shown once only

    feed = api.get("/v1/events", after=0, limit=1000).text
    assert code not in feed


def test_a_repeated_idempotency_key_returns_the_first_result_and_appends_nothing(api: Api) -> None:
    command = {"type": "register_district", "district_id": "D-9", "name": "Nine", "idempotency_key": "k-1"}
    first = api.command(**command)
    second = api.command(**command)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert api.position() == 1


def test_an_idempotency_key_reused_with_another_body_is_refused_with_409(api: Api) -> None:
    api.ok(type="register_district", district_id="D-9", name="Nine", idempotency_key="k-1")
    response = api.command(type="register_district", district_id="D-8", name="Eight", idempotency_key="k-1")
    assert_error(response, 409, "idempotency_key_reused")
    assert api.position() == 1


def test_a_batch_appends_every_command_in_one_go(api: Api) -> None:
    response = api.batch(world_commands())
    assert response.status_code == 201, response.text
    body = response.json()
    assert len(body["results"]) == len(world_commands())
    positions = [e["position"] for r in body["results"] for e in r["events"]]
    assert positions == list(range(1, len(positions) + 1))
    assert body["position"] == positions[-1] == api.position()
    assert body["results"][-1]["result"]["code"]  # issue_access_code's code, in its own result


def test_a_batch_with_one_refused_command_appends_nothing_and_names_the_command(api: Api, world: World) -> None:
    before = api.position()
    response = api.batch(
        [
            {"type": "register_person", "person_id": "P-NEW", "name": "New", "email": "new@x.org"},
            {"type": "add_affiliation", "person_id": "P-NEW", "org_id": "S-1"},
            {"type": "register_person", "person_id": STAFF[0], "name": "Again", "email": "again@x.org"},
        ]
    )
    error = assert_error(response, 409, "already_registered", "R1")
    assert error["field"].startswith("commands[2]")
    assert "command 2" in error["message"]
    assert api.position() == before
    assert api.get("/v1/people/P-NEW/rights").status_code == 404


def test_a_batch_with_a_malformed_command_is_refused_with_422_naming_it(api: Api) -> None:
    response = api.batch(
        [
            {"type": "register_district", "district_id": "D-9", "name": "Nine"},
            {"type": "release_scores", "exam_year": 2025, "released_on": "2025-13-07"},
        ]
    )
    error = assert_error(response, 422, "invalid_input")
    assert error["field"] == "commands[1].released_on"
    assert api.position() == 0


def test_a_sixth_staff_redemption_is_refused_with_409_five_staff_limit_r9(api: Api, world: World) -> None:
    for pid in STAFF[:5]:
        assert redeem(api, pid, world.code).status_code == 201
    before = api.position()
    response = redeem(api, STAFF[5], world.code)
    assert_error(response, 409, "five_staff_limit", "R9")
    # The code was judged right, so only the attempt is recorded (R10): it counts toward the lockout.
    assert api.position() == before + 1
    (last,) = api.get("/v1/events", after=before).json()["events"]
    assert (last["type"], last["data"]["person_id"]) == ("AccessCodeRedemptionFailed", STAFF[5])


def test_the_principal_redeeming_does_not_take_a_staff_place(api: Api, world: World) -> None:
    for pid in STAFF[:5]:
        assert redeem(api, pid, world.code).status_code == 201
    response = redeem(api, PRINCIPAL, world.code)
    assert response.status_code == 201, response.text


def test_a_removal_frees_a_staff_place(api: Api, world: World) -> None:
    for pid in STAFF[:5]:
        assert redeem(api, pid, world.code).status_code == 201
    api.ok(type="remove_access", person_id=STAFF[0], org_id="S-1", removed_by=PRINCIPAL, effective_at="2025-07-03")
    assert redeem(api, STAFF[5], world.code, effective_at="2025-07-04").status_code == 201


def test_five_wrong_codes_lock_redemption_with_429_and_retry_after(api: Api, world: World) -> None:
    for n in range(5):
        response = redeem(api, STAFF[0], f"WRONG-CODE-{n}")
        assert_error(response, 409, "wrong_code", "R10")

    locked = redeem(api, STAFF[0], world.code)  # even the right code, while locked out
    assert_error(locked, 429, rule="R10")
    assert int(locked.headers["Retry-After"]) > 0

    # Each failure is visible to auditors, without the code presented.
    feed = api.get("/v1/events", after=world.position, limit=100).json()["events"]
    assert [e["type"] for e in feed] == ["AccessCodeRedemptionFailed"] * 5
    assert "WRONG-CODE" not in str(feed)
    # Someone else may still redeem.
    assert redeem(api, STAFF[1], world.code).status_code == 201


def test_voiding_an_unknown_event_is_404(api: Api, world: World) -> None:
    response = api.command(type="void_event", event_id="00000000-0000-4000-8000-000000000000", reason="typo")
    assert_error(response, 404, "unknown_event")
    assert api.position() == world.position


def test_a_command_about_an_unknown_person_or_school_is_404(api: Api, world: World) -> None:
    assert_error(api.command(type="add_affiliation", person_id="P-NOBODY", org_id="S-1"), 404, "unknown_person")
    assert_error(api.command(type="add_affiliation", person_id=STAFF[0], org_id="S-NOWHERE"), 404)
    assert api.position() == world.position


def test_an_unknown_command_type_is_422_naming_the_type_field(api: Api) -> None:
    error = assert_error(api.command(type="launch_rockets", person_id="P-1"), 422, "invalid_input")
    assert error["field"] == "type"
    assert "register_person" in error["message"]  # says what would be accepted
    missing = assert_error(api.command(person_id="P-1"), 422, "invalid_input")
    assert missing["field"] == "type"


def test_malformed_fields_are_422_naming_the_field(api: Api) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"type": "register_district", "district_id": "D-9", "name": "Nine", "effective_at": "2025-02-30"},
            "effective_at",
        ),
        (
            {"type": "register_district", "district_id": "D-9", "name": "Nine", "effective_at": "last tuesday"},
            "effective_at",
        ),
        ({"type": "release_scores", "exam_year": "twenty", "released_on": "2025-07-07"}, "exam_year"),
        ({"type": "release_scores", "exam_year": 99999, "released_on": "2025-07-07"}, "exam_year"),
        ({"type": "release_scores", "exam_year": 2025, "released_on": "July 7"}, "released_on"),
        ({"type": "register_person", "person_id": "P-9", "name": "Nine"}, "email"),
        ({"type": "register_district", "district_id": "D-9", "name": "Nine", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        error = assert_error(api.command(**body), 422, "invalid_input")
        assert error["field"] == field, (body, error)
    assert api.position() == 0


def test_a_repeated_batch_returns_the_first_results_and_appends_nothing(api: Api) -> None:
    batch = [
        {"type": "register_district", "district_id": "D-9", "name": "Nine", "idempotency_key": "b-1"},
        {"type": "register_district", "district_id": "D-8", "name": "Eight", "idempotency_key": "b-2"},
    ]
    first, second = api.batch(batch), api.batch(batch)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert api.position() == 2


def test_a_batch_reusing_an_idempotency_key_with_another_body_is_409_naming_the_command(api: Api) -> None:
    api.ok(type="register_district", district_id="D-9", name="Nine", idempotency_key="k-1")
    response = api.batch(
        [
            {"type": "register_district", "district_id": "D-7", "name": "Seven", "idempotency_key": "k-2"},
            {"type": "register_district", "district_id": "D-8", "name": "Eight", "idempotency_key": "k-1"},
        ]
    )
    error = assert_error(response, 409, "idempotency_key_reused")
    assert error["field"] == "commands[1]"
    assert api.position() == 1


def test_a_body_that_is_not_json_is_422_naming_the_body(api: Api) -> None:
    response = api.http.post(
        "/v1/commands",
        content=b'{"type": "register_district", ',
        headers={**auth("registrar"), "Content-Type": "application/json"},
    )
    error = assert_error(response, 422, "invalid_input")
    assert error["field"] == "body"


def test_unknown_paths_and_methods_answer_in_the_error_shape(api: Api) -> None:
    assert_error(api.http.get("/v1/nothing-here", headers=auth("auditor")), 404)
    assert_error(api.http.delete("/v1/commands", headers=auth("registrar")), 405)
