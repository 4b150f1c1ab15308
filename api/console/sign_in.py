"""The console's sign-in and sign-out, its home page and its look-ups (a person or an organization by id,
the search box on every page), and its stylesheet."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from api.console.state import CONSOLE_ROLES, SIGN_IN_FORM_MINUTES, console_state, new_token, same_token
from api.console.web import (
    COOKIE_PATH,
    FORM_COOKIE,
    SEARCH_ROWS,
    SESSION_COOKIE,
    STATIC,
    check_csrf,
    check_origin,
    clean_id,
    container_of,
    drop_session_cookie,
    is_https,
    render,
    router,
    safe_next,
    session_or_none,
    signed_in,
)
from api.deps import client_address

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
        secure=is_https(request),
    )
    return response


@router.get("/sign-in")
def sign_in_form(request: Request, next: Annotated[str, Query(max_length=2000)] = "") -> Response:
    if session_or_none(request) is not None:
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
        secure=is_https(request),
    )
    response.delete_cookie(
        FORM_COOKIE, path=f"{COOKIE_PATH}/sign-in", httponly=True, samesite="strict", secure=is_https(request)
    )
    return response


@router.post("/sign-out")
def sign_out(request: Request, csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    session = session_or_none(request)
    if session is not None:
        check_csrf(request, session, csrf_token)
    response = RedirectResponse(f"{COOKIE_PATH}/sign-in", status_code=303)
    drop_session_cookie(request, response)
    return response


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
    return _open_page_of("people", person_id)


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
    return _open_page_of("orgs", org_id)


def _open_page_of(kind: str, typed_id: str) -> Response:
    """The page of the id typed into a home page box (`people` or `orgs`); the home page again for none."""
    some_id = clean_id(typed_id)
    if not some_id:
        return RedirectResponse(f"{COOKIE_PATH}/", status_code=303)
    return RedirectResponse(f"{COOKIE_PATH}/{kind}/{quote(some_id, safe='')}", status_code=303)
