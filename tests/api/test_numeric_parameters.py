"""Numbers in query parameters: digits of other scripts and very long numbers are a 422 naming the parameter.

`"²".isdigit()` is true and `int("²")` fails; `int` refuses more than 4,300 digits: both were
server errors on every read that takes `as_of`, and in the console (`exam_year`, `page`, the CSV).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import create_app
from tests.api.conftest import TEACHER, Api, S, auth, settings_for, world_commands

NOT_ASCII_NUMBERS = {
    "superscript two": "²",
    "circled one": "①",
    "Arabic-Indic digits": "٢٠٢٥",
    "full-width digits": "２０２５",
    "5,000 digits": "9" * 5000,
    "20 digits (over 64 bits)": "9" * 20,
}


@pytest.fixture(scope="module")
def world() -> Iterator[Api]:
    """The app on a memory store with the shared small world, and a console session for the auditor."""
    with TestClient(
        create_app(settings_for("memory://"), announce=lambda _: None), raise_server_exceptions=False
    ) as http:
        api = Api(http)
        assert api.batch(world_commands()).status_code == 201
        form = http.get("/console/sign-in")
        token = re.search(r'name="form_token" value="([^"]+)"', form.text)
        assert token is not None
        signed = http.post(
            "/console/sign-in",
            data={"api_key": auth("auditor")["Authorization"].split()[1], "form_token": token.group(1)},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text
        yield api


CHECK = {"person_id": TEACHER, "org_id": S, "report": "score_summary", "exam_year": "2025", "school_id": S}
API_READS: list[tuple[str, dict[str, str], str]] = [
    ("/v1/check", CHECK, "as_of"),
    ("/v1/check", CHECK, "exam_year"),
    ("/v1/check", CHECK, "min_position"),
    (f"/v1/people/{TEACHER}/rights", {}, "as_of"),
    (f"/v1/people/{TEACHER}/timeline", {}, "as_of"),
    (f"/v1/orgs/{S}/windows", {}, "as_of"),
    (f"/v1/orgs/{S}/access", {"from": "2024-01-01", "to": "2026-01-01"}, "as_of"),
    (f"/v1/orgs/{S}/access", {"from": "2024-01-01", "to": "2026-01-01"}, "min_position"),
    ("/v1/events", {}, "after"),
    ("/v1/events", {}, "limit"),
]


@pytest.mark.parametrize("value", NOT_ASCII_NUMBERS.values(), ids=NOT_ASCII_NUMBERS.keys())
@pytest.mark.parametrize(("path", "params", "name"), API_READS, ids=[f"{p} {n}" for p, _, n in API_READS])
def test_an_api_read_answers_422_naming_a_number_parameter_not_written_in_ascii_digits(
    world: Api, path: str, params: dict[str, str], name: str, value: str
) -> None:
    response = world.http.get(path, params={**params, name: value}, headers=auth("auditor"))

    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert name in error["message"]


@pytest.mark.parametrize(("path", "params", "name"), API_READS[:2], ids=["as_of", "exam_year"])
def test_the_same_reads_with_ascii_digits_are_answered(
    world: Api, path: str, params: dict[str, str], name: str
) -> None:
    value = str(2**63 - 1) if name == "as_of" else "2025"  # a position beyond the end reads the latest
    assert world.http.get(path, params={**params, name: value}, headers=auth("auditor")).status_code == 200


EXPLAIN = {"person_id": TEACHER, "org_id": S, "report": "score_summary", "exam_year": "2025", "school_id": S}
CONSOLE_PAGES: list[tuple[str, dict[str, str], str, str]] = [
    ("/console/explain", EXPLAIN, "exam_year", "Exam year"),
    ("/console/explain", EXPLAIN, "as_of", "As known on"),
    (f"/console/orgs/{S}", {}, "as_of", "As known on"),
    (f"/console/orgs/{S}", {}, "page", "Page"),
    (f"/console/orgs/{S}/access.csv", {}, "as_of", "As known on"),
]


@pytest.mark.parametrize("value", ["²", "①", "٢٠٢٥", "9" * 30], ids=["superscript", "circled", "arabic", "30 digits"])
@pytest.mark.parametrize(
    ("path", "params", "name", "label"), CONSOLE_PAGES, ids=[f"{p} {n}" for p, _, n, _ in CONSOLE_PAGES]
)
def test_a_console_page_answers_422_naming_a_number_field_not_written_in_ascii_digits(
    world: Api, path: str, params: dict[str, str], name: str, label: str, value: str
) -> None:
    response = world.http.get(path, params={**params, name: value[:10] if name == "exam_year" else value})

    assert response.status_code == 422, response.text
    assert label in response.text or f'"field":"{name}"' in response.text  # the form's label, or the field
