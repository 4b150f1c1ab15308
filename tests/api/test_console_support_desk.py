"""What the console tells a support person: finding people, events by type and position, names beside ids,
why someone has no access, one date format, and previewing a correction (TestClient, the demo history)."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.conftest import DEMO_SECRETS


def text_of(page: str) -> str:
    blocks = re.sub(r"</?(?:td|th|tr|li|p|div|dt|dd|h\d|br|ul|table|section|caption|option)\b[^>]*>", " ", page)
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", "", blocks))).strip()


def signed_in(app: FastAPI, role: str) -> TestClient:
    http = TestClient(app)
    form = http.get("/console/sign-in")
    token = re.search(r'name="form_token" value="([^"]+)"', form.text)
    assert token
    done = http.post(
        "/console/sign-in",
        data={"api_key": DEMO_SECRETS[role], "form_token": token.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    return http


@pytest.fixture
def support(demo_app: FastAPI) -> TestClient:
    return signed_in(demo_app, "support")


@pytest.fixture
def auditor(demo_app: FastAPI) -> TestClient:
    return signed_in(demo_app, "auditor")


# --- find people -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/console/", "/console/explain", "/console/people/P-4002", "/console/orgs/S-110"])
def test_every_page_has_the_search_box(support: TestClient, path: str) -> None:
    page = support.get(path)
    assert 'action="/console/search"' in page.text
    assert "Find a person (name, email or id)" in page.text


def test_one_match_opens_the_person_and_several_are_listed_with_names(support: TestClient) -> None:
    one = support.get("/console/search", params={"q": "DUBOIS"}, follow_redirects=False)
    assert one.status_code == 303
    assert one.headers["location"] == "/console/people/P-4002"
    several = support.get("/console/search", params={"q": "p-40"})
    text = text_of(several.text)
    assert "P-4001" in text
    assert "P-4002 Claire Dubois" in text
    none = support.get("/console/search", params={"q": "zz-nobody"})
    assert "Nobody matches “zz-nobody”" in text_of(none.text)


# --- events by type and position, names beside ids ----------------------------------------------------


def removal_link(page: str) -> re.Match[str]:
    found = re.search(
        r'<a class="event-ref" href="/console/events/([^"]+)" title="event \1">AccessRemoved #(\d+)</a>', page
    )
    assert found, "the removal is shown by type and position, its full id in the title"
    return found


def test_events_are_shown_by_type_and_position_with_the_full_id_on_hover(support: TestClient) -> None:
    page = support.get("/console/people/P-4002").text
    removal = removal_link(page)
    timeline = support.get(
        "/v1/people/P-4002/timeline", headers={"Authorization": f"Bearer {DEMO_SECRETS['support']}"}
    ).json()
    (event,) = [e for e in timeline["events"] if e["type"] == "AccessRemoved"]
    assert removal.group(1) == event["event_id"]
    assert int(removal.group(2)) == event["position"]
    assert f">{event['event_id'][:8]}<" not in page  # no cut-off ids as link texts


def test_the_event_page_names_who_acted_in_which_office_and_offers_the_full_id_to_copy(support: TestClient) -> None:
    event_id = removal_link(support.get("/console/people/P-4002").text).group(1)
    page = support.get(f"/console/events/{event_id}").text
    text = text_of(page)
    assert "removed_by P-2001 (Linda Park, principal of S-110)" in text
    assert "org_id S-110 (Lakeside High School)" in text
    assert "person_id P-4002 (Claire Dubois)" in text
    assert f'<code class="copy-id" title="one click selects it all">{event_id}</code>' in page


def test_the_organization_page_names_the_people_and_schools(support: TestClient) -> None:
    page = support.get("/console/orgs/S-110", params={"from": "2025-07-01", "to": "2025-08-01"})
    text = text_of(page.text)
    assert "Lakeside High School" in text
    assert "P-4002 Claire Dubois" in text


# --- the person page ------------------------------------------------------------------------------------


def test_the_person_page_says_why_someone_has_no_access(support: TestClient) -> None:
    text = text_of(support.get("/console/people/P-4002").text)
    assert (
        "No access: removed effective 2025-07-05 00:00 EDT by P-2001 (Linda Park, principal of S-110), recorded 2025-07-20 14:00 EDT"
        in text
    )
    assert "affiliated, no role" not in text


def test_terms_of_use_show_the_acceptance_own_date(support: TestClient) -> None:
    timeline = support.get(
        "/v1/people/P-4002/timeline", headers={"Authorization": f"Bearer {DEMO_SECRETS['support']}"}
    ).json()
    (accepted,) = [e for e in timeline["events"] if e["type"] == "TermsAccepted"]
    page = support.get("/console/people/P-4002", params={"at": "2025-07-08T12:00"}).text
    shown = re.search(r'<strong id="terms-accepted">(.*?)</strong>', page)
    assert shown
    assert accepted["effective_at"][:10] in shown.group(1)
    assert "2025-07-08" not in shown.group(1)  # not the date the rights are shown for


def test_explain_defaults_to_student_level_data_for_an_administrator(support: TestClient) -> None:
    page = support.get("/console/people/P-4002").text
    link = re.search(r'<a href="(/console/explain\?[^"]+)">Explain…</a>', page)
    assert link
    target = html_lib.unescape(link.group(1))
    assert "report=student_score_report" in target
    assert "school_id=S-110" in target
    verdict = text_of(support.get(target).text)
    assert "Denied" in verdict
    assert "R14" in verdict


# --- one date-and-time control, one display format ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("/console/people/P-4002", ["known", "at"]),
        ("/console/explain", ["at", "as_of"]),
        ("/console/orgs/S-110", ["from", "to", "as_of"]),
        ("/console/people/P-4002/preview", ["effective"]),
    ],
)
def test_every_page_asks_for_times_with_one_control_showing_the_zone(
    support: TestClient, path: str, names: list[str]
) -> None:
    page = support.get(path).text
    for name in names:
        assert re.search(rf'<input type="date" id="[^"]+" name="{name}"', page), name
        assert re.search(rf'<input type="time" id="[^"]+" name="{name}_time"', page), name
    assert "America/New_York (E" in page  # the zone beside every control (EDT or EST)
    assert 'type="datetime-local"' not in page


def test_the_control_date_and_time_are_read_together_in_the_ledger_zone(support: TestClient) -> None:
    joined = support.get("/console/people/P-4002", params={"known": "2025-07-08", "known_time": "12:00"})
    assert "What the ledger said on 2025-07-08 12:00 EDT" in text_of(joined.text)
    day_only = support.get("/console/people/P-4002", params={"known": "2025-07-08"})
    assert "What the ledger said on 2025-07-08 00:00 EDT" in text_of(day_only.text)


# --- previewing a correction -----------------------------------------------------------------------------


def test_support_previews_a_late_removal_on_the_person_page_and_nothing_is_recorded(support: TestClient) -> None:
    person = support.get("/console/people/P-4001")
    assert 'id="preview-link"' in person.text
    before = support.get("/healthz").json()["position"]
    page = support.get(
        "/console/people/P-4001/preview",
        params={
            "type": "remove_access",
            "org_id": "S-110",
            "removed_by": "P-2001",
            "effective": "2025-07-10",
            "effective_time": "",
        },
    )
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Would be recorded" in text
    assert "AccessRemoved at position #" in text
    row = re.search(r"<tr><td><a href=\"/console/people/P-4001\">.*?</tr>", page.text, re.S)
    assert row
    cells = text_of(row.group(0))
    assert "school_admin ends earlier" in cells
    assert "2026-08-01 00:00 EDT" in cells  # before: until the code expires
    assert "2025-07-10 00:00 EDT" in cells  # after: until the removal
    assert support.get("/healthz").json()["position"] == before


def test_a_refused_correction_is_shown_with_its_rule(support: TestClient) -> None:
    page = support.get(
        "/console/people/P-4001/preview",
        params={"type": "remove_access", "org_id": "S-110", "removed_by": "P-1002"},
    )
    text = text_of(page.text)
    assert "Would be refused" in text
    assert "(R14)" in text


def test_previewing_corrections_is_for_support_only(auditor: TestClient) -> None:
    assert 'id="preview-link"' not in auditor.get("/console/people/P-4001").text
    assert auditor.get("/console/people/P-4001/preview").status_code == 403


@pytest.mark.parametrize(
    ("path", "field", "page"), [("/console/people", "person_id", "people"), ("/console/orgs", "org_id", "orgs")]
)
def test_the_home_page_boxes_open_the_page_of_the_id_typed_and_an_empty_box_the_home_page(
    support: TestClient, path: str, field: str, page: str
) -> None:
    typed = support.get(path, params={field: " S/110 "}, follow_redirects=False)
    assert (typed.status_code, typed.headers["location"]) == (303, f"/console/{page}/S%2F110")
    empty = support.get(path, params={field: "  "}, follow_redirects=False)
    assert (empty.status_code, empty.headers["location"]) == (303, "/console/")
