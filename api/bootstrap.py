"""The one place where the application is wired, at start-up (never at import time)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Receive, Scope, Send

from api import console
from api.deps import Container
from api.errors import error_response, install_error_handlers
from api.observability import Metrics, RequestLog, configure_logging
from api.openapi import install_openapi
from api.routers import audit, check, commands, health, orgs, people
from api.routers import log as log_routes
from api.security import KeyRing
from api.settings import Settings
from api.throttle import AuthThrottle
from bootstrap import calendar_of, open_from_settings
from bootstrap.store import SigningKeyError, previous_public_keys, resolve_key
from ledger.calendar import LedgerCalendar
from projections.system import LedgerSystem

log = logging.getLogger("ledger.api")

API_ROUTERS = (
    commands.router,
    check.router,
    people.router,
    orgs.router,
    audit.router,
    log_routes.router,
    health.router,
)

SystemFactory = Callable[[Settings, LedgerCalendar], LedgerSystem]


def default_system(settings: Settings, calendar: LedgerCalendar) -> LedgerSystem:
    """Open the ledger named by LEDGER_DATABASE_URL and follow it into the projections."""
    return open_from_settings(settings, calendar=calendar)


def load_keys(settings: Settings, announce: Callable[[str], None] = print) -> KeyRing:
    """Keys from LEDGER_API_KEYS, or one generated key per role, printed once (never logged)."""
    if settings.api_keys:
        return KeyRing.parse(settings.api_keys.get_secret_value())
    ring, generated = KeyRing.generate()
    lines = ["LEDGER_API_KEYS is not set: generated one API key per role for this run (not stored anywhere):"]
    lines += [f"  {role.value:<9}  Authorization: Bearer {secret}" for _, role, secret in generated]
    announce("\n".join(lines))
    return ring


class DeclaredBodyLimit:
    """413 in the API's error shape for a body whose declared length is over the limit.

    Streamed bodies without a declared length are cut off by the framework's own
    `max_body_size`, set per router: it answers through our HTTP error handler, but a
    declared length over the limit would get its plain-text 413, hence this check first.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope.get("headers") or []).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.limit:
                response = error_response(413, "too_large", f"request body over {self.limit} bytes")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    system_factory: SystemFactory = default_system,
    announce: Callable[[str], None] = print,
) -> FastAPI:
    """The FastAPI application; the ledger is opened in the lifespan, at start-up."""
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        calendar = calendar_of(settings)
        keys = load_keys(settings, announce)
        key = resolve_key(settings.database_url, settings.signing_key_file)  # refused before the store opens
        previous = previous_public_keys(settings.previous_public_keys)
        system = system_factory(settings, calendar)
        try:
            evidence = system.open_evidence(key, previous)  # refused if another key signed its heads
        except SigningKeyError:
            system.close()
            raise
        throttle = AuthThrottle(settings.auth_failure_limit, settings.auth_failure_window_seconds)
        app.state.container = Container(settings, system, keys, calendar, evidence, throttle)
        app.state.metrics = metrics
        # What exists now (modules, schemas, the wiring) lives as long as the process: keep it out
        # of the cyclic collector's full passes, which otherwise pause requests for tens of ms.
        gc.collect()
        gc.freeze()
        if settings.warm_cache:
            # From a thread of its own: the server answers meanwhile. What it loads stays until
            # evicted (and is freed by reference counting then): out of the collector's full passes too.
            system.start_warming(then=gc.freeze)
        log.info(
            "ledger ready",
            extra={"fields": {"store": system.config.display, "position": system.last_position()}},
        )
        try:
            yield
        finally:
            system.close()

    # The docs pages load Swagger UI and ReDoc from the server itself (fastapi-offline), never from a CDN.
    app = FastAPIOffline(
        title="AP score-reports access ledger",
        version="0.1.0",
        description=(
            "Who may see AP score reports, at any valid time, as known at any moment, and why. "
            "Send `Authorization: Bearer <key>`. Each operation lists the roles that may call it "
            "(`x-roles`, and in its description). Answers and refusals name the rules (R1–R16) that "
            "decided them; `docs/rules.md` in the ledger's repository states each rule and what every fact "
            "means in valid time."
        ),
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(DeclaredBodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestLog, metrics=metrics)
    for router in API_ROUTERS:
        app.include_router(router, max_body_size=settings.max_body_bytes)
    app.include_router(console.router, max_body_size=settings.max_body_bytes)  # the web console, /console
    install_openapi(app, API_ROUTERS)
    return app
