"""The console's person page (the dispute view): rights at a valid time as known today and as known on
an earlier instant, the events and access intervals they rest on, and links to explain each answer.
What it shows is assembled by `projections.pages`; this module parses the request and renders."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Path, Query, Request
from fastapi.responses import Response

from api.console import chart, display, person_facts
from api.console.refs import PageRefs
from api.console.web import COOKIE_PATH, MAX_ID, ConsoleError, container_of, instant, render, router, signed_in
from projections.pages import Pages, PersonPage


@router.get("/people/{person_id}")
def person_page(
    request: Request,
    person_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)],
    known: Annotated[str, Query(max_length=40, description="as known on (transaction time)")] = "",
    at: Annotated[str, Query(max_length=40, description="rights on (valid time)")] = "",
    view_from: Annotated[str, Query(max_length=40)] = "",
    view_to: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    session = signed_in(request)
    container = container_of(request)
    queries, calendar = container.system.queries, container.calendar
    errors: list[str] = []
    known_at = instant(calendar.parse_instant, known, "As known on", errors)
    at_value = instant(calendar.parse_instant, at, "Rights on", errors)
    window = (
        instant(calendar.parse_instant, view_from, "Chart from", errors),
        instant(calendar.parse_instant, view_to, "Chart until", errors),
    )
    page = Pages(queries).person(person_id, known_at=known_at, at=at_value, now=container.system.clock())
    if page is None:
        raise ConsoleError(404, "Unknown person", f"No person {person_id} is registered in the ledger.")
    timeline = page.timeline
    rows = chart.interval_rows(timeline.intervals, page.known_position if page.comparing else None, page.events)
    fmt = display.Formatter(calendar.zone)
    known_label = f"on {fmt.text(known_at)}" if known_at else "today"
    access_chart = chart.build_chart(
        rows,
        comparing=page.comparing,
        known_label=known_label,
        releases=page.releases,
        at=page.rights_at,
        calendar=calendar,
        fmt=fmt,
        window=window,
    )
    refs = PageRefs(queries)
    why_not = {
        row.org_id: person_facts.no_access_text(row.now.why_not, page.events, refs, fmt)
        for row in page.rows
        if row.now is not None and row.now.role is None and row.now.why_not is not None
    }
    explain_links, explain_then_links = _explain_links(page, known_at.isoformat() if known_at else None)
    context = {
        "person_id": person_id,
        "name": page.name,
        "errors": errors,
        "known": known_at,
        "known_label": known_label,
        "known_position": page.known_position,
        "comparing": page.comparing,
        "known_is_latest": page.known_is_latest,
        "rights_at": page.rights_at,
        "at_given": at_value is not None,
        "rights_then": page.rights_then,
        "rights_now": page.rights_now,
        "rights_rows": page.rows,
        "explain_links": explain_links,
        "why_not": why_not,
        "acceptance": page.acceptance,
        "refs": refs,
        "explain_then_links": explain_then_links,
        "known_text": fmt.text(known_at) if known_at else "",
        "records": sorted(timeline.records, key=lambda r: r.position),
        "recorded_at": timeline.recorded_at,
        "interval_rows": sorted(
            rows, key=lambda r: (r.interval.org_id, r.interval.valid_from, r.interval.known_from_position)
        ),
        "status_text": chart.STATUS_TEXT,
        "chart": access_chart,
        "latest": page.latest,
        "window": window,
        "view_from": view_from,
        "view_to": view_to,
    }
    return render(request, "person.html", context, session=session)


def _explain_links(page: PersonPage, known_text: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """Per organization, the explain page of the check that settles it: today's answer and, when
    comparing, the answer as known on the earlier instant."""
    now_links: dict[str, str] = {}
    then_links: dict[str, str] = {}
    for row in page.rows:
        params = {
            "person_id": page.person_id,
            "org_id": row.org_id,
            "report": row.report.value,
            "school_id": row.org_id if row.is_school else "",
            "subject": row.subject or "",
            "exam_year": str(page.current_release.exam_year) if page.current_release else "",
            "at": page.rights_at.isoformat(),
        }
        now_links[row.org_id] = f"{COOKIE_PATH}/explain?" + urlencode(params)
        if page.comparing:
            as_of = known_text or str(page.known_position)
            then_links[row.org_id] = f"{COOKIE_PATH}/explain?" + urlencode({**params, "as_of": as_of})
    return now_links, then_links
