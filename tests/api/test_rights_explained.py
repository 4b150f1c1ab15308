"""Rights list every organization the person is affiliated with; where no role is held they say why,
in the same words, rules and evidence as a check of that organization."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import PRINCIPAL, STAFF, Api, World, redeem

AT = "2025-07-08"


def org_rights(api: Api, person_id: str) -> dict[str, dict[str, Any]]:
    response = api.get(f"/v1/people/{person_id}/rights", "portal", at=AT)
    assert response.status_code == 200, response.text
    return {o["org_id"]: o for o in response.json()["organizations"]}


def check(api: Api, person_id: str) -> dict[str, Any]:
    response = api.check(
        person_id=person_id, org_id="S-1", report="student_datafile", exam_year=2025, school_id="S-1", at=AT
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_an_affiliation_without_a_role_is_listed_with_the_reason_a_check_gives(api: Api, world: World) -> None:
    person = STAFF[1]  # affiliated with S-1, never redeemed a code

    school = org_rights(api, person)["S-1"]
    decided = check(api, person)

    assert school["role"] is None
    assert school["roles"] == []
    assert decided["allowed"] is False
    assert (school["code"], school["rules"], school["reason"], school["evidence"]) == (
        decided["code"],
        decided["rules"],
        decided["reason"],
        decided["evidence"],
    )
    assert school["rules"] == ["R3"]
    assert len(school["evidence"]) == 1  # the affiliation


def test_a_removed_staff_member_is_told_the_removal_and_the_event_that_recorded_it(api: Api, world: World) -> None:
    person = STAFF[0]
    redeem(api, person, world.code)
    removal = api.ok(
        type="remove_access", person_id=person, org_id="S-1", removed_by=PRINCIPAL, effective_at="2025-07-05"
    )

    school = org_rights(api, person)["S-1"]
    decided = check(api, person)

    assert school["role"] is None
    assert school["code"] == "access_removed"
    assert school["rules"] == ["R14"]
    assert removal["events"][0]["event_id"] in school["evidence"]
    assert (school["reason"], school["evidence"]) == (decided["reason"], decided["evidence"])


def test_an_organization_where_a_role_is_held_carries_no_explanation(api: Api, world: World) -> None:
    redeem(api, STAFF[0], world.code)
    school = org_rights(api, STAFF[0])["S-1"]
    assert school["role"] == "school_admin"
    assert (school["code"], school["reason"], school["rules"], school["evidence"]) == (None, None, [], [])
