"""The command models refuse malformed input naming the field (HTTP 422) and accept their own examples."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ledger.commands import (
    COMMAND_TYPES,
    AnyCommand,
    GrantSystemAccess,
    RedeemAccessCode,
    RegisterSchool,
    UpdateProfile,
    parse_command,
)
from ledger.errors import FieldError

COMMAND_MODELS: list[type[BaseModel]] = list(typing.get_args(typing.get_args(AnyCommand)[0]))

PERSON = {"type": "register_person", "person_id": "P-1001", "name": "Ada Byron", "email": "ada@example.org"}
AUTH = {
    "type": "authorize_course",
    "person_id": "P-1001",
    "school_id": "S-110",
    "subject": "AP-BIO",
    "school_year": 2025,
}
REDEEM = {
    "type": "redeem_access_code",
    "school_id": "S-110",
    "exam_year": 2025,
    "person_id": "P-1002",
    "code": "K7QM-2XWP-9DRT",
}


def refusal(data: dict[str, Any]) -> list[ErrorDetails]:
    with pytest.raises(ValidationError) as caught:
        parse_command(data)
    return caught.value.errors(include_url=False)


def assert_refused_naming(data: dict[str, Any], field: str) -> None:
    """Refused, and the error names `field`: in its location, or (checks over several fields) as its FieldError's."""
    errors = refusal(data)
    assert any(field in err["loc"] or _field_error_names(err) == field for err in errors), errors


def _field_error_names(err: Any) -> str | None:
    cause = (err.get("ctx") or {}).get("error")
    return cause.field if isinstance(cause, FieldError) else None


# --- accepted -------------------------------------------------------------------------------------


def test_every_command_type_has_a_model_with_an_example() -> None:
    examples = {m.model_json_schema()["examples"][0]["type"] for m in COMMAND_MODELS}
    assert examples == COMMAND_TYPES
    assert len(COMMAND_TYPES) == 24  # the contract names 24 commands


@pytest.mark.parametrize("model", COMMAND_MODELS, ids=lambda m: m.__name__)
def test_the_example_of_each_command_model_is_accepted(model: type[BaseModel]) -> None:
    for example in model.model_json_schema()["examples"]:
        parsed = parse_command(example)
        assert type(parsed) is model
        assert parsed.model_dump(mode="json", include=set(example)) == example


@pytest.mark.parametrize("model", COMMAND_MODELS, ids=lambda m: m.__name__)
def test_each_example_is_accepted_with_an_effective_time_and_an_idempotency_key(model: type[BaseModel]) -> None:
    example = model.model_json_schema()["examples"][0]
    parsed = parse_command({**example, "effective_at": "2025-07-01T09:00:00-04:00", "idempotency_key": "req-1"})
    assert parsed.effective_at == "2025-07-01T09:00:00-04:00"
    assert parsed.idempotency_key == "req-1"


@pytest.mark.parametrize(
    "effective_at",
    [
        "2025-07-01",
        "2025-07-01T09:00:00-04:00",
        "2025-07-01T13:00:00Z",
        "2025-07-01T09:00",
        "2025-07-01T13:00:00+00:00",
    ],
)
def test_iso_dates_and_instants_are_accepted_as_effective_at(effective_at: str) -> None:
    assert parse_command({**PERSON, "effective_at": effective_at}).effective_at == effective_at


def test_effective_at_defaults_to_none_so_the_ledger_uses_recorded_at() -> None:
    assert parse_command(PERSON).effective_at is None


def test_a_profile_update_changing_only_the_title_is_accepted() -> None:
    parsed = parse_command({"type": "update_profile", "person_id": "P-1001", "title": "AP Coordinator"})
    assert isinstance(parsed, UpdateProfile)
    assert parsed.title == "AP Coordinator"


@pytest.mark.parametrize("system", ["registration_ordering", "course_audit"])
def test_both_systems_are_accepted(system: str) -> None:
    parsed = parse_command({"type": "grant_system_access", "person_id": "P-1", "org_id": "S-1", "system": system})
    assert isinstance(parsed, GrantSystemAccess)
    assert parsed.system == system


