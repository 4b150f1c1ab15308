"""The console in a real headless Chromium, against a real `ledger serve` with the demo history loaded.

Debian's chromium driven by Playwright for Python (`playwright install` cannot download
browsers here). Skipped when chromium or playwright is missing — except under CI=true,
where they must run. A screenshot of each page is kept under artifacts/screenshots/ (the
run's summary lists them).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.servers import KEYS, Server, run_ledger, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The demo's late removal (api/demo.py): P-4002 redeemed S-110's 2025 code on Jul 2, 2025;
# removed with effect from Jul 5, which the ledger learned only on Jul 20.
DISPUTE_DAY, DISPUTE_TIME = "2025-07-08", "12:00"


def require_browser() -> None:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright for Python (pip install playwright)")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if IN_CI:
            pytest.fail(f"CI=true: {message}")
        pytest.skip(message)


@dataclass
class Demo:
    server: Server
    database_url: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`ledger demo` into a fresh SQLite file, then `ledger serve` on a free port."""
    require_browser()
    folder = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{folder}/ledger.db"
    loaded = run_ledger("demo", database_url=url)
    assert loaded.returncode == 0, loaded.stderr
    with serve(url, folder, name="console") as server:
        yield Demo(server, url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, demo: Demo) -> Iterator[Any]:
    """A fresh browser context (no cookies) on a laptop-sized screen."""
    context = browser.new_context(
        base_url=demo.server.url, viewport={"width": 1366, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    TAKEN.append(path)


TAKEN: list[Path] = []  # listed at the end of the run (tests/e2e/conftest.py)


def sign_in(page: Any, role: str, path: str = "/console/") -> None:
    """Open a console page, get sent to sign-in, type the key and press Enter (keyboard only)."""
    page.goto(path)
    assert "/console/sign-in" in page.url
    key = page.get_by_label("API key")
    key.fill(KEYS[role])
    key.press("Enter")
    page.wait_for_url(re.compile(r"/console/(?!sign-in)"))


def test_a_support_person_sees_what_the_ledger_said_on_july_8_and_what_it_knows_today(page: Any, demo: Demo) -> None:
    page.goto("/console/")
    shot(page, "sign-in")
    sign_in(page, "support")
    cookie = next(c for c in page.context.cookies() if c["name"] == "ledger_console")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert KEYS["support"] not in cookie["value"]
    assert KEYS["support"] not in page.content()
    shot(page, "home")

    search = page.get_by_role("searchbox", name="Find a person (name, email or id)")
    search.fill("dubois")  # a word of her name, in lower case
    search.press("Enter")
    page.wait_for_url("**/console/people/P-4002")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Claire Dubois")
    removal = page.locator("#events tr", has_text="AccessRemoved")
    assert "2025-07-05 00:00 EDT" in removal.inner_text()
    assert "2025-07-20 14:00 EDT" in removal.inner_text()
    # Events by type and position, the full id on hover; names beside ids; why there is no access.
    link = removal.locator("a.event-ref")
    assert re.fullmatch(r"AccessRemoved #\d+", link.inner_text())
    assert re.fullmatch(r"event [0-9a-f-]{36}", link.get_attribute("title") or "")
    assert "removed_by P-2001 (Linda Park, principal of S-110)" in removal.inner_text()
    why = page.locator("#rights tr", has_text="S-110").inner_text()
    assert "No access: removed effective 2025-07-05 00:00 EDT by P-2001 (Linda Park, principal of S-110)" in why
    assert "recorded 2025-07-20 14:00 EDT" in why
    assert "Lakeside High School" in why
    terms = page.locator("#terms-accepted").inner_text()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} E[DS]T", terms)
    assert page.locator("#dispute").count() == 0
    assert page.locator("#access-chart .marker.release").count() >= 1
    assert page.locator("#access-chart .marker.aug1").count() >= 1
    shot(page, "person-today")

    page.locator("#known").fill(DISPUTE_DAY)
    page.locator("#known-time").fill(DISPUTE_TIME)
    assert "America/New_York (E" in page.locator(".field.when", has=page.locator("#known")).inner_text()
    page.get_by_role("button", name="Show").first.click()
    page.wait_for_url(re.compile(r"known=2025-07-08"))
    said = page.locator("#dispute li", has_text="S-110").inner_text()
    assert "the ledger said school_admin" in said
    assert "today we know no access" in said
    assert "changed since" in said
    # The chart and the table show what was believed then and is no longer, and what was learned later.
    assert page.locator("#access-chart rect.bar.then-only").count() == 1
    assert page.locator("#access-chart rect.bar.now-only").count() == 1
    then_only = page.locator("#intervals tr.status-then-only").inner_text()
    assert "2026-08-01" in then_only
    assert "believed then, no longer" in then_only
    assert "2025-07-05" in page.locator("#intervals tr.status-now-only").inner_text()
    shot(page, "person-as-known-on-2025-07-08")

    page.get_by_role("link", name="Back to today").click()
    page.wait_for_url("**/console/people/P-4002")
    assert page.locator("#dispute").count() == 0

    # The event page: one click selects the whole id, ready to copy.
    link.click()
    page.wait_for_url("**/console/events/**")
    full_id = page.locator("code.copy-id")
    full_id.click()
    assert page.evaluate("window.getSelection().toString()") == page.url.rsplit("/", 1)[1]
    shot(page, "event-by-type-and-position")


def test_support_previews_a_late_removal_before_anything_is_recorded(page: Any, demo: Demo) -> None:
    sign_in(page, "support", "/console/people/P-4001")
    page.get_by_role("link", name="Preview a correction…").click()
    page.wait_for_url("**/console/people/P-4001/preview")
    page.get_by_label("Correction").select_option("remove_access")
    page.get_by_label(re.compile(r"^Organization")).fill("S-110")
    page.get_by_label(re.compile(r"^Removed by")).fill("P-2001")
    page.locator("#c-effective").fill("2025-07-10")
    page.get_by_role("button", name="Preview").click()
    result = page.locator("#preview-result")
    assert result.get_by_role("heading", level=2).inner_text() == "Would be recorded"
    change = page.locator("#access-changes tbody tr", has_text="P-4001").inner_text()
    assert "ends earlier" in change
    assert "2026-08-01 00:00 EDT" in change
    assert "2025-07-10 00:00 EDT" in change
    shot(page, "preview-correction")
    page.goto("/console/people/P-4001")
    assert page.locator("#events tr", has_text="AccessRemoved").count() == 0  # nothing was recorded


def test_the_console_is_usable_with_the_keyboard(page: Any, demo: Demo) -> None:
    sign_in(page, "auditor")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    # Every form field has a label a screen reader announces.
    for path in (
        "/console/",
        "/console/explain",
        "/console/people/P-1005",
        "/console/orgs/S-110",
        "/console/search?q=p-",
        "/console/integrity",
    ):
        page.goto(path)
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select')]
                   .filter(e => !(e.labels && e.labels.length)).map(e => e.name)"""
        )
        assert unlabelled == [], path


def test_an_explanation_names_the_deciding_rules_and_links_to_the_evidence(page: Any, demo: Demo) -> None:
    sign_in(page, "support", "/console/explain")
    page.get_by_label(re.compile(r"^Person$")).fill("P-4002")
    page.get_by_label(re.compile(r"^Acting for")).fill("S-110")
    page.get_by_label(re.compile(r"^Report$")).select_option("student_score_report")
    page.get_by_label(re.compile(r"^School\b")).fill("S-110")
    page.get_by_label(re.compile(r"^Exam year")).fill("2025")
    page.locator("#at").fill(DISPUTE_DAY)
    page.locator("#at-time").fill(DISPUTE_TIME)
    page.locator("#as_of").fill("2025-07-08")
    page.get_by_role("button", name="Explain").click()
    verdict = page.locator("#verdict")
    assert verdict.get_by_role("heading", level=2).inner_text() == "Allowed"
    assert "R8 — School administrator through the access code" in verdict.inner_text()
    shot(page, "explain-as-known-on-2025-07-08")

    page.locator("#as_of").fill("")
    page.get_by_role("button", name="Explain").click()
    verdict = page.locator("#verdict")
    assert verdict.get_by_role("heading", level=2).inner_text() == "Denied"
    assert "R14 — Removal" in verdict.inner_text()
    shot(page, "explain-today")

    page.locator("#evidence tr", has_text="AccessRemoved").get_by_role("link").click()
    page.wait_for_url("**/console/events/**")
    facts = page.locator("dl.facts").first.inner_text()
    assert "2025-07-05" in facts
    assert "2025-07-20 14:00" in facts
    assert "P-2001" in page.content()  # removed_by
    shot(page, "event")


def test_an_auditor_downloads_the_csv_that_ledger_replay_prints(page: Any, demo: Demo) -> None:
    sign_in(page, "auditor", "/console/orgs/S-110")
    page.locator("#from").fill("2025-07-01")
    page.locator("#to").fill("2025-08-01")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"from=2025-07-01"))
    page.get_by_role("link", name="Person").click()
    page.get_by_role("link", name=re.compile("^Person")).click()  # again: descending
    people = page.locator("#access tbody tr td:first-child").all_inner_texts()
    assert people == sorted(people, reverse=True)
    assert any(p.startswith("P-4002") for p in people)
    shot(page, "organization")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    downloaded = Path(info.value.path()).read_bytes()
    replay = run_ledger(
        "replay",
        "--org",
        "S-110",
        "--from",
        "2025-07-01",
        "--to",
        "2025-08-01",
        "--csv",
        database_url=demo.database_url,
    )
    assert replay.returncode == 0, replay.stderr
    assert downloaded == replay.stdout.encode()
    assert downloaded.startswith(b"person_id,person_name,role,valid_from,valid_to,via_org,via_org_name,")


def test_an_auditor_verifies_the_ledger_and_signs_out(page: Any, demo: Demo) -> None:
    sign_in(page, "auditor", "/console/integrity")
    page.get_by_role("button", name="Verify now").click()
    result = page.locator("#last-verification").inner_text()
    assert re.search(r"Intact: \d+ events checked up to position \d+", result)
    shot(page, "integrity")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/sign-in")
    page.goto("/console/integrity")
    assert "/console/sign-in" in page.url


def test_a_session_started_on_one_server_process_is_accepted_by_another(page: Any, demo: Demo, tmp_path: Path) -> None:
    """Two `ledger serve` processes on one ledger, as behind a load balancer: no second sign-in."""
    sign_in(page, "support")
    with serve(demo.database_url, tmp_path, name="second") as other:
        page.goto(f"{other.url}/console/people/P-4002")
        assert "/console/sign-in" not in page.url
        assert page.get_by_role("heading", level=1).inner_text().startswith("Claire Dubois")
        shot(page, "session-on-another-process")


def test_the_readme_screenshot_is_taken_from_the_demo_by_a_script(tmp_path: Path) -> None:
    require_browser()
    out = tmp_path / "console-person.png"
    done = subprocess.run(
        [sys.executable, "-m", "bench.screenshot", str(out)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert out.stat().st_size > 50_000  # a full page, not an error page
