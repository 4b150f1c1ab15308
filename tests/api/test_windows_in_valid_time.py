"""`GET /v1/orgs/{id}/windows` reads a school's codes in valid time, whatever order they were recorded in."""

from __future__ import annotations

from tests.api.conftest import STAFF, Api, S, World, redeem
from tests.api.test_commands import instant


def test_windows_list_one_valid_code_after_a_backdated_code_is_recorded_behind_its_reissue(
    api: Api, world: World
) -> None:
    a = api.ok(type="issue_access_code", school_id=S, exam_year=2025, effective_at="2025-07-24")["result"]
    b = api.ok(type="issue_access_code", school_id=S, exam_year=2025, effective_at="2025-07-10")["result"]

    late = redeem(api, STAFF[0], b["code"], effective_at="2025-07-25")
    assert late.status_code == 409, late.text
    assert (late.json()["error"]["code"], late.json()["error"]["rule"]) == ("code_revoked", "R10")
    assert redeem(api, STAFF[1], a["code"], effective_at="2025-07-25").status_code == 201

    response = api.get(f"/v1/orgs/{S}/windows", "portal", at="2025-07-25T13:00:00Z")
    assert response.status_code == 200, response.text
    codes = response.json()["codes"]
    valid = [c for c in codes if c["exam_year"] == 2025 and c["valid_at"]]
    assert [c["code_event_id"] for c in valid] == [a["code_event_id"]]
    assert (valid[0]["staff_places_used"], valid[0]["staff_places_free"]) == (1, 4)
    (backdated,) = [c for c in codes if c["code_event_id"] == b["code_event_id"]]
    assert instant(backdated["valid_from"]) == instant("2025-07-10T00:00:00-04:00")
    assert instant(backdated["valid_to"]) == instant("2025-07-24T00:00:00-04:00")
