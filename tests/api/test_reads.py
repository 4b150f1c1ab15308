"""The reads of the HTTP API: check, rights, timeline, access, windows, events, verify, healthz — bodies and statuses."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.deps import Container
from tests.api.conftest import PRINCIPAL, STAFF, TEACHER, Api, D, World, redeem
from tests.api.test_commands import assert_error, instant

CHECK_FIELDS = {"allowed", "role", "rules", "reason", "evidence", "position"}
DATAFILE: dict[str, Any] = {"org_id": "S-1", "report": "student_datafile", "exam_year": 2025, "school_id": "S-1"}


def container(api: Api) -> Container:
    found = api.http.app.state.container  # type: ignore[attr-defined]
    assert isinstance(found, Container)
    return found


# --- check ---------------------------------------------------------------------------------------------


def test_check_answers_exactly_allowed_role_rules_reason_evidence_position(api: Api, world: World) -> None:
    redeemed = redeem(api, STAFF[0], world.code).json()
    response = api.check(person_id=STAFF[0], at="2025-07-08", min_position=redeemed["position"], **DATAFILE)

    assert response.status_code == 200
    body = response.json()
    assert CHECK_FIELDS <= set(body) <= CHECK_FIELDS | {"code"}
    assert body["allowed"] is True
    assert body["role"] == "school_admin"
    assert body["rules"][0] == "R8"
    assert isinstance(body["reason"], str)
    assert body["reason"]
    assert redeemed["events"][0]["event_id"] in body["evidence"]
    assert body["position"] == redeemed["position"]


def test_check_of_a_teacher_names_the_teacher_rules(api: Api, world: World) -> None:
    body = api.check(
        person_id=TEACHER,
        at="2025-07-08",
        org_id="S-1",
        report="subject_score_roster",
        exam_year=2025,
        school_id="S-1",
        subject="AP-BIO",
        section_id="BIO-1",
    ).json()
    assert body["allowed"] is True
    assert body["role"] == "teacher"
    assert "R3" in body["rules"]
    denied = api.check(person_id=TEACHER, at="2025-07-08", **DATAFILE).json()
    assert denied["allowed"] is False
    assert denied["role"] == "teacher"


def test_check_of_an_unknown_person_is_200_not_allowed_with_r1(api: Api, world: World) -> None:
    response = api.check(person_id="P-NOBODY", at="2025-07-08", **DATAFILE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["allowed"] is False
    assert body["role"] is None
    assert body["rules"] == ["R1"]
    assert body["evidence"] == []


def test_check_for_an_unknown_organization_or_school_is_404(api: Api, world: World) -> None:
    assert_error(
        api.check(person_id=STAFF[0], org_id="S-NOWHERE", report="student_datafile", exam_year=2025, school_id="S-1"),
        404,
    )
    error = assert_error(
        api.check(person_id=STAFF[0], org_id="S-1", report="student_datafile", exam_year=2025, school_id="S-NOWHERE"),
        404,
    )
    assert error["field"] == "school_id"


def test_check_needs_school_id_except_for_the_district_score_summary(api: Api, world: World) -> None:
    error = assert_error(
        api.check(person_id=STAFF[0], org_id="S-1", report="student_datafile", exam_year=2025), 422, "invalid_input"
    )
    assert error["field"] == "school_id"
    response = api.check(person_id="P-SUP", org_id=D, report="district_score_summary", exam_year=2025)
    assert response.status_code == 200, response.text


def test_check_with_malformed_input_is_422_naming_the_field(api: Api, world: World) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"at": "2025-13-01"}, "at"),
        ({"at": "July 8"}, "at"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"as_of": "-3"}, "as_of"),
        ({"exam_year": "twenty"}, "exam_year"),
        ({"exam_year": 99999}, "exam_year"),
        ({"report": "everything"}, "report"),
        ({"min_position": -1}, "min_position"),
    ]
    for override, field in cases:
        error = assert_error(api.check(**{"person_id": STAFF[0], **DATAFILE, **override}), 422, "invalid_input")
        assert error["field"] == field, (override, error)
    missing = assert_error(api.check(org_id="S-1", report="student_datafile", exam_year=2025, school_id="S-1"), 422)
    assert missing["field"] == "person_id"


def test_as_of_takes_a_position_or_an_instant(api: Api, world: World) -> None:
    redeemed = redeem(api, STAFF[0], world.code).json()
    recorded_at = instant(redeemed["recorded_at"])

    def check(as_of: object) -> dict[str, Any]:
        response = api.check(person_id=STAFF[0], at="2025-07-08", as_of=as_of, **DATAFILE)
        assert response.status_code == 200, response.text
        return dict(response.json())

    before, after = check(world.position), check(redeemed["position"])
    assert (before["allowed"], before["position"]) == (False, world.position)
    assert (after["allowed"], after["position"]) == (True, redeemed["position"])

    just_before = check((recorded_at - timedelta(microseconds=1)).isoformat())
    at_recording = check(recorded_at.isoformat())
    in_new_york = check(recorded_at.astimezone(ZoneInfo("America/New_York")).isoformat())
    assert (just_before["allowed"], just_before["position"]) == (False, world.position)
    assert (at_recording["allowed"], at_recording["position"]) == (True, redeemed["position"])
    assert in_new_york["position"] == redeemed["position"]
    # "Z" is UTC too.
    zulu = check(recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    assert zulu["position"] == redeemed["position"]


def test_at_takes_an_instant_or_a_date_read_as_the_start_of_that_day_in_the_ledgers_zone(
    api: Api, world: World
) -> None:
    api.ok(
        type="redeem_access_code",
        school_id="S-1",
        exam_year=2025,
        person_id=STAFF[0],
        code=world.code,
        effective_at="2025-07-10",
    )
    position = api.position()

    def allowed(at: str) -> bool:
        response = api.check(person_id=STAFF[0], at=at, min_position=position, **DATAFILE)
        assert response.status_code == 200, response.text
        return bool(response.json()["allowed"])

    assert allowed("2025-07-10")
    assert allowed("2025-07-10T00:00:00-04:00")
    assert allowed("2025-07-10T04:00:00Z")
    assert not allowed("2025-07-10T03:59:59Z")
    assert not allowed("2025-07-09T23:59:59-04:00")
    assert not allowed("2025-07-09")


def test_min_position_waits_for_the_projection_then_answers(api: Api, world: World) -> None:
    runner = container(api).system.runner
    runner.stop()  # the projection falls behind until the thread below catches it up
    redeemed = redeem(api, STAFF[0], world.code).json()
    assert runner.view.tracked() < redeemed["position"]

    def catch_up_later() -> None:
        time.sleep(0.4)
        runner.catch_up()

    helper = threading.Thread(target=catch_up_later)
    helper.start()
    started = time.monotonic()
    response = api.check(person_id=STAFF[0], at="2025-07-08", min_position=redeemed["position"], **DATAFILE)
    waited = time.monotonic() - started
    helper.join()

    assert response.status_code == 200, response.text
    assert response.json()["allowed"] is True
    assert response.json()["position"] >= redeemed["position"]
    assert waited >= 0.3


def test_min_position_that_cannot_be_reached_in_time_is_503_with_a_clear_error(make_client: Any) -> None:
    api = make_client(project=False, read_wait_seconds=0.2)
    written = api.ok(type="register_district", district_id="D-9", name="Nine")
    started = time.monotonic()
    response = api.check(
        person_id="P-1", org_id="D-9", report="district_score_summary", exam_year=2025, min_position=written["position"]
    )
    assert time.monotonic() - started < 5
    error = assert_error(response, 503, "projection_timeout")
    assert error["field"] == "min_position"
    assert str(written["position"]) in error["message"]
    # Other reads with min_position fail the same way.
    assert_error(api.get("/v1/orgs/D-9/windows", "portal", min_position=written["position"]), 503)


# --- rights and timeline -------------------------------------------------------------------------------


def test_rights_lists_each_organization_with_role_validity_scopes_and_sources(api: Api, world: World) -> None:
    redeemed = redeem(api, STAFF[0], world.code).json()
    response = api.get(f"/v1/people/{STAFF[0]}/rights", "portal", at="2025-07-08", min_position=redeemed["position"])
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"person_id", "at", "position", "terms_accepted", "organizations"}
    assert body["person_id"] == STAFF[0]
    assert instant(body["at"]) == instant("2025-07-08T00:00:00-04:00")
    assert body["position"] == redeemed["position"]
    assert body["terms_accepted"] is True
    (org,) = body["organizations"]
    assert set(org) >= {"org_id", "role", "roles", "valid_from", "valid_to", "scopes", "sources"}
    assert (org["org_id"], org["role"], org["roles"]) == ("S-1", "school_admin", ["school_admin"])
    assert instant(org["valid_from"]) == instant("2025-07-02T00:00:00-04:00")
    assert instant(org["valid_to"]) == instant("2026-08-01T00:00:00-04:00")  # the code expires after Jul 31, 2026
    assert redeemed["events"][0]["event_id"] in org["sources"]
    assert org["scopes"]


def test_rights_show_an_open_end_as_null(api: Api, world: World) -> None:
    body = api.get(f"/v1/people/{TEACHER}/rights", "portal", at="2025-07-08").json()
    (org,) = body["organizations"]
    assert org["role"] == "teacher"
    assert org["valid_to"] is None  # no later release yet: nothing ends the teacher's access


def test_rights_as_of_an_earlier_position_show_what_was_known_then(api: Api, world: World) -> None:
    redeem(api, STAFF[0], world.code)
    body = api.get(f"/v1/people/{STAFF[0]}/rights", "portal", at="2025-07-08", as_of=world.position).json()
    assert body["position"] == world.position
    # Affiliated with S-1 (R13) but holding no role there yet.
    assert [(o["org_id"], o["role"], o["valid_to"]) for o in body["organizations"]] == [("S-1", None, None)]


def test_rights_and_timeline_of_an_unknown_person_are_404(api: Api, world: World) -> None:
    assert_error(api.get("/v1/people/P-NOBODY/rights", "portal"), 404, "unknown_person")
    assert_error(api.get("/v1/people/P-NOBODY/timeline", "support"), 404, "unknown_person")


def test_the_timeline_shows_events_with_both_times_and_intervals_known_from_and_to(api: Api, world: World) -> None:
    redeemed = api.ok(
        type="redeem_access_code",
        school_id="S-1",
        exam_year=2025,
        person_id=STAFF[0],
        code=world.code,
        effective_at="2025-07-02",
    )
    removed = api.ok(
        type="remove_access", person_id=STAFF[0], org_id="S-1", removed_by=PRINCIPAL, effective_at="2025-07-05"
    )
    response = api.get(f"/v1/people/{STAFF[0]}/timeline", "support", min_position=removed["position"])
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"person_id", "position", "events", "intervals"}
    assert (body["person_id"], body["position"]) == (STAFF[0], removed["position"])

    types = [e["type"] for e in body["events"]]
    assert types == ["PersonRegistered", "AffiliationAdded", "TermsAccepted", "AccessCodeRedeemed", "AccessRemoved"]
    for e in body["events"]:
        assert set(e) >= {"event_id", "type", "position", "recorded_at", "effective_at", "actor", "data"}
        instant(e["recorded_at"]), instant(e["effective_at"])
    removal = body["events"][-1]
    assert instant(removal["effective_at"]) < instant(removal["recorded_at"])  # reported late

    intervals = [i for i in body["intervals"] if i["org_id"] == "S-1"]
    for i in intervals:
        assert set(i) >= {"org_id", "role", "valid_from", "valid_to", "known_from", "known_to", "sources"}
    superseded = [i for i in intervals if i["known_to"] is not None]
    current = [i for i in intervals if i["known_to"] is None]
    assert len(superseded) == 1
    assert len(current) == 1
    (old,), (new,) = superseded, current
    # Until the removal was recorded the ledger held access to the code's expiry; since then, to Jul 5.
    assert instant(old["known_from"]) == instant(redeemed["recorded_at"])
    assert instant(old["known_to"]) == instant(removed["recorded_at"]) == instant(new["known_from"])
    assert instant(old["valid_to"]) == instant("2026-08-01T00:00:00-04:00")
    assert instant(new["valid_to"]) == instant("2025-07-05T00:00:00-04:00")
    assert old["valid_from"] == new["valid_from"]
    assert redeemed["events"][0]["event_id"] in old["sources"]


# --- who had access, windows ---------------------------------------------------------------------------


def test_who_had_access_lists_person_role_interval_and_sources(api: Api, world: World) -> None:
    redeemed = redeem(api, STAFF[0], world.code).json()
    response = api.get(
        "/v1/orgs/S-1/access", "support", from_="2025-07-01", to="2025-08-01", min_position=redeemed["position"]
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"org_id", "from", "to", "position", "entries"}
    assert body["org_id"] == "S-1"
    assert instant(body["from"]) == instant("2025-07-01T00:00:00-04:00")
    assert instant(body["to"]) == instant("2025-08-01T00:00:00-04:00")
    assert body["position"] == redeemed["position"]
    by_person = {e["person_id"]: e for e in body["entries"]}
    assert set(by_person) == {STAFF[0], TEACHER}
    for e in body["entries"]:
        assert set(e) >= {"person_id", "role", "valid_from", "valid_to", "sources"}
    assert by_person[STAFF[0]]["role"] == "school_admin"
    assert redeemed["events"][0]["event_id"] in by_person[STAFF[0]]["sources"]
    assert by_person[TEACHER]["role"] == "teacher"
    assert by_person[TEACHER]["valid_to"] is None

    aggregate = api.get("/v1/orgs/S-1/access", "auditor", from_="2025-07-01", to="2025-08-01", level="aggregate")
    assert aggregate.status_code == 200
    earlier = api.get("/v1/orgs/S-1/access", "auditor", from_="2025-07-01", to="2025-08-01", as_of=world.position)
    assert {e["person_id"] for e in earlier.json()["entries"]} == {TEACHER}


def test_who_had_access_names_people_and_grants_and_shows_times_in_the_ledgers_zone(api: Api, world: World) -> None:
    redeemed = redeem(api, STAFF[0], world.code).json()
    body = api.get("/v1/orgs/S-1/access", "auditor", from_="2025-07-01", to="2026-08-01").json()
    assert (body["org_name"], body["zone"], body["clipped"]) == ("School One", "America/New_York", False)
    assert body["from_local"] == "2025-07-01T00:00:00-04:00"
    staff = next(e for e in body["entries"] if e["person_id"] == STAFF[0])
    assert (staff["person_name"], staff["via_org_name"]) == (f"Person {STAFF[0]}", "School One")
    assert staff["valid_from_local"] == "2025-07-07T00:00:00-04:00"  # the release day, in EDT
    assert instant(staff["valid_from_local"]) == instant(staff["valid_from"])
    assert staff["valid_to_local"] == "2026-08-01T00:00:00-04:00"
    assert [g["event_id"] for g in staff["grants"]] == staff["sources"]
    redemption = redeemed["events"][0]
    assert {"event_id": redemption["event_id"], "type": "AccessCodeRedeemed", "position": redemption["position"]} in (
        staff["grants"]
    )


def test_who_had_access_with_clip_cuts_intervals_to_the_range_and_without_it_shows_them_whole(
    api: Api, world: World
) -> None:
    redeem(api, STAFF[0], world.code)
    window = {"from_": "2025-12-01", "to": "2026-01-01"}
    whole = api.get("/v1/orgs/S-1/access", "auditor", **window).json()
    clipped = api.get("/v1/orgs/S-1/access", "auditor", **window, clip="true").json()
    assert (whole["clipped"], clipped["clipped"]) == (False, True)
    by_person = {e["person_id"]: e for e in whole["entries"]}
    assert by_person[TEACHER]["valid_to"] is None  # open
    assert instant(by_person[STAFF[0]]["valid_from"]) < instant("2025-12-01T00:00:00-05:00")
    assert {e["person_id"] for e in clipped["entries"]} == set(by_person)
    for e in clipped["entries"]:
        assert (e["valid_from_local"], e["valid_to_local"]) == (
            "2025-12-01T00:00:00-05:00",
            "2026-01-01T00:00:00-05:00",
        )
        assert e["grants"] == by_person[e["person_id"]]["grants"]


def test_who_had_access_refuses_a_clip_that_is_not_a_boolean_and_a_parameter_it_does_not_read(
    api: Api, world: World
) -> None:
    window = {"from_": "2025-07-01", "to": "2025-08-01"}
    error = assert_error(api.get("/v1/orgs/S-1/access", "support", **window, clip="maybe"), 422, "invalid_input")
    assert error["field"] == "clip"
    error = assert_error(api.get("/v1/orgs/S-1/access", "support", **window, clipped="true"), 422, "invalid_input")
    assert error["field"] == "clipped"


def test_who_had_access_refuses_malformed_windows_with_422(api: Api, world: World) -> None:
    for params, field in [
        ({"to": "2025-08-01"}, "from"),
        ({"from_": "2025-07-01"}, "to"),
        ({"from_": "2025-07-32", "to": "2025-08-01"}, "from"),
        ({"from_": "2025-08-01", "to": "2025-07-01"}, "to"),
        ({"from_": "2025-07-01", "to": "2025-08-01", "level": "secret"}, "level"),
    ]:
        error = assert_error(api.get("/v1/orgs/S-1/access", "support", **params), 422, "invalid_input")
        assert error["field"] == field, (params, error)


def test_access_and_windows_of_an_unknown_organization_are_404(api: Api, world: World) -> None:
    assert_error(api.get("/v1/orgs/S-NOWHERE/access", "support", from_="2025-07-01", to="2025-08-01"), 404)
    assert_error(api.get("/v1/orgs/S-NOWHERE/windows", "portal"), 404)


def test_windows_of_a_school_show_the_released_year_code_and_staff_places(api: Api, world: World) -> None:
    redeemed = redeem(api, STAFF[0], world.code).json()
    response = api.get("/v1/orgs/S-1/windows", "portal", at="2025-07-08", min_position=redeemed["position"])
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"org_id", "at", "position", "current_released_year"}
    assert (body["org_id"], body["position"], body["current_released_year"]) == ("S-1", redeemed["position"], 2025)
    assert instant(body["at"]) == instant("2025-07-08T00:00:00-04:00")
    (code,) = body["codes"]
    assert (code["exam_year"], code["staff_places_used"], code["staff_places_free"]) == (2025, 1, 4)
    assert world.code not in response.text
    teacher = next(t for t in body["teachers"] if t["person_id"] == TEACHER)
    assert teacher["holds_current_year"] is True

    before_release = api.get("/v1/orgs/S-1/windows", "portal", at="2025-07-06").json()
    assert before_release["current_released_year"] is None


def test_windows_of_a_district(api: Api, world: World) -> None:
    body = api.get(f"/v1/orgs/{D}/windows", "support", at="2025-07-08").json()
    assert (body["org_id"], body["current_released_year"]) == (D, 2025)


# --- feed, verify, healthz -----------------------------------------------------------------------------


def test_the_feed_pages_by_after_and_limit_in_ledger_order(api: Api, world: World) -> None:
    seen: list[int] = []
    after = 0
    while True:
        page = api.get("/v1/events", after=after, limit=7).json()
        assert set(page) == {"events", "next_after"}
        if not page["events"]:
            assert page["next_after"] == after
            break
        assert len(page["events"]) <= 7
        seen += [e["position"] for e in page["events"]]
        assert page["next_after"] == page["events"][-1]["position"]
        after = page["next_after"]
    assert seen == list(range(1, world.position + 1))

    first = api.get("/v1/events", limit=1).json()["events"][0]
    assert set(first) >= {"event_id", "type", "position", "recorded_at", "effective_at", "actor", "data"}
    assert first["type"] == "DistrictRegistered"
    assert first["data"]["district_id"] == D
    instant(first["recorded_at"]), instant(first["effective_at"])


def test_the_feed_refuses_a_bad_page_with_422(api: Api) -> None:
    for params in ({"limit": 0}, {"limit": 100_000}, {"after": -1}, {"after": "start"}):
        error = assert_error(api.get("/v1/events", **params), 422, "invalid_input")
        assert error["field"] in ("limit", "after")


def test_verify_says_the_stored_events_are_intact(api: Api, world: World) -> None:
    body = api.get("/v1/verify").json()
    assert set(body) >= {"ok", "checked", "position", "first_bad_position"}
    assert body["ok"] is True
    assert body["checked"] == body["position"] == world.position
    assert body["first_bad_position"] is None


def test_healthz_answers_ok_and_the_latest_position_without_a_key(api: Api, world: World) -> None:
    response = api.http.get("/healthz")
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["position"] == world.position
