"""The console's event page: one event, its fields with names beside ids, and its void."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request
from fastapi.responses import Response

from api.console import display
from api.console.web import MAX_ID, ConsoleError, container_of, render, router, signed_in
from projections.pages import Pages


@router.get("/events/{event_id}")
def event_page(request: Request, event_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)]) -> Response:
    session = signed_in(request)
    page = Pages(container_of(request).system.queries).event(event_id)
    if page is None:
        raise ConsoleError(404, "Unknown event", f"No event {event_id} is in the ledger.")
    event = page.record.event
    context = {
        "record": page.record,
        "event": event,
        "fields": display.event_fields(event),
        "void": page.void,
        "voided_event": page.voided_event,
        "person": event.about_person(),
        "org": event.about_org(),
        "hidden": sorted(display.HIDDEN_FIELDS & set(event.data())),
    }
    return render(request, "event.html", context, session=session)
