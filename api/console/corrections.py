"""Preview a correction on the person page (support): what a late removal, a void or a backdated grant would change.

The console never appends: the command is decided by the ledger's dry run (nothing recorded,
no idempotency key used) and the page shows the decision and whose access intervals would
start, end or move. Recording it stays with the registrar's client.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api.console.web import MAX_ID, ConsoleError, container_of, render, router, signed_in
from api.security import ClientRole
from ledger.commands import parse_command
from ledger.errors import LedgerError
from projections.preview import access_difference

CORRECTIONS = {
    "remove_access": "Remove access at an organization (e.g. a removal reported late)",
    "void_event": "Void an event recorded by mistake",
    "grant_system_access": "Grant system access (may be backdated)",
}
SYSTEMS = ("registration_ordering", "course_audit")


def command_of(person_id: str, form: dict[str, str], effective_at: str | None) -> dict[str, Any]:
    """The command a correction form describes, as the API would receive it."""
    kind = form["type"]
    body: dict[str, Any] = {"type": kind}
    if kind == "void_event":
        body |= {"event_id": form["event_id"], "reason": form["reason"] or "previewed from the console"}
    elif kind == "remove_access":
        body |= {"person_id": person_id, "org_id": form["org_id"], "removed_by": form["removed_by"]}
    else:
        body |= {"person_id": person_id, "org_id": form["org_id"], "system": form["system"]}
    if effective_at:
        body["effective_at"] = effective_at
    return body


@router.get("/people/{person_id}/preview")
def preview_correction(
    request: Request,
    person_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)],
    type: Annotated[str, Query(max_length=40)] = "remove_access",
    org_id: Annotated[str, Query(max_length=MAX_ID)] = "",
    removed_by: Annotated[str, Query(max_length=MAX_ID)] = "",
    system: Annotated[str, Query(max_length=40)] = "course_audit",
    event_id: Annotated[str, Query(max_length=MAX_ID)] = "",
    reason: Annotated[str, Query(max_length=200)] = "",
    effective: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    session = signed_in(request)
    if session.client.role is not ClientRole.SUPPORT:
        raise ConsoleError(403, "Support only", "Previewing a correction is for support staff.")
    container = container_of(request)
    system_ = container.system
    queries = system_.queries
    if not queries.person_exists(person_id):
        raise ConsoleError(404, "Unknown person", f"No person {person_id} is registered in the ledger.")
    form = {
        "type": type if type in CORRECTIONS else "remove_access",
        "org_id": org_id.strip(),
        "removed_by": removed_by.strip(),
        "system": system if system in SYSTEMS else "course_audit",
        "event_id": event_id.strip(),
        "reason": reason.strip(),
        "effective": effective.strip(),
    }
    errors: list[str] = []
    refusal: LedgerError | None = None
    decided = None
    difference = None
    when = form["effective"]
    try:
        effective_shown = container.calendar.parse_instant(when) if when else None
    except ValueError:
        effective_shown = None
    try:
        command = parse_command(command_of(person_id, form, when or None))
    except ValidationError as invalid:
        errors = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'command'}: {e['msg']}" for e in invalid.errors()]
    else:
        try:
            decided = system_.service.preview([command], session.client.client_id)
            system_.wait(decided.position, container.settings.read_wait_seconds)
            difference = access_difference(queries, [e for _, e in decided.events], decided.position)
        except LedgerError as error:
            refusal = error
    timeline = queries.timeline(person_id)
    context = {
        "person_id": person_id,
        "form": form,
        "corrections": CORRECTIONS,
        "systems": SYSTEMS,
        "person_events": sorted(timeline.records, key=lambda r: r.position),
        "errors": errors,
        "refusal": refusal,
        "decided": decided,
        "difference": difference,
        "effective_shown": effective_shown,
    }
    return render(request, "preview.html", context, session=session, status=422 if errors else 200)
