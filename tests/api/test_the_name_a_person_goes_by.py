"""The name a person goes by, after their registration is voided and recorded again with its first effective
time: search, who-had-access and the console's person page all show the later name change, and none of them
shows a name while no registration of theirs is known."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.api.conftest import PAST, SECRETS, Api, S, World, redeem

PERSON = "P-LIND"


def voided_and_registered_again(api: Api, world: World) -> None:
    """A staff member registered as Ana Lind holds S-1's code; renamed Bea Lind on Aug 1, 2025; her registration
    voided (wrong email), then recorded again with its first effective time."""
    first = api.ok(type="register_person", person_id=PERSON, name="Ana Lind", email="ana@x.org", effective_at=PAST)
    api.ok(type="add_affiliation", person_id=PERSON, org_id=S, effective_at=PAST)
    api.ok(type="accept_terms", person_id=PERSON, terms_version="v1", effective_at=PAST)
    assert redeem(api, PERSON, world.code).status_code == 201
    api.ok(type="update_profile", person_id=PERSON, name="Bea Lind", effective_at="2025-08-01")
    api.ok(type="void_event", event_id=first["events"][0]["event_id"], reason="wrong email")


def found_names(api: Api, query: str) -> dict[str, str | None]:
    answer = api.get("/v1/people", "support", query=query)
    assert answer.status_code == 200, answer.text
    return {p["person_id"]: p["name"] for p in answer.json()["people"]}


def access_names(api: Api) -> dict[str, str | None]:
    answer = api.get(f"/v1/orgs/{S}/access", "auditor", from_="2025-07-01", to="2026-08-01")
    assert answer.status_code == 200, answer.text
    return {e["person_id"]: e["person_name"] for e in answer.json()["entries"]}


def test_search_and_who_had_access_name_no_one_for_a_voided_registration_then_the_later_name_change(
    api: Api, world: World
) -> None:
    voided_and_registered_again(api, world)
    assert found_names(api, "lind") == {}
    assert PERSON not in access_names(api)

    api.ok(type="register_person", person_id=PERSON, name="Ana Lind", email="ana@lind.org", effective_at=PAST)
    assert found_names(api, "lind") == {PERSON: "Bea Lind"}
    assert access_names(api)[PERSON] == "Bea Lind"


def holding_every_write(api: Api) -> Api:
    """The app once its process holds everything written: the console's pages read at the process's
    position (which never goes back) and take no `min_position`."""
    assert api.get("/v1/people", "support", query="p-").status_code == 200
    return api


def console(api: Api) -> TestClient:
    """The app's console, signed in as support."""
    http = api.http
    form = http.get("/console/sign-in")
    token = re.search(r'name="form_token" value="([^"]+)"', form.text)
    assert token
    done = http.post(
        "/console/sign-in",
        data={"api_key": SECRETS["support"], "form_token": token.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    return http


def heading(page: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page, flags=re.S)
    assert found
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def test_the_console_person_page_is_not_found_for_a_voided_registration_then_shows_the_later_name_change(
    api: Api, world: World
) -> None:
    voided_and_registered_again(api, world)
    support = console(holding_every_write(api))
    assert support.get(f"/console/people/{PERSON}").status_code == 404

    api.ok(type="register_person", person_id=PERSON, name="Ana Lind", email="ana@lind.org", effective_at=PAST)
    holding_every_write(api)
    assert heading(support.get(f"/console/people/{PERSON}").text) == f"Bea Lind {PERSON}"
