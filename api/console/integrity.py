"""The console's integrity page: the last verification, the latest signed head and checkpoint; an
auditor runs a full verification and downloads the offline audit bundle."""

from __future__ import annotations

import io
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.console.state import console_state
from api.console.web import (
    COOKIE_PATH,
    ConsoleError,
    check_csrf,
    container_of,
    render,
    require_auditor,
    router,
    signed_in,
)


@router.get("/integrity")
def integrity_page(request: Request) -> Response:
    session = signed_in(request)
    container = container_of(request)
    system = container.system
    last = system.last_verification()
    context = {
        "last": last,
        "last_at": datetime.fromisoformat(last["at"]) if last else None,
        "ledger_position": system.last_position(),
        "running": console_state(request).verify_lock.locked(),
        "head": container.log.head(),
        "checkpoint": system.latest_checkpoint_head(),
        "log_id": container.log.log_id,
    }
    return render(request, "integrity.html", context, session=session)


@router.post("/integrity")
def run_full_verification(request: Request, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    session = signed_in(request)
    check_csrf(request, session, csrf_token)
    require_auditor(session, "Running a verification")
    state = console_state(request)
    if not state.verify_lock.acquire(blocking=False):
        raise ConsoleError(409, "Already running", "A verification is running; its result will show here.")
    try:
        container = container_of(request)
        container.system.verify(container.log, full=True, source="console", by=session.client.client_id)
    finally:
        state.verify_lock.release()
    return RedirectResponse(f"{COOKIE_PATH}/integrity", status_code=303)


@router.get("/integrity/bundle")
def download_bundle(
    request: Request,
    from_: Annotated[str, Query(alias="from", max_length=40)] = "",
    to: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The offline audit bundle of the events recorded in [from, to), as a zip (`ledger audit verify`)."""
    session = signed_in(request)
    require_auditor(session, "Downloading the audit bundle")
    container = container_of(request)
    calendar = container.calendar
    try:
        start = calendar.parse_instant(from_) if from_ else None
        end = calendar.parse_instant(to) if to else None
    except ValueError:
        raise ConsoleError(422, "Bad date", "From and to take a date (YYYY-MM-DD) or an ISO-8601 instant.") from None
    with tempfile.TemporaryDirectory() as work:
        folder = FsPath(work) / "bundle"
        container.system.export_bundle(container.log, folder, start, end)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(folder.iterdir()):
                archive.write(file, f"ledger-bundle/{file.name}")
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="ledger-bundle.zip"'},
    )
