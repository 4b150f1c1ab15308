"""The console through TestClient: sessions, CSRF, roles, escaping, and what each page tells a user.

One app over the demo history (loaded by `ledger demo`'s own code into a SQLite file);
each test gets its own TestClient, i.e. its own cookie jar.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from api import cli
from api.bootstrap import create_app
from api.console.state import utc_now
from api.settings import Settings
from ledger import events as ev
from ledger.access.vocabulary import Level

SECRETS = {
    "registrar": "console-registrar-secret-0123456789abcdefghijklmn",
    "portal": "console-portal-secret-0123456789abcdefghijklmn",
    "support": "console-support-secret-0123456789abcdefghijklmn",
    "auditor": "console-auditor-secret-0123456789abcdefghijklmn",
}
CHEAP_HASH = {"LEDGER_CODE_HASH_TIME_COST": "1", "LEDGER_CODE_HASH_MEMORY_KIB": "64"}
SESSION_COOKIE = "ledger_console"


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('console')}/ledger.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEDGER_DATABASE_URL", url)
        for name, value in CHEAP_HASH.items():
            mp.setenv(name, value)
        cli.demo(if_empty=False)
    return url


@pytest.fixture(scope="module")
def app(demo_url: str) -> Iterator[FastAPI]:
    settings = Settings(
        database_url=demo_url,
        api_keys=",".join(f"{role}:{role}:{secret}" for role, secret in SECRETS.items()),
        code_hash_time_cost=1,
        code_hash_memory_kib=64,
    )
    application = create_app(settings, announce=lambda _: None)
    with TestClient(application):  # runs the lifespan once: the ledger is opened and followed
        yield application


@pytest.fixture
def browser(app: FastAPI) -> TestClient:
    """A visitor with an empty cookie jar."""
    return TestClient(app, raise_server_exceptions=True)


def form_token(page: Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', page.text)
    assert found, f"no {name} in the page"
    return found.group(1)


def sign_in(http: TestClient, secret: str, next_: str = "/console/", **headers: str) -> Response:
    page = http.get("/console/sign-in", params={"next": next_})
    response: Response = http.post(
        "/console/sign-in",
        data={"api_key": secret, "form_token": form_token(page, "form_token"), "next": next_},
        headers=headers,
        follow_redirects=False,
    )
    return response


def signed_in(app: FastAPI, role: str) -> TestClient:
    http = TestClient(app, raise_server_exceptions=True)
    assert sign_in(http, SECRETS[role]).status_code == 303
    return http


@pytest.fixture
def support(app: FastAPI) -> TestClient:
    return signed_in(app, "support")


@pytest.fixture
def auditor(app: FastAPI) -> TestClient:
    return signed_in(app, "auditor")


def group_of(pattern: str, text: str) -> str:
    """The first group of the first match of `pattern` (across lines), which must be there."""
    found = re.search(pattern, text, re.S)
    assert found, f"no match for {pattern!r}"
    return found.group(1)


def text_of(html: str) -> str:
    """What a reader sees: block tags become spaces, inline tags vanish, whitespace collapses."""
    blocks = re.sub(r"</?(?:td|th|tr|li|p|div|dt|dd|h\d|br|ul|table|section|caption|text|title)\b[^>]*>", " ", html)
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", "", blocks))).strip()


def set_cookie_headers(response: Response) -> list[str]:
    return response.headers.get_list("set-cookie")


# --- sign-in, sessions, CSRF ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/console/",
        "/console/people/P-4002",
        "/console/explain",
        "/console/events/x",
        "/console/orgs/S-110",
        "/console/orgs/S-110/access.csv",
        "/console/integrity",
    ],
)
def test_every_console_page_sends_a_visitor_without_a_session_to_sign_in(browser: TestClient, path: str) -> None:
    response = browser.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/sign-in?next=")


def test_a_support_key_signs_in_with_an_http_only_strict_cookie_that_holds_only_a_random_id(
    browser: TestClient,
) -> None:
    response = sign_in(browser, SECRETS["support"], "/console/people/P-4002")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/people/P-4002"
    cookie = next(c for c in set_cookie_headers(response) if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here
    assert "Max-Age=3600" in cookie  # console_session_minutes = 60
    for header in set_cookie_headers(response):
        assert SECRETS["support"] not in header
    page = browser.get("/console/people/P-4002")
    assert page.status_code == 200
    assert "Signed in as support (support)" in text_of(page.text)
    assert SECRETS["support"] not in page.text


def test_over_https_the_session_cookie_is_also_secure(app: FastAPI) -> None:
    http = TestClient(app, base_url="https://testserver")
    response = sign_in(http, SECRETS["auditor"])
    assert response.status_code == 303
    cookie = next(c for c in set_cookie_headers(response) if c.startswith(f"{SESSION_COOKIE}="))
    assert "Secure" in cookie
    assert "HttpOnly" in cookie


@pytest.mark.parametrize("role", ["registrar", "portal"])
def test_registrar_and_portal_keys_cannot_sign_in_and_get_the_wrong_keys_answer(browser: TestClient, role: str) -> None:
    response = sign_in(browser, SECRETS[role])
    wrong = sign_in(browser, "not-a-key-at-all")
    # The page does not confirm that the key is valid, nor say its role.
    assert (response.status_code, wrong.status_code) == (401, 401)
    assert "That key is not valid for the console" in response.text
    assert response.text.replace(form_token(response, "form_token"), "") == wrong.text.replace(
        form_token(wrong, "form_token"), ""
    )
    assert not any(c.startswith(f"{SESSION_COOKIE}=") for c in set_cookie_headers(response))
    assert browser.get("/console/", follow_redirects=False).status_code == 303


def test_a_wrong_key_is_refused_and_never_echoed(browser: TestClient) -> None:
    response = sign_in(browser, "not-a-key-<b>guess</b>")
    assert response.status_code == 401
    assert "That key is not valid for the console" in response.text
    assert "guess" not in response.text


def test_a_sign_in_posted_without_the_form_token_is_refused(browser: TestClient) -> None:
    """Another site cannot sign a browser in with its own key (login CSRF): the form token must match its cookie."""
    response = browser.post(
        "/console/sign-in", data={"api_key": SECRETS["support"], "form_token": "forged"}, follow_redirects=False
    )
    assert response.status_code == 400
    assert not any(c.startswith(f"{SESSION_COOKIE}=") for c in set_cookie_headers(response))


@pytest.mark.parametrize(
    ("target", "lands_on"),
    [
        ("https://evil.example/", "/console/"),
        ("//evil.example/console", "/console/"),
        ("/v1/events", "/console/"),
        ("/console/orgs/S-110?from=2025-07-01", "/console/orgs/S-110?from=2025-07-01"),
    ],
)
def test_after_sign_in_only_console_paths_of_this_site_are_followed(
    browser: TestClient, target: str, lands_on: str
) -> None:
    response = sign_in(browser, SECRETS["support"], target)
    assert response.headers["location"] == lands_on


def test_a_session_expires_after_the_configured_minutes(app: FastAPI, support: TestClient) -> None:
    assert support.get("/console/", follow_redirects=False).status_code == 200
    sessions = app.state.console.sessions
    sessions.clock = lambda: utc_now() + timedelta(minutes=61)
    try:
        response = support.get("/console/", follow_redirects=False)
    finally:
        sessions.clock = utc_now
    assert response.status_code == 303
    assert support.get("/console/", follow_redirects=False).status_code == 303  # gone for good


def test_sign_out_needs_the_form_token_and_ends_the_session(support: TestClient) -> None:
    home = support.get("/console/")
    refused = support.post("/console/sign-out", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert support.get("/console/", follow_redirects=False).status_code == 200  # still signed in
    done = support.post(
        "/console/sign-out", data={"csrf_token": form_token(home, "csrf_token")}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/console/sign-in"
    assert support.get("/console/", follow_redirects=False).status_code == 303


def test_a_form_posted_from_another_site_is_refused_even_with_the_token(auditor: TestClient) -> None:
    page = auditor.get("/console/integrity")
    response = auditor.post(
        "/console/integrity",
        data={"csrf_token": form_token(page, "csrf_token")},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "posted from another site" in response.text


# --- escaping and headers ----------------------------------------------------------------------------


def test_names_and_inputs_are_escaped_everywhere(app: FastAPI, support: TestClient) -> None:
    registrar = TestClient(app)
    hostile = '<script>alert("x")</script> & <b>Co</b>'
    created = registrar.post(
        "/v1/commands",
        json={
            "type": "register_person",
            "person_id": "P-EVIL",
            "name": hostile,
            "email": "evil@x.org",
            "effective_at": "2025-01-01",
        },
        headers={"Authorization": f"Bearer {SECRETS['registrar']}"},
    )
    assert created.status_code == 201, created.text
    caught_up = support.get(
        "/v1/people/P-EVIL/rights",
        params={"min_position": created.json()["position"]},
        headers={"Authorization": f"Bearer {SECRETS['support']}"},
    )
    assert caught_up.status_code == 200

    page = support.get("/console/people/P-EVIL")
    assert page.status_code == 200
    assert hostile not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;" in page.text

    echoed = support.get(
        "/console/explain",
        params={
            "person_id": '"><script>x()</script>',
            "org_id": "S-110",
            "report": "score_summary",
            "exam_year": "2025",
        },
    )
    assert "<script>x()" not in echoed.text
    assert 'value="&#34;&gt;&lt;script&gt;x()&lt;/script&gt;"' in echoed.text


@pytest.mark.parametrize(
    "path",
    [
        "/console/",
        "/console/people/P-4002",
        "/console/explain",
        "/console/orgs/S-110",
        "/console/integrity",
    ],
)
def test_console_pages_carry_no_scripts_and_are_not_cached(support: TestClient, path: str) -> None:
    page = support.get(path)
    assert page.status_code == 200
    assert "<script" not in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # so no script may run at all
    assert "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-store"


# --- the person page ----------------------------------------------------------------------------------


def test_the_person_page_shows_what_the_ledger_said_on_july_8_and_what_it_knows_today(support: TestClient) -> None:
    today = support.get("/console/people/P-4002")
    assert 'id="dispute"' not in today.text
    then = support.get("/console/people/P-4002", params={"known": "2025-07-08T12:00"})
    dispute = text_of(then.text.split('id="dispute"')[1].split("</section>")[0])
    assert "on 2025-07-08 12:00 EDT the ledger said school_admin; today we know no access changed since" in dispute
    intervals = then.text.split('id="intervals"')[1].split("</table>")[0]
    then_only = text_of(group_of(r'<tr class="status-then-only">(.*?)</tr>', intervals))
    now_only = text_of(group_of(r'<tr class="status-now-only">(.*?)</tr>', intervals))
    assert "2025-07-02 09:30 EDT 2026-08-01" in then_only  # the code's expiry: believed then
    assert "believed then, no longer" in then_only
    assert "2025-07-02 09:30 EDT 2025-07-05" in now_only  # the removal, learned on Jul 20
    assert "learned later" in now_only
    assert then.text.count('class="bar then-only"') == 1
    assert then.text.count('class="bar now-only"') == 1


def test_the_person_page_lists_every_event_with_both_times_and_its_voids(support: TestClient) -> None:
    page = support.get("/console/people/P-1003")
    events = page.text.split('id="events"')[1].split("</table>")[0]
    voided = [text_of(row) for row in re.findall(r'<tr class="voided\s*">(.*?)</tr>', events, re.S)]
    assert len(voided) == 1
    assert "CourseAuthorized" in voided[0]
    assert "school_id S-130" in voided[0]
    assert re.search(r"voided at #\d+, \d{4}-\d\d-\d\d", voided[0])  # the void's position and recorded time
    removal = text_of(
        group_of(r"<tr[^>]*>((?:(?!</tr>).)*AccessRemoved.*?)</tr>", support.get("/console/people/P-4002").text)
    )
    assert "2025-07-05 00:00 EDT 2025-07-20 14:00 EDT demo" in removal  # effective, recorded, by


def test_the_chart_has_a_row_per_role_and_grant_and_marks_release_days_and_aug_1(support: TestClient) -> None:
    svg = support.get("/console/people/P-1005").text.split("<svg")[1].split("</svg>")[0]
    labels = [text_of(label) for label in re.findall(r'class="row-label"[^>]*>(.*?)</text>', svg)]
    assert "S-110 · school_admin" in labels
    assert labels.count("S-110 · teacher") >= 2  # one per authorization year
    assert "2025 released" in svg
    assert "2024 released" in svg
    assert "Aug 1 2025" in svg


def test_an_unknown_person_gets_a_not_found_page(support: TestClient) -> None:
    page = support.get("/console/people/P-NOBODY")
    assert page.status_code == 404
    assert "No person P-NOBODY is registered" in page.text


# --- explain and events -------------------------------------------------------------------------------

DISPUTE = {
    "person_id": "P-4002",
    "org_id": "S-110",
    "report": "student_score_report",
    "school_id": "S-110",
    "exam_year": "2025",
    "at": "2025-07-08T12:00",
}


def test_explain_names_each_deciding_rule_in_plain_words_and_links_its_evidence(support: TestClient) -> None:
    then = text_of(support.get("/console/explain", params={**DISPUTE, "as_of": "2025-07-08"}).text)
    assert "Allowed" in then
    assert "Role school_admin" in then
    assert "R8 — School administrator through the access code. Redeeming the school's valid access code" in then

    today = support.get("/console/explain", params=DISPUTE)
    verdict = today.text.split('id="verdict"')[1].split("</section>")[0]
    assert "Denied" in verdict
    assert "R14 — Removal." in text_of(verdict)
    links = re.findall(r'href="(/console/events/[^"]+)"', verdict)
    assert links
    event = text_of(support.get(links[0]).text)
    assert "AccessRemoved" in event
    assert "Effective (valid time) 2025-07-05" in event
    assert "Recorded (transaction time) 2025-07-20 14:00 EDT" in event
    assert "removed_by P-2001" in event


def test_explain_shows_bad_input_next_to_the_form(support: TestClient) -> None:
    page = support.get("/console/explain", params={**DISPUTE, "exam_year": "next year", "org_id": "S-999"})
    assert page.status_code == 422
    errors = text_of(page.text.split('class="errors"')[1].split("</div>")[0])
    assert "Exam year: a year such as 2025" in errors
    assert "Acting for: no organization S-999 is known" in errors
    assert 'id="verdict"' not in page.text


def test_the_event_page_shows_a_void_with_its_reason_and_never_a_code_digest(app: FastAPI, support: TestClient) -> None:
    queries = app.state.container.system.queries
    voided = next(r for r in queries.timeline("P-1003").records if r.voided_at)
    page = text_of(support.get(f"/console/events/{voided.event.event_id}").text)
    assert f"Voided at ledger position {voided.voided_at}" in page
    assert "entered for the wrong school" in page

    school = queries.world([ev.school_stream("S-110")], queries.position(None)).school("S-110")
    issued = school.codes[0]
    page = support.get(f"/console/events/{issued.event_id}").text
    assert issued.code_digest not in page
    assert "code_digest not shown" in text_of(page)


# --- the organization page ----------------------------------------------------------------------------

RANGE = {"from": "2025-07-01", "to": "2025-08-01"}


def test_the_csv_download_equals_what_ledger_replay_prints(
    auditor: TestClient, demo_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    download = auditor.get("/console/orgs/S-110/access.csv", params=RANGE)
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in download.headers["content-disposition"]
    monkeypatch.setenv("LEDGER_DATABASE_URL", demo_url)
    capsys.readouterr()
    cli.replay(org="S-110", from_="2025-07-01", to="2025-08-01", as_of=None, level=Level.STUDENT, as_csv=True)
    printed = capsys.readouterr().out
    assert download.content == printed.encode()
    assert printed.count("\n") > 5


def test_the_access_table_sorts_on_the_server(support: TestClient) -> None:
    def people(**sort: str) -> list[str]:
        table = support.get("/console/orgs/S-110", params={**RANGE, **sort}).text.split('id="access"')[1]
        return re.findall(r"<td><a href=\"/console/people/[^\"]+\">([^<]+)</a>", table)

    ledger_order = people()
    ascending = people(sort="person_id", dir="asc")
    descending = people(sort="person_id", dir="desc")
    assert ascending == sorted(ledger_order)
    assert descending == sorted(ledger_order, reverse=True)
    assert ascending != ledger_order


def test_support_may_read_who_had_access_but_exporting_it_is_for_auditors(
    support: TestClient, auditor: TestClient
) -> None:
    page = support.get("/console/orgs/S-110", params=RANGE)
    assert page.status_code == 200
    assert "P-4002" in page.text
    assert "Download CSV" not in page.text
    assert support.get("/console/orgs/S-110/access.csv", params=RANGE).status_code == 403
    assert "Download CSV" in auditor.get("/console/orgs/S-110", params=RANGE).text


def test_an_organization_not_yet_recorded_at_the_chosen_time_is_said_so(support: TestClient) -> None:
    page = support.get("/console/orgs/S-110", params={**RANGE, "as_of": "2020-01-01"})
    assert page.status_code == 422
    assert "S-110 was not yet recorded as of 2020-01-01" in page.text


def test_the_page_and_its_csv_read_the_same_question_and_refuse_it_alike(auditor: TestClient) -> None:
    def both(org_id: str, **params: str) -> tuple[Response, Response]:
        page = auditor.get(f"/console/orgs/{org_id}", params=params)
        return page, auditor.get(f"/console/orgs/{org_id}/access.csv", params=params)

    page, download = both("S-110", **{"from": "2025-08-01", "to": "2025-07-01", "level": "secret"})
    assert page.status_code == download.status_code == 422
    for said in ("Until must be after From", "Data: student or aggregate"):
        assert said in page.text
        assert said in download.text
    page, download = both("S-404", **RANGE)
    assert page.status_code == download.status_code == 404
    page, download = both("S-110", **RANGE, as_of=" 2020-01-01 ")
    assert "S-110 was not yet recorded as of 2020-01-01" in page.text
    assert "S-110 was not yet recorded as of 2020-01-01" in download.text
    assert download.status_code == 404


# --- integrity ----------------------------------------------------------------------------------------


def test_an_auditor_runs_a_verification_and_sees_its_position_and_result(app: FastAPI, auditor: TestClient) -> None:
    before = auditor.get("/console/integrity")
    ran = auditor.post(
        "/console/integrity", data={"csrf_token": form_token(before, "csrf_token")}, follow_redirects=False
    )
    assert ran.status_code == 303
    position = app.state.container.system.service.recorder.last_position()
    page = text_of(auditor.get("/console/integrity").text)
    assert f"Intact: {position} events checked up to position {position}." in page
    assert "Run by auditor" in page


def test_support_sees_the_integrity_page_but_cannot_run_a_verification(support: TestClient) -> None:
    page = support.get("/console/integrity")
    assert page.status_code == 200
    assert "Verify now" not in page.text
    refused = support.post(
        "/console/integrity", data={"csrf_token": form_token(page, "csrf_token")}, follow_redirects=False
    )
    assert refused.status_code == 403
