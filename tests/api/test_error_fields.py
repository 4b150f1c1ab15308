"""Every error names the field at fault, commands and batches included, in the API's own words:
pydantic's wording ("Value error, …", "Input should …", a regular expression) never reaches a client."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import STAFF, Api, World, auth
from tests.api.test_commands import assert_error

PYDANTIC_WORDING = ("Value error", "Input should", "String should", "List should", "Field required", "^", "$'")
PERSON = {"type": "register_person", "person_id": "P-NEW", "name": "New Person", "email": "new@x.org"}


@pytest.fixture
def store_url() -> str:
    return "memory://"  # how input is read does not depend on the store (the stores have their own tests)


def assert_names(response: Any, status: int, field: str) -> dict[str, Any]:
    error = assert_error(response, status)
    assert error["field"] == field, error
    assert error["message"].startswith(field) or status != 422, error
    assert not any(words in error["message"] for words in PYDANTIC_WORDING), error["message"]
    return error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**PERSON, "email": "not-an-email"}, "email"),
        ({**PERSON, "person_id": "P 1"}, "person_id"),
        ({**PERSON, "effective_at": "2025-13-01"}, "effective_at"),
        ({k: v for k, v in PERSON.items() if k != "email"}, "email"),
        ({**PERSON, "colour": "blue"}, "colour"),
        ({"type": "update_profile", "person_id": "P-NEW"}, "name"),
        ({"type": "release_scores", "exam_year": 2025, "released_on": "2024-07-07"}, "released_on"),
        ({"type": "release_scores", "exam_year": 2025, "released_on": "2025-02-30"}, "released_on"),
        ({"type": "release_scores", "exam_year": "twenty", "released_on": "2025-07-07"}, "exam_year"),
        ({"type": "register_school_please"}, "type"),
        ({"person_id": "P-NEW"}, "type"),
        ([PERSON], "body"),
    ],
)
def test_a_malformed_command_is_422_naming_its_field_in_plain_words(api: Api, body: Any, field: str) -> None:
    response = api.http.post("/v1/commands", json=body, headers=auth("registrar"))
    assert_names(response, 422, field)
    assert api.position() == 0


def test_a_malformed_command_in_a_batch_is_named_by_its_index_and_field(api: Api) -> None:
    response = api.batch([PERSON, {**PERSON, "person_id": "P-TWO", "email": "nope"}])
    assert_names(response, 422, "commands[1].email")
    assert_names(api.batch([]), 422, "commands")


def test_a_command_naming_an_unknown_school_or_event_names_that_field(api: Api, world: World) -> None:
    unknown_school = api.command(type="issue_access_code", school_id="S-404", exam_year=2025)
    assert_names(unknown_school, 404, "school_id")
    unknown_person = api.command(type="add_affiliation", person_id="P-404", org_id="S-1")
    assert_names(unknown_person, 404, "person_id")
    unknown_event = api.command(type="void_event", event_id="01a234e9-0000-7000-8000-000000000000", reason="typo")
    assert_names(unknown_event, 404, "event_id")
    in_batch = api.batch([{"type": "add_affiliation", "person_id": STAFF[0], "org_id": "D-404"}])
    assert_names(in_batch, 404, "commands[0].org_id")
    assert api.position() == world.position


@pytest.mark.parametrize(
    ("path", "role", "params", "field"),
    [
        ("/v1/check", "portal", {"person_id": "P", "org_id": "S-1", "report": "nope", "exam_year": 2025}, "report"),
        ("/v1/check", "portal", {"org_id": "S-1", "report": "score_summary", "exam_year": 2025}, "person_id"),
        (
            "/v1/check",
            "portal",
            {"person_id": "P", "org_id": "S-1", "report": "score_summary", "exam_year": "y"},
            "exam_year",
        ),
        ("/v1/orgs/S-1/access", "support", {"from": "soon", "to": "2025-08-01"}, "from"),
        ("/v1/orgs/S-1/access", "support", {"to": "2025-08-01"}, "from"),
        ("/v1/orgs/S-1/access", "support", {"from": "2025-07-01", "to": "2025-08-01", "level": "all"}, "level"),
        (f"/v1/people/{STAFF[0]}/rights", "portal", {"as_of": "yesterday"}, "as_of"),
        ("/v1/events", "auditor", {"limit": "many"}, "limit"),
        ("/v1/verify", "auditor", {"checkpoint_position": "1", "checkpoint_chain": "abc"}, "checkpoint_chain[0]"),
    ],
)
def test_a_malformed_query_is_422_naming_its_parameter_in_plain_words(
    api: Api, world: World, path: str, role: str, params: dict[str, Any], field: str
) -> None:
    assert_names(api.get(path, role, min_position=None, **params), 422, field)
