"""The console's organization page: who had access to its reports over a range, sorted and paged,
and the same answer as CSV (auditors)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Path, Query, Request
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
from projections.answers import AccessAnswer, UnknownOrganization
from projections.queries import Queries


@dataclass(frozen=True)
class AccessForm:
    """The question as sent: the page and its CSV take the same inputs."""

    from_: str
    to: str
    level: str
    as_of: str


def access_form(
    from_: Annotated[str, Query(alias="from", max_length=40)] = "",
    to: Annotated[str, Query(max_length=40)] = "",
    level: Annotated[str, Query(max_length=20)] = "",
    as_of: Annotated[str, Query(max_length=40)] = "",
) -> AccessForm:
    return AccessForm(from_, to, level, as_of.strip())


@dataclass(frozen=True)
class AccessQuestion:
    """Who had access to a known organization's reports: the range, level and "as known on" as read, each
    input that could not be read named in `errors` (its default taken meanwhile)."""

    org_id: str
    from_text: str
    to_text: str
    start: datetime
    end: datetime
    level: Level
    as_of_text: str
    as_of: int | datetime | None
    errors: tuple[str, ...]

    def answer(self, request: Request, queries: Queries) -> AccessAnswer:
        """The answer at the position `as_of` designates, shared by the page, its sorts, pages and CSV
        (UnknownOrganization when the organization was not yet recorded then)."""
        position = queries.position(self.as_of)
        answer = console_state(request).access_answers.get_or_compute(
            (self.org_id, self.start, self.end, self.level, position),
            lambda: queries.who_had_access(self.org_id, self.start, self.end, self.level, as_of=position),
        )
        assert isinstance(answer, AccessAnswer)
        return answer

    def not_recorded_yet(self) -> str:
        return f"{self.org_id} was not yet recorded as of {self.as_of_text}"

    def params(self) -> dict[str, str]:
        """The question as a link's query (the CSV's, the sorts' and the pages')."""
        params = {"from": self.from_text, "to": self.to_text, "level": self.level.value}
        return params | ({"as_of": self.as_of_text} if self.as_of_text else {})


def access_question(container: Container, org_id: str, form: AccessForm) -> AccessQuestion:
    """What the page and its CSV ask, read once: an unknown organization is a 404; the range defaults to the
    current access year and must not be empty; the level is student or aggregate."""
    calendar, queries = container.calendar, container.system.queries
    if not queries.org_exists(org_id):
        raise ConsoleError(404, "Unknown organization", f"No school or district {org_id} is known to the ledger.")
    errors: list[str] = []
    default_from, default_to = display.default_range(calendar, container.system.clock())
    from_text = form.from_.strip() or default_from.isoformat()
    to_text = form.to.strip() or default_to.isoformat()
    start = instant(calendar.parse_instant, from_text, "From", errors) or calendar.start_of_day(default_from)
    end = instant(calendar.parse_instant, to_text, "Until", errors) or calendar.start_of_day(default_to)
    if end <= start:
        errors.append("Until must be after From (ranges are [from, until))")
    try:
        level = Level(form.level.strip() or Level.STUDENT.value)
    except ValueError:
        errors.append("Data: student or aggregate")
        level = Level.STUDENT
    as_of = position_or_instant(queries, calendar.parse_instant, form.as_of, "As known on", errors)
    return AccessQuestion(org_id, from_text, to_text, start, end, level, form.as_of, as_of, tuple(errors))


OrgId = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
AccessFormDep = Annotated[AccessForm, Depends(access_form)]


@router.get("/orgs/{org_id}")
def org_page(
    request: Request,
    org_id: OrgId,
    form: AccessFormDep,
    sort: Annotated[str, Query(max_length=20)] = "",
    dir: Annotated[str, Query(max_length=4)] = "asc",
    page: Annotated[str, Query(max_length=8)] = "1",
) -> Response:
    session = signed_in(request)
    container = container_of(request)
    queries = container.system.queries
    question = access_question(container, org_id, form)
    errors = list(question.errors)
    if page.strip() and ascii_int(page, low=1) is None:
        errors.append("Page: a page number such as 2")
    answer = None
    entries: list[Any] = []
    if not errors:
        try:
            answer = question.answer(request, queries)
            entries = display.sorted_entries(answer.entries, sort, dir == "desc")
        except UnknownOrganization:
            errors.append(question.not_recorded_yet())
    pages = max(1, -(-len(entries) // PAGE_ROWS))
    page_number = min(max(ascii_int(page) or 1, 1), pages)
    first = (page_number - 1) * PAGE_ROWS
    org = queries.world(queries.org_streams(org_id), queries.position(None)).org(org_id)
    registration = org.registration if org is not None else None
    params = question.params()
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
        "from_text": question.from_text,
        "to_text": question.to_text,
        "start": question.start,
        "end": question.end,
        "as_of_shown": question.as_of if isinstance(question.as_of, datetime) else None,
        "level": question.level.value,
        "as_of": question.as_of_text,
        "sort": sort if sort in display.SORT_KEYS else "",
        "dir": "desc" if dir == "desc" else "asc",
        "sort_links": sort_links,
        "sort_labels": display.SORT_LABELS,
        "csv_link": f"{COOKIE_PATH}/orgs/{quote(org_id, safe='')}/access.csv?" + urlencode(params),
    }
    return render(request, "org.html", context, session=session, status=422 if errors else 200)


@router.get("/orgs/{org_id}/access.csv")
def org_csv(request: Request, org_id: OrgId, form: AccessFormDep) -> Response:
    session = signed_in(request)
    require_auditor(session, "Downloading who-had-access as CSV (an export)")
    container = container_of(request)
    question = access_question(container, org_id, form)
    if question.errors:
        raise ConsoleError(422, "Invalid input", "; ".join(question.errors))
    try:
        answer = question.answer(request, container.system.queries)
    except UnknownOrganization:
        raise ConsoleError(404, "Unknown organization", f"{question.not_recorded_yet()}.") from None
    # Exactly what `ledger replay --org … --from … --to … --csv` prints.
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ACCESS_CSV_HEADER)
    writer.writerows(access_csv_rows(answer, container.calendar.zone))
    name = f"access-{org_id}-{question.level.value}-{question.from_text}-{question.to_text}"
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:150]
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
