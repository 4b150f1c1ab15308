"""The console's integrity page: the last verification from any source (kept in the store), the signed
head and key id, a full verification run from the console, and the audit bundle for a date range."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli_app
from storage.bundle import verify_bundle
from storage.verification import last_verification
from tests.api import test_console as console

# The demo ledger served with its console, and signed-in support and auditor visitors.
demo_url, app, support, auditor = console.demo_url, console.app, console.support, console.auditor


def test_a_verification_run_from_the_command_line_shows_on_the_console(
    demo_url: str, app: FastAPI, auditor: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", demo_url)
    ran = CliRunner().invoke(cli_app, ["verify"])
    assert ran.exit_code == 0, ran.output
    page = console.text_of(auditor.get("/console/integrity").text)
    position = app.state.container.system.service.recorder.last_position()
    assert f"Intact: {position} events checked up to position {position}." in page
    assert "Run from the command line" in page
    assert app.state.container.log.log_id in page
    assert f"Last checkpoint {position} events" in page


def test_a_full_verification_from_the_console_is_recorded_for_every_process(app: FastAPI, auditor: TestClient) -> None:
    before = auditor.get("/console/integrity")
    ran = auditor.post(
        "/console/integrity", data={"csrf_token": console.form_token(before, "csrf_token")}, follow_redirects=False
    )
    assert ran.status_code == 303
    page = console.text_of(auditor.get("/console/integrity").text)
    assert "Run from the console" in page
    assert "Kind full, from the first event" in page
    recorded = last_verification(app.state.container.system.service.recorder)
    assert recorded is not None
    assert (recorded["source"], recorded["by"], recorded["full"], recorded["ok"]) == ("console", "auditor", True, True)


def test_an_auditor_downloads_a_bundle_that_verifies_offline(
    auditor: TestClient, support: TestClient, tmp_path: Path
) -> None:
    download = auditor.get("/console/integrity/bundle", params={"from": "2020-01-01", "to": "2100-01-01"})
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    zipfile.ZipFile(io.BytesIO(download.content)).extractall(tmp_path)
    report = verify_bundle(tmp_path / "ledger-bundle")
    assert report.events > 0
    assert report.last_position == report.latest_size
    assert support.get("/console/integrity/bundle").status_code == 403
    assert auditor.get("/console/integrity/bundle", params={"from": "soon"}).status_code == 422
