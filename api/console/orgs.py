"""The console's organization page: who had access to its reports over a range, sorted and paged,
and the same answer as CSV (auditors)."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Path, Query, Request
from fastapi.responses import Response

from api.console import display
from api.console.state import console_state
from api.console.web import (
    COOKIE_PATH,
    MAX_ID,
    PAGE_ROWS,
    ConsoleError,
    container_of,
    instant,
    position_or_instant,
    render,
    require_auditor,
    router,
    signed_in,
)
from api.deps import Container
from api.params import ascii_int
from api.present_access import ACCESS_CSV_HEADER, access_csv_rows
from ledger import events as ev
from ledger.access.vocabulary import Level
from projections.queries import AccessAnswer, Queries, UnknownOrganization


def _who_had_access(
    request: Request,
    queries: Queries,
    org_id: str,
    start: datetime,
    end: datetime,
    level: Level,
    as_of: int | datetime | None,
) -> AccessAnswer:
    """The answer at the position `as_of` designates, shared by the page, its sorts, pages and CSV."""
    position = queries.position(as_of)
    answer = console_state(request).access_answers.get_or_compute(
        (org_id, start, end, level, position),
        lambda: queries.who_had_access(org_id, start, end, level, as_of=position),
    )
    assert isinstance(answer, AccessAnswer)
    return answer


def _access_inputs(
    request: Request, container: Container, from_: str, to: str, level: str, as_of: str, errors: list[str]
) -> tuple[str, str, datetime, datetime, Level, int | datetime | None]:
    calendar, queries = container.calendar, container.system.queries
    default_from, default_to = display.default_range(calendar, container.system.clock())
    from_text = from_.strip() or default_from.isoformat()
    to_text = to.strip() or default_to.isoformat()
    start = instant(calendar.parse_instant, from_text, "From", errors) or calendar.start_of_day(default_from)
    end = instant(calendar.parse_instant, to_text, "Until", errors) or calendar.start_of_day(default_to)
    if end <= start:
        errors.append("Until must be after From (ranges are [from, until))")
    try:
        level_value = Level(level.strip() or Level.STUDENT.value)
    except ValueError:
        errors.append("Data: student or aggregate")
        level_value = Level.STUDENT
    as_of_value = position_or_instant(queries, calendar.parse_instant, as_of, "As known on", errors)
    return from_text, to_text, start, end, level_value, as_of_value


@router.get("/orgs/{org_id}")
def org_page(
    request: Request,
    org_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)],
    from_: Annotated[str, Query(alias="from", max_length=40)] = "",
    to: Annotated[str, Query(max_length=40)] = "",
    level: Annotated[str, Query(max_length=20)] = "",
    as_of: Annotated[str, Query(max_length=40)] = "",
    sort: Annotated[str, Query(max_length=20)] = "",
    dir: Annotated[str, Query(max_length=4)] = "asc",
    page: Annotated[str, Query(max_length=8)] = "1",
) -> Response:
    session = signed_in(request)
    container = container_of(request)
    queries = container.system.queries
    if not queries.org_exists(org_id):
        raise ConsoleError(404, "Unknown organization", f"No school or district {org_id} is known to the ledger.")
    errors: list[str] = []
    from_text, to_text, start, end, level_value, as_of_value = _access_inputs(
        request, container, from_, to, level, as_of, errors
    )
    if page.strip() and ascii_int(page, low=1) is None:
        errors.append("Page: a page number such as 2")
    answer = None
    entries: list[Any] = []
    if not errors:
        try:
            answer = _who_had_access(request, queries, org_id, start, end, level_value, as_of_value)
            entries = display.sorted_entries(answer.entries, sort, dir == "desc")
        except UnknownOrganization:
            errors.append(f"{org_id} was not yet recorded as of {as_of.strip()}")
    pages = max(1, -(-len(entries) // PAGE_ROWS))
    page_number = min(max(ascii_int(page) or 1, 1), pages)
    first = (page_number - 1) * PAGE_ROWS
    org = queries.world(queries.org_streams(org_id), queries.position(None)).org(org_id)
    registration = org.registration if org is not None else None
    params = {"from": from_text, "to": to_text, "level": level_value.value}
    if as_of.strip():
        params["as_of"] = as_of.strip()
    sort_links = {}
    for key in display.SORT_KEYS:
        next_dir = "desc" if sort == key and dir != "desc" else "asc"
        sort_links[key] = "?" + urlencode({**params, "sort": key, "dir": next_dir})
    sorted_params = {**params, "sort": sort, "dir": dir} if sort in display.SORT_KEYS else params
    page_links = {
        n: "?" + urlencode({**sorted_params, "page": n}) for n in (page_number - 1, page_number + 1) if 1 <= n <= pages
    }
    context = {
        "org_id": org_id,
        "org_name": registration.name if registration is not None else None,
        "org_kind": "district" if isinstance(registration, ev.DistrictRegistered) else "school",
        "errors": errors,
        "answer": answer,
        "entries": entries[first : first + PAGE_ROWS],
        "total": len(entries),
        "first_row": first + 1,
        "page": page_number,
        "pages": pages,
        "page_links": page_links,
        "from_text": from_text,
        "to_text": to_text,
        "start": start,
        "end": end,
        "as_of_shown": as_of_value if isinstance(as_of_value, datetime) else None,
        "level": level_value.value,
        "as_of": as_of.strip(),
        "sort": sort if sort in display.SORT_KEYS else "",
        "dir": "desc" if dir == "desc" else "asc",
        "sort_links": sort_links,
        "sort_labels": display.SORT_LABELS,
        "csv_link": f"{COOKIE_PATH}/orgs/{quote(org_id, safe='')}/access.csv?" + urlencode(params),
    }
    return render(request, "org.html", context, session=session, status=422 if errors else 200)


@router.get("/orgs/{org_id}/access.csv")
def org_csv(
    request: Request,
    org_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)],
    from_: Annotated[str, Query(alias="from", max_length=40)] = "",
    to: Annotated[str, Query(max_length=40)] = "",
    level: Annotated[str, Query(max_length=20)] = "",
    as_of: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    session = signed_in(request)
    require_auditor(session, "Downloading who-had-access as CSV (an export)")
    container = container_of(request)
    queries = container.system.queries
    if not queries.org_exists(org_id):
        raise ConsoleError(404, "Unknown organization", f"No school or district {org_id} is known to the ledger.")
    errors: list[str] = []
    from_text, to_text, start, end, level_value, as_of_value = _access_inputs(
        request, container, from_, to, level, as_of, errors
    )
    if errors:
        raise ConsoleError(422, "Invalid input", "; ".join(errors))
    try:
        answer = _who_had_access(request, queries, org_id, start, end, level_value, as_of_value)
    except UnknownOrganization:
        raise ConsoleError(404, "Unknown organization", f"{org_id} was not yet recorded as of {as_of}.") from None
    # Exactly what `ledger replay --org … --from … --to … --csv` prints.
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ACCESS_CSV_HEADER)
    writer.writerows(access_csv_rows(answer, container.calendar.zone))
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"access-{org_id}-{level_value.value}-{from_text}-{to_text}")[:150]
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