def test_a_school_without_a_district_is_accepted_and_is_not_a_homeschool_by_default() -> None:
    parsed = parse_command({"type": "register_school", "school_id": "S-1", "name": "Alone"})
    assert isinstance(parsed, RegisterSchool)
    assert parsed.district_id is None
    assert parsed.homeschool is False


# --- refused: times and years ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "effective_at",
    ["2025-13-01", "2025-02-30", "yesterday", "07/01/2025", "2025-07-01T25:00", "", "2025-07-01 at noon"],
)
def test_a_malformed_effective_at_is_refused_naming_the_field(effective_at: str) -> None:
    assert_refused_naming({**PERSON, "effective_at": effective_at}, "effective_at")


def test_released_on_outside_its_exam_year_is_refused_naming_the_field() -> None:
    assert_refused_naming({"type": "release_scores", "exam_year": 2025, "released_on": "2024-07-07"}, "released_on")


def test_a_malformed_released_on_is_refused_naming_the_field() -> None:
    assert_refused_naming({"type": "release_scores", "exam_year": 2025, "released_on": "2025-02-30"}, "released_on")


@pytest.mark.parametrize("year", [99, 20251, 0, -2025, "twenty"])
@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"type": "release_scores", "released_on": "2025-07-07"}, "exam_year"),
        ({"type": "designate_principal", "school_id": "S-1", "person_id": "P-1"}, "exam_year"),
        ({"type": "issue_access_code", "school_id": "S-1"}, "exam_year"),
        ({k: v for k, v in AUTH.items() if k != "school_year"}, "school_year"),
        ({"type": "add_district_user", "person_id": "P-2", "district_id": "D-1", "requested_by": "P-1"}, "access_year"),
    ],
)
def test_a_year_that_is_not_a_plausible_four_digit_year_is_refused_naming_the_field(
    year: int | str, command: dict[str, Any], field: str
) -> None:
    assert_refused_naming({**command, field: year}, field)


# --- refused: shape ---------------------------------------------------------------------------------


def test_an_unknown_command_type_is_refused_naming_the_type() -> None:
    errors = refusal({"type": "delete_everything", "person_id": "P-1"})
    assert errors[0]["type"] == "union_tag_invalid"
    assert "type" in errors[0]["msg"]


def test_a_command_without_a_type_is_refused_naming_the_type() -> None:
    errors = refusal({"person_id": "P-1"})
    assert errors[0]["type"] == "union_tag_not_found"
    assert "type" in errors[0]["msg"]


@pytest.mark.parametrize("extra", ["role", "recorded_at", "position", "code_digest"])
def test_an_extra_field_is_refused_naming_it(extra: str) -> None:
    # recorded_at and position in particular are the ledger's to set, never a client's.
    errors = refusal({**PERSON, extra: "x"})
    assert [(e["type"], e["loc"][-1]) for e in errors] == [("extra_forbidden", extra)]


@pytest.mark.parametrize("bad_id", ["P 1001", "P-1001 X", "", "-P1", "P/1", "P\t1", "x" * 65])
def test_a_malformed_person_id_is_refused_naming_the_field(bad_id: str) -> None:
    assert_refused_naming({**PERSON, "person_id": bad_id}, "person_id")


@pytest.mark.parametrize("field", ["school_id", "subject", "person_id"])
def test_ids_with_spaces_are_refused_in_every_id_field(field: str) -> None:
    assert_refused_naming({**AUTH, field: "has space"}, field)


def test_a_profile_update_with_nothing_to_change_is_refused_naming_the_fields() -> None:
    errors = refusal({"type": "update_profile", "person_id": "P-1001"})
    assert any(all(f in e["msg"] for f in ("name", "email", "title")) for e in errors), errors


@pytest.mark.parametrize("system", ["payroll", "", "COURSE_AUDIT", None])
def test_an_unknown_system_is_refused_naming_the_field(system: str | None) -> None:
    assert_refused_naming(
        {"type": "grant_system_access", "person_id": "P-1", "org_id": "S-1", "system": system}, "system"
    )


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two words@example.org", ""])
def test_a_malformed_email_is_refused_naming_the_field(email: str) -> None:
    assert_refused_naming({**PERSON, "email": email}, "email")


