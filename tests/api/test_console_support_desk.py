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
def test_every_page_has_the_search_box(support, path):
    page = support.get(path)
    assert 'action="/console/search"' in page.text
    assert "Find a person (name, email or id)" in page.text


def test_one_match_opens_the_person_and_several_are_listed_with_names(support):
    one = support.get("/console/search", params={"q": "DUBOIS"}, follow_redirects=False)
    assert one.status_code == 303
    assert one.headers["location"] == "/console/people/P-4002"
    several = support.get("/console/search", params={"q": "p-40"})
    text = text_of(several.text)
    assert "P-4001" in text
    assert "P-4002 Claire Dubois" in text
    none = support.get("/console/search", params={"q": "zz-nobody"})
    assert "Nobody matches “zz-nobody”" in text_of(none.text)
