"""The console under /console: server-rendered pages for support staff and auditors.

Sign-in takes a support or auditor API key once and starts a session carried in a
signed cookie (HttpOnly, SameSite=Strict, Secure over https; never the key itself),
which every worker process accepts (`api.console.sessions`).
Every POST form carries the session's CSRF token; reads are plain GET forms.
Endpoints are plain `def` (the ledger is synchronous; they run in the threadpool).
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.console import display, person_facts
from api.console.refs import PageRefs
from api.console.rules_text import RULES, rule_text
from api.console.state import (
    CONSOLE_ROLES,
    SIGN_IN_FORM_MINUTES,
    Session,
    console_state,
    new_token,
    same_token,
)
from api.deps import Container, client_address
from api.params import MAX_POSITION, ascii_int
from api.present import ACCESS_CSV_HEADER, access_csv_rows
from ledger import events as ev
from ledger.access.vocabulary import Level, Report
from ledger.rules.years import current_released_year
from ledger.streams import SchoolView
from projections.queries import AccessAnswer, Queries, UnknownOrganization
from storage.bundle import export_bundle
from storage.verification import last_verification, latest_checkpoint_head, run_verification

SESSION_COOKIE = "ledger_console"
FORM_COOKIE = "ledger_console_form"
COOKIE_PATH = "/console"
TEMPLATES = FsPath(__file__).resolve().parent.parent / "templates"
STATIC = FsPath(__file__).resolve().parent.parent / "static"
MAX_ID = 64
SEARCH_ROWS = 50  # people listed for one search
PAGE_ROWS = 200  # rows of who-had-access per page (a district can have thousands)

SECURITY_HEADERS = {
    # No scripts at all; styles only from our own stylesheet; forms only post back here.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages hold personal data
}

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Helpers the macros use too (imported macros do not see the render context).
_env.globals.update(short=display.short_id, quote=lambda s: quote(str(s), safe=""))


# --- errors and the route class -------------------------------------------------------------------


class SignInRequired(Exception):
    """No valid session: go to the sign-in page, then come back."""


class ConsoleError(Exception):
    """A refusal shown as a page (not the API's JSON)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class ConsoleRoute(APIRoute):
    """Turns the console's exceptions into pages and adds security headers to every console response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            request.scope["query_string"] = display.joined_date_and_time(request.scope.get("query_string", b""))
            try:
                response = await handler(request)
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"{COOKIE_PATH}/sign-in?{urlencode({'next': target})}", status_code=303)
                if SESSION_COOKIE in request.cookies:  # expired or no longer valid: drop it
                    _drop_session_cookie(request, response)
            except ConsoleError as e:
                response = render(
                    request,
                    "error.html",
                    {"title": e.title, "message": e.message},
                    session=_session_or_none(request),
                    status=e.status,
                )
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return console_handler


router = APIRouter(prefix=COOKIE_PATH, route_class=ConsoleRoute, include_in_schema=False)


# --- helpers --------------------------------------------------------------------------------------


def container_of(request: Request) -> Container:
    container = request.app.state.container
    assert isinstance(container, Container)
    return container


def _session_or_none(request: Request) -> Session | None:
    session = console_state(request).sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        request.state.client_id = session.client.client_id  # for the request log
    return session


def signed_in(request: Request) -> Session:
    session = _session_or_none(request)
    if session is None:
        raise SignInRequired
    return session


def require_auditor(session: Session, what: str) -> None:
    if not session.is_auditor:
        raise ConsoleError(
            403,
            "Auditors only",
            f"{what} is for auditors (docs/rules.md#decisions-security); you are signed in as {session.client.role.value}.",
        )


def check_origin(request: Request) -> None:
    """A POST whose Origin names another site is refused (defence in depth beside CSRF tokens)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise ConsoleError(403, "Refused", "This form was posted from another site.")


def check_csrf(request: Request, session: Session, token: str) -> None:
    check_origin(request)
    if not same_token(token, session.csrf_token):
        raise ConsoleError(
            403, "Refused", "The form's security token is missing or out of date. Reload the page and try again."
        )


def safe_next(target: str | None) -> str:
    """Only console paths of this site are followed after sign-in (no open redirects)."""
    if not target or not target.startswith(COOKIE_PATH) or target.startswith("//") or "\\" in target:
        return f"{COOKIE_PATH}/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return f"{COOKIE_PATH}/"
    return target


def render(
    request: Request, template: str, context: dict[str, Any], *, session: Session | None, status: int = 200
) -> HTMLResponse:
    container = request.app.state.container
    fmt = display.Formatter(container.calendar.zone)
    refs = context.pop("refs", None) or PageRefs(container.system.queries)

    def summary(event: ev.LedgerEvent, skip: Iterable[str] = ()) -> str:
        return display.event_summary(event, skip, refs.field_text)

    html = _env.get_template(template).render(
        request_path=request.url.path,
        session=session,
        fmt=fmt,
        zone=container.calendar.zone_name,
        refs=refs,
        summary=summary,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def _instant(cal_parse: Callable[[str], datetime], value: str | None, label: str, errors: list[str]) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        return cal_parse(value)
    except ValueError:
        errors.append(f"{label}: not a date or date and time")
        return None


def _as_of(
    queries: Queries, cal_parse: Callable[[str], datetime], value: str | None, label: str, errors: list[str]
) -> int | datetime | None:
    """A ledger position (integer) or an instant, as the API takes it."""
    if value is None or not value.strip():
        return None
    if value.strip().isdigit():  # (digits of any script: only ASCII ones make a position)
        position = ascii_int(value)
        if position is None:
            errors.append(f"{label}: a position is written in the digits 0-9 and is at most {MAX_POSITION}")
        return position
    return _instant(cal_parse, value, label, errors)


def _clean_id(value: str | None) -> str:
    return (value or "").strip()[:MAX_ID]


# --- static ---------------------------------------------------------------------------------------


@router.get("/static/console.css")
def stylesheet() -> Response:
    return PlainTextResponse(
        (STATIC / "console.css").read_text(), media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
    )


# --- sign-in and sign-out -------------------------------------------------------------------------


NOT_A_CONSOLE_KEY = "That key is not valid for the console: sign in with a support or auditor key."


def _sign_in_page(request: Request, *, next_: str, error: str | None, status: int) -> HTMLResponse:
    token = new_token()
    response = render(
        request,
        "sign_in.html",
        {"form_token": token, "next": safe_next(next_), "error": error},
        session=None,
        status=status,
    )
    response.set_cookie(
        FORM_COOKIE,
        token,
        max_age=SIGN_IN_FORM_MINUTES * 60,
        path=f"{COOKIE_PATH}/sign-in",
        httponly=True,
        samesite="strict",
        secure=_is_https(request),
    )
    return response


@router.get("/sign-in")
def sign_in_form(request: Request, next: Annotated[str, Query(max_length=2000)] = "") -> Response:
    if _session_or_none(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _sign_in_page(request, next_=next, error=None, status=200)


@router.post("/sign-in")
def sign_in(
    request: Request,
    api_key: Annotated[str, Form(max_length=512)] = "",
    form_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    check_origin(request)
    # The form's token must match its cookie: another site cannot sign a browser in (login CSRF).
    if not same_token(form_token, request.cookies.get(FORM_COOKIE) or ""):
        return _sign_in_page(request, next_=next, error="The sign-in form expired. Please try again.", status=400)
    container = container_of(request)
    address = client_address(request)
    wait = container.throttle.retry_after(address)
    if wait is not None:
        page = _sign_in_page(
            request,
            next_=next,
            status=429,
            error=f"Too many failed sign-ins from your address. Try again in {wait} seconds.",
        )
        page.headers["Retry-After"] = str(wait)
        return page
    client = container.keys.authenticate(api_key) if api_key else None
    # A key of another role gets the wrong key's answer: the page confirms no key (api.throttle counts both).
    if client is None or client.role not in CONSOLE_ROLES:
        container.throttle.failed(address)
        return _sign_in_page(request, next_=next, error=NOT_A_CONSOLE_KEY, status=401)
    sessions = console_state(request).sessions
    _, cookie = sessions.create(client)  # a fresh id at every sign-in (no fixation)
    request.state.client_id = client.client_id
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(sessions.lifetime.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_is_https(request),
    )
    response.delete_cookie(
        FORM_COOKIE, path=f"{COOKIE_PATH}/sign-in", httponly=True, samesite="strict", secure=_is_https(request)
    )
    return response


@router.post("/sign-out")
def sign_out(request: Request, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    session = _session_or_none(request)
    if session is not None:
        check_csrf(request, session, csrf_token)
    response = RedirectResponse(f"{COOKIE_PATH}/sign-in", status_code=303)
    _drop_session_cookie(request, response)
    return response


def _drop_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_is_https(request)
    )


# --- home and look-ups ----------------------------------------------------------------------------


@router.get("/")
@router.get("")
def home(request: Request) -> Response:
    session = signed_in(request)
    return render(
        request, "home.html", {"position": container_of(request).system.queries.position(None)}, session=session
    )


@router.get("/people")
def find_person(request: Request, person_id: Annotated[str, Query(max_length=200)] = "") -> Response:
    signed_in(request)
    pid = _clean_id(person_id)
    if not pid:
        return RedirectResponse(f"{COOKIE_PATH}/", status_code=303)
    return RedirectResponse(f"{COOKIE_PATH}/people/{quote(pid, safe='')}", status_code=303)


@router.get("/search")
def search_people(request: Request, q: Annotated[str, Query(max_length=100)] = "") -> Response:
    """The search box on every page: one match opens the person, several are listed."""
    session = signed_in(request)
    query = q.strip()
    answer = container_of(request).system.queries.find_people(query, SEARCH_ROWS) if query else None
    if answer is not None and len(answer.people) == 1:
        return RedirectResponse(f"{COOKIE_PATH}/people/{quote(answer.people[0].person_id, safe='')}", status_code=303)
    context = {"search_query": query, "answer": answer, "limit": SEARCH_ROWS}
    return render(request, "search.html", context, session=session)


@router.get("/orgs")
def find_org(request: Request, org_id: Annotated[str, Query(max_length=200)] = "") -> Response:
    signed_in(request)
    oid = _clean_id(org_id)
    if not oid:
        return RedirectResponse(f"{COOKIE_PATH}/", status_code=303)
    return RedirectResponse(f"{COOKIE_PATH}/orgs/{quote(oid, safe='')}", status_code=303)


# --- person: rights, events, intervals, as known on -----------------------------------------------


@dataclass(frozen=True)
class RightsRow:
    org_id: str
    then: Any  # OrgRights | None (as known on K)
    now: Any  # OrgRights | None (as known today)

    @property
    def changed(self) -> bool:
        role_then = self.then.role if self.then else None
        role_now = self.now.role if self.now else None
        return role_then != role_now


def _rights_rows(then: Any, now: Any) -> list[RightsRow]:
    by_then = {o.org_id: o for o in then.rights.organizations} if then is not None else {}
    by_now = {o.org_id: o for o in now.rights.organizations}
    return [RightsRow(org, by_then.get(org), by_now.get(org)) for org in sorted(set(by_then) | set(by_now))]


def _person_name(records: Any) -> str | None:
    name = None
    for r in sorted(records, key=lambda r: r.position):
        if r.voided_at is None and isinstance(r.event, ev.PersonRegistered | ev.ProfileUpdated) and r.event.name:
            name = r.event.name
    return name


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
    if not queries.person_exists(person_id):
        raise ConsoleError(404, "Unknown person", f"No person {person_id} is registered in the ledger.")
    errors: list[str] = []
    known_at = _instant(calendar.parse_instant, known, "As known on", errors)
    at_value = _instant(calendar.parse_instant, at, "Rights on", errors)
    window = (
        _instant(calendar.parse_instant, view_from, "Chart from", errors),
        _instant(calendar.parse_instant, view_to, "Chart until", errors),
    )
    now = container.system.clock()
    timeline = queries.timeline(person_id)
    latest = timeline.position
    known_position = queries.position(known_at) if known_at is not None else None
    comparing = known_position is not None and known_position < latest
    rights_at = at_value or known_at or now

    rights_now = queries.rights(person_id, rights_at, as_of=latest)
    rights_then = queries.rights(person_id, rights_at, as_of=known_position) if comparing else None

    # Events the intervals rest on: the person's own, plus issuances and releases (looked up once each).
    events: dict[str, ev.LedgerEvent] = {r.event.event_id: r.event for r in timeline.records}
    releases_view = queries.world([ev.CALENDAR_STREAM], latest).releases()
    releases = releases_view.in_year_order
    events.update({r.event_id: r for r in releases})
    for i in timeline.intervals:
        for source in i.sources:
            if source not in events:
                found = queries.record(source)
                if found is not None:
                    events[source] = found.event
    rows = display.interval_rows(timeline.intervals, known_position if comparing else None, events)
    fmt = display.Formatter(calendar.zone)
    known_label = f"on {fmt.text(known_at)}" if known_at else "today"
    chart = display.build_chart(
        rows,
        comparing=comparing,
        known_label=known_label,
        releases=releases,
        at=rights_at,
        calendar=calendar,
        fmt=fmt,
        window=window,
    )
    current = current_released_year(releases_view, calendar, rights_at)
    rights_rows = _rights_rows(rights_then, rights_now)
    org_world = queries.world([s for r in rights_rows for s in queries.org_streams(r.org_id)], latest)
    explain_links: dict[str, str] = {}
    explain_then_links: dict[str, str] = {}
    refs = PageRefs(queries)
    why_not: dict[str, str] = {}
    for row in rights_rows:
        held = [o.role for o in (row.then, row.now) if o is not None and o.role is not None]
        is_school = isinstance(org_world.org(row.org_id), SchoolView)
        report = person_facts.settling_report(is_school, held + person_facts.roles_ever(timeline.intervals, row.org_id))
        params = {
            "person_id": person_id,
            "org_id": row.org_id,
            "report": report.value,
            "school_id": row.org_id if is_school else "",
            "subject": (person_facts.teacher_subject(timeline.records, row.org_id) or "")
            if report is Report.INSTRUCTIONAL_PLANNING
            else "",
            "exam_year": str(current.exam_year) if current else "",
            "at": rights_at.isoformat(),
        }
        if row.now is not None and row.now.role is None and row.now.why_not is not None:
            why_not[row.org_id] = person_facts.no_access_text(row.now.why_not, events, refs, fmt)
        explain_links[row.org_id] = f"{COOKIE_PATH}/explain?" + urlencode(params)
        if comparing:
            explain_then_links[row.org_id] = f"{COOKIE_PATH}/explain?" + urlencode(
                {**params, "as_of": known_at.isoformat() if known_at else str(known_position)}
            )
    context = {
        "person_id": person_id,
        "name": _person_name(timeline.records),
        "errors": errors,
        "known": known_at,
        "known_label": known_label,
        "known_position": known_position,
        "comparing": comparing,
        "known_is_latest": known_position is not None and not comparing,
        "rights_at": rights_at,
        "at_given": at_value is not None,
        "rights_then": rights_then,
        "rights_now": rights_now,
        "rights_rows": rights_rows,
        "explain_links": explain_links,
        "why_not": why_not,
        "acceptance": person_facts.terms_acceptance(timeline.records, rights_at, latest),
        "refs": refs,
        "explain_then_links": explain_then_links,
        "known_text": fmt.text(known_at) if known_at else "",
        "records": sorted(timeline.records, key=lambda r: r.position),
        "recorded_at": timeline.recorded_at,
        "interval_rows": sorted(
            rows, key=lambda r: (r.interval.org_id, r.interval.valid_from, r.interval.known_from_position)
        ),
        "status_text": display.STATUS_TEXT,
        "chart": chart,
        "latest": latest,
        "window": window,
        "view_from": view_from,
        "view_to": view_to,
    }
    return render(request, "person.html", context, session=session)


# --- explain --------------------------------------------------------------------------------------


@router.get("/explain")
def explain_page(
    request: Request,
    person_id: Annotated[str, Query(max_length=200)] = "",
    org_id: Annotated[str, Query(max_length=200)] = "",
    report: Annotated[str, Query(max_length=64)] = "",
    school_id: Annotated[str, Query(max_length=200)] = "",
    subject: Annotated[str, Query(max_length=200)] = "",
    section_id: Annotated[str, Query(max_length=200)] = "",
    exam_year: Annotated[str, Query(max_length=10)] = "",
    at: Annotated[str, Query(max_length=40)] = "",
    as_of: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    session = signed_in(request)
    container = container_of(request)
    queries, calendar = container.system.queries, container.calendar
    form = {
        "person_id": _clean_id(person_id),
        "org_id": _clean_id(org_id),
        "report": report.strip(),
        "school_id": _clean_id(school_id),
        "subject": _clean_id(subject),
        "section_id": _clean_id(section_id),
        "exam_year": exam_year.strip(),
        "at": at.strip(),
        "as_of": as_of.strip(),
    }
    errors: list[str] = []
    answer = None
    evidence: list[tuple[str, Any]] = []
    status = 200
    submitted = any(form[k] for k in ("person_id", "org_id", "report"))
    if submitted:
        at_value = _instant(calendar.parse_instant, form["at"], "At", errors)
        as_of_value = _as_of(queries, calendar.parse_instant, form["as_of"], "As known on", errors)
        try:
            report_value = Report(form["report"])
        except ValueError:
            report_value = None
            errors.append("Report: choose one of the listed reports")
        year: int | None = None
        year = ascii_int(form["exam_year"], low=1955, high=2200)
        if year is None:
            errors.append("Exam year: a year such as 2025")
        if not form["person_id"]:
            errors.append("Person: required")
        if not form["org_id"]:
            errors.append("Acting for: required")
        elif not queries.org_exists(form["org_id"]):
            errors.append(f"Acting for: no organization {form['org_id']} is known")
        if not form["school_id"] and report_value is not Report.DISTRICT_SCORE_SUMMARY:
            errors.append("School: required for this report")
        elif form["school_id"] and not queries.org_exists(form["school_id"]):
            errors.append(f"School: no school {form['school_id']} is known")
        if errors:
            status = 422
        else:
            assert report_value is not None
            assert year is not None
            answer = queries.check(
                person_id=form["person_id"],
                org_id=form["org_id"],
                report=report_value,
                exam_year=year,
                school_id=form["school_id"] or None,
                subject=form["subject"] or None,
                section_id=form["section_id"] or None,
                at=at_value,
                as_of=as_of_value,
            )
            for event_id in answer.decision.evidence:
                evidence.append((event_id, queries.record(event_id)))
    context = {
        "form": form,
        "errors": errors,
        "answer": answer,
        "evidence": evidence,
        "reports": list(Report),
        "rule_text": rule_text,
        "all_rules": list(RULES.values()),
        "at_shown": (_instant(calendar.parse_instant, form["at"], "At", []) if form["at"] else None),
        "as_of_shown": (
            _instant(calendar.parse_instant, form["as_of"], "As known on", [])
            if form["as_of"] and not form["as_of"].isdigit()
            else None
        ),
    }
    return render(request, "explain.html", context, session=session, status=status)


# --- one event ------------------------------------------------------------------------------------


@router.get("/events/{event_id}")
def event_page(request: Request, event_id: Annotated[str, Path(min_length=1, max_length=MAX_ID)]) -> Response:
    session = signed_in(request)
    container = container_of(request)
    record = container.system.queries.record(event_id)
    if record is None:
        raise ConsoleError(404, "Unknown event", f"No event {event_id} is in the ledger.")
    void: ev.LedgerEvent | None = None
    if record.voided_at is not None:
        service = container.system.service
        rows = service.recorder.read_rows(record.voided_at - 1, 1)
        if rows and rows[0].position == record.voided_at:
            void = service.mapper.decode(rows[0].stored)
    voided_event: ev.LedgerEvent | None = None
    if isinstance(record.event, ev.EventVoided):
        target = container.system.queries.record(record.event.voided_event_id)
        voided_event = target.event if target else None
    context = {
        "record": record,
        "event": record.event,
        "fields": display.event_fields(record.event),
        "void": void,
        "voided_event": voided_event,
        "person": record.event.about_person(),
        "org": record.event.about_org(),
        "hidden": sorted(display.HIDDEN_FIELDS & set(record.event.data())),
    }
    return render(request, "event.html", context, session=session)


# --- organization: who had access ------------------------------------------------------------------


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
    start = _instant(calendar.parse_instant, from_text, "From", errors) or calendar.start_of_day(default_from)
    end = _instant(calendar.parse_instant, to_text, "Until", errors) or calendar.start_of_day(default_to)
    if end <= start:
        errors.append("Until must be after From (ranges are [from, until))")
    try:
        level_value = Level(level.strip() or Level.STUDENT.value)
    except ValueError:
        errors.append("Data: student or aggregate")
        level_value = Level.STUDENT
    as_of_value = _as_of(queries, calendar.parse_instant, as_of, "As known on", errors)
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
    writer.writerows(access_csv_rows(answer))
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"access-{org_id}-{level_value.value}-{from_text}-{to_text}")[:150]
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


# --- integrity ------------------------------------------------------------------------------------


@router.get("/integrity")
def integrity_page(request: Request) -> Response:
    session = signed_in(request)
    container = container_of(request)
    recorder = container.system.service.recorder
    last = last_verification(recorder)
    context = {
        "last": last,
        "last_at": datetime.fromisoformat(last["at"]) if last else None,
        "ledger_position": recorder.last_position(),
        "running": console_state(request).verify_lock.locked(),
        "head": container.log.head(),
        "checkpoint": latest_checkpoint_head(recorder),
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
        run_verification(
            container.system.service.recorder,
            container.log,
            full=True,
            source="console",
            by=session.client.client_id,
        )
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
        export_bundle(container.log, container.system.service.mapper, folder, start, end)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(folder.iterdir()):
                archive.write(file, f"ledger-bundle/{file.name}")
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="ledger-bundle.zip"'},
    )


__all__ = ["router"]