@pytest.mark.parametrize("missing", ["person_id", "name", "email"])
def test_a_missing_required_field_is_refused_naming_it(missing: str) -> None:
    errors = refusal({k: v for k, v in PERSON.items() if k != missing})
    assert any(e["type"] == "missing" and e["loc"][-1] == missing for e in errors), errors


def test_an_empty_idempotency_key_is_refused_naming_the_field() -> None:
    assert_refused_naming({**PERSON, "idempotency_key": ""}, "idempotency_key")


# --- secrets ------------------------------------------------------------------------------------------


def test_a_redemption_shows_no_code_in_its_repr_and_leaves_it_out_of_the_idempotency_body() -> None:
    parsed = parse_command(REDEEM)
    assert isinstance(parsed, RedeemAccessCode)
    assert parsed.code == "K7QM-2XWP-9DRT"
    assert "K7QM" not in repr(parsed)
    assert "K7QM" not in str(parsed)
    assert "code" not in parsed.body_for_idempotency()
    assert "K7QM" not in str(parsed.body_for_idempotency())


def test_a_command_names_the_streams_of_every_aggregate_it_reads_before_a_batch_is_decided() -> None:
    redeem = parse_command(
        {"type": "redeem_access_code", "school_id": "S-110", "exam_year": 2025, "person_id": "P-1002", "code": "X"}
    )
    assert sorted(redeem.streams()) == ["person:P-1002", "school:S-110"]
    remove = parse_command({"type": "remove_access", "person_id": "P-4001", "org_id": "S-110", "removed_by": "P-2001"})
    assert sorted(remove.streams()) == ["district:S-110", "person:P-2001", "person:P-4001", "school:S-110"]


UNSHOWN = {
    "NUL": "\u0000",
    "escape": "\u001b",
    "newline": "\n",
    "DEL": "\u007f",
    "C1 control": "\u0085",
    "right-to-left override": "\u202e",
    "left-to-right embedding": "\u202a",
    "pop directional formatting": "\u202c",
    "right-to-left isolate": "\u2067",
    "pop directional isolate": "\u2069",
    "right-to-left mark": "\u200f",
    "Arabic letter mark": "\u061c",
    "line separator": "\u2028",
}
FREE_TEXT: list[tuple[dict[str, Any], str]] = [
    (PERSON, "name"),
    (PERSON, "email"),
    ({"type": "update_profile", "person_id": "P-1001"}, "title"),
    ({"type": "register_district", "district_id": "D-1"}, "name"),
    ({"type": "revoke_access_code", "school_id": "S-110", "exam_year": 2025}, "reason"),
    ({"type": "void_event", "reason": "entered twice"}, "event_id"),
    ({"type": "void_event", "event_id": "0f8c7c1e"}, "reason"),
    ({"type": "accept_terms", "person_id": "P-1001"}, "terms_version"),
    (PERSON, "idempotency_key"),
    (PERSON, "person_id"),
    (AUTH, "school_id"),
]


@pytest.mark.parametrize("character", UNSHOWN.values(), ids=UNSHOWN.keys())
@pytest.mark.parametrize(("base", "field"), FREE_TEXT, ids=[f"{b['type']}.{f}" for b, f in FREE_TEXT])
def test_a_control_or_bidirectional_formatting_character_is_refused_naming_the_field(
    base: dict[str, Any], field: str, character: str
) -> None:
    value = f"ab{character}cd@x.org" if field == "email" else f"Ada{character}Byron"

    assert_refused_naming({**base, field: value}, field)


@pytest.mark.parametrize("name", ["Zoë Ångström", "محمد علي", "דוד כהן", "李小龙", "O'Brien-Smith", "🚀 👩‍🔬"])
def test_names_in_any_script_with_emoji_and_joiners_are_accepted(name: str) -> None:

    assert parse_command({**PERSON, "name": name}).model_dump()["name"] == name
