"""Every error, domain or HTTP, mapped in one place to the API's error shape: {"error": {code, message, rule}}.

Validation messages name the field and what is wrong, never the value sent (it
could be an access code).
"""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.validation import validation_message
from ledger.errors import (
    BatchRefused,
    IdempotencyConflict,
    InvalidInput,
    LedgerError,
    LockedOut,
    NotFound,
)
from projections.answers import UnknownOrganization
from projections.runner import ProjectionTimeout

log = logging.getLogger("ledger.api")


class ApiError(Exception):
    """An HTTP-level refusal (authentication, roles, malformed query, unknown resource)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        rule: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.rule, self.field = status, code, message, rule, field
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    rule: str | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "rule": rule}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def status_of(error: LedgerError) -> int:
    """HTTP status of a domain error."""
    if isinstance(error, BatchRefused):
        return status_of(error.error)
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, InvalidInput):
        return 422
    if isinstance(error, LockedOut):
        return 429
    return 409  # rule violations and idempotency conflicts


def ledger_error_response(error: LedgerError) -> JSONResponse:
    inner = error.error if isinstance(error, BatchRefused) else error
    field = getattr(inner, "field", None)
    if isinstance(error, BatchRefused):
        field = f"commands[{error.index}]" + (f".{field}" if field else "")
    headers = None
    if isinstance(inner, LockedOut):
        headers = {"Retry-After": str(inner.retry_after_seconds)}
    code = inner.code if not isinstance(inner, IdempotencyConflict) else "idempotency_key_reused"
    return error_response(status_of(error), code, error.message, rule=error.rule, field=field, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the API's error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, rule=exc.rule, field=exc.field, headers=exc.headers)

    @app.exception_handler(LedgerError)
    async def _ledger_error(_: Request, exc: LedgerError) -> JSONResponse:
        return ledger_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        field, message = validation_message(list(exc.errors()))
        return error_response(422, "invalid_input", message, field=field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body the JSON parser gave up on (e.g. nested too deep)
            return error_response(422, "invalid_input", "body: not valid JSON", field="body")
        codes = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        return error_response(
            exc.status_code,
            codes.get(exc.status_code, "http_error"),
            str(exc.detail),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(UnknownOrganization)
    async def _unknown_org(_: Request, exc: UnknownOrganization) -> JSONResponse:
        return error_response(404, "unknown_organization", f"unknown organization {exc.args[0]}", field="org_id")

    @app.exception_handler(ProjectionTimeout)
    async def _timeout(_: Request, exc: ProjectionTimeout) -> JSONResponse:
        return error_response(503, "projection_timeout", str(exc), field="min_position", headers={"Retry-After": "1"})

    @app.exception_handler(OperationalError)
    async def _busy(_: Request, exc: OperationalError) -> JSONResponse:
        log.warning("store unavailable: %s", type(exc).__name__)
        return error_response(
            503,
            "store_unavailable",
            "the ledger's database is busy or unreachable; retry",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
        return error_response(500, "internal_error", "unexpected error; it has been logged")
