"""What every console page shares: the router and its route class, sessions and CSRF checks, input
parsing and rendering.

Sign-in takes a support or auditor API key once and starts a session carried in a
signed cookie (HttpOnly, SameSite=Strict, Secure over https; never the key itself),
which every worker process accepts (`api.console.sessions`).
Every POST form carries the session's CSRF token; reads are plain GET forms.
Endpoints are plain `def` (the ledger is synchronous; they run in the threadpool).
One module per page family registers its pages on `router`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime
from pathlib import Path as FsPath
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.console import display
from api.console.refs import PageRefs
from api.console.state import Session, console_state, same_token
from api.deps import Container
from api.params import MAX_POSITION, ascii_int
from ledger import events as ev
from projections.queries import Queries

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
                    drop_session_cookie(request, response)
            except ConsoleError as e:
                response = render(
                    request,
                    "error.html",
                    {"title": e.title, "message": e.message},
                    session=session_or_none(request),
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


def session_or_none(request: Request) -> Session | None:
    session = console_state(request).sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        request.state.client_id = session.client.client_id  # for the request log
    return session


def signed_in(request: Request) -> Session:
    session = session_or_none(request)
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


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def instant(cal_parse: Callable[[str], datetime], value: str | None, label: str, errors: list[str]) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        return cal_parse(value)
    except ValueError:
        errors.append(f"{label}: not a date or date and time")
        return None


def position_or_instant(
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
    return instant(cal_parse, value, label, errors)


def clean_id(value: str | None) -> str:
    return (value or "").strip()[:MAX_ID]


def drop_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=is_https(request))
