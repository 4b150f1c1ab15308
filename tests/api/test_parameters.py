"""No parameter is silently ignored: one an operation does not read is refused with 422 naming it,
`at` included where the valid time is a range or every time; `as_of` reads a position, an instant or a date."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.api.conftest import STAFF, Api, World, auth, redeem
from tests.api.test_auth import ROLES, call, endpoints
from tests.api.test_commands import assert_error


@pytest.fixture
def store_url() -> str:
    return "memory://"  # how input is read does not depend on the store (the stores have their own tests)


def allowed_role(allowed: set[str]) -> str:
    return next(role for role in ROLES if role in allowed)


def test_every_v1_operation_refuses_a_parameter_it_does_not_read_and_names_it(api: Api, world: World) -> None:
    for name, (method, path, params, allowed) in endpoints(STAFF[0]).items():
        if method == "POST":
            response = api.http.post(
                path, params={"colour": "blue"}, json={"commands": []}, headers=auth(allowed_role(allowed))
            )
        else:
            response = call(api, name, method, path, {**params, "colour": "blue"}, auth(allowed_role(allowed)))
        error = assert_error(response, 422, "invalid_input")
        assert error["field"] == "colour", f"{method} {path}: {error}"
        assert "colour" in error["message"]


def test_a_refused_parameter_appends_nothing(api: Api, world: World) -> None:
    body = {"type": "register_district", "district_id": "D-9", "name": "Nine"}
    response = api.http.post("/v1/commands", params={"dryrun": "1"}, json=body, headers=auth("registrar"))
    assert_error(response, 422, "invalid_input")
    assert api.position() == world.position


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/orgs/S-1/access", {"from": "2025-07-01", "to": "2025-08-01"}),
        (f"/v1/people/{STAFF[0]}/timeline", {}),
    ],
)
def test_at_is_refused_where_the_read_takes_no_valid_time(
    api: Api, world: World, path: str, params: dict[str, str]
) -> None:
    response = api.get(path, "support", at="2025-07-08", **params)
    error = assert_error(response, 422, "invalid_input")
    assert error["field"] == "at"


def test_reads_of_the_log_itself_accept_min_position(api: Api, world: World) -> None:
    for path in ("/v1/events", "/v1/verify", "/v1/checkpoints"):
        assert api.get(path, "auditor", min_position=world.position).status_code == 200, path


def test_as_of_a_date_reads_the_ledger_as_known_at_the_start_of_that_day(api: Api, world: World) -> None:
    redeem(api, STAFF[0], world.code)
    today = datetime.now(ZoneInfo("America/New_York")).date()
    rights = f"/v1/people/{STAFF[0]}/rights"

    before = api.get(rights, "portal", at="2025-07-08", as_of=today.isoformat()).json()
    after = api.get(rights, "portal", at="2025-07-08", as_of=(today + timedelta(days=1)).isoformat()).json()

    assert before["position"] == 0  # everything was recorded today, after its start
    assert before["organizations"] == []
    assert after["position"] == api.written
    assert [o["org_id"] for o in after["organizations"]] == ["S-1"]


def test_as_of_is_described_the_same_way_on_every_operation(api: Api) -> None:
    schema = api.http.get("/openapi.json").json()
    descriptions = {
        f"{method} {path}": p.get("description", "")
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        for p in op.get("parameters", [])
        if p["name"] == "as_of"
    }
    assert len(descriptions) >= 5  # check, rights, timeline, access, windows
    assert len(set(descriptions.values())) == 1, descriptions
    text = next(iter(descriptions.values()))
    assert all(word in text for word in ("position", "instant", "date"))
