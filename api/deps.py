"""FastAPI dependencies as `Annotated` aliases: the container, the authenticated client, time parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.params import MAX_PARAM_CHARS, MAX_POSITION, ascii_int
from api.security import Client, ClientRole, KeyRing
from api.settings import Settings
from ledger.calendar import LedgerCalendar
from projections.system import LedgerSystem


@dataclass
class Container:
    """What the routers use; built once at start-up (api.bootstrap)."""

    settings: Settings
    system: LedgerSystem
    keys: KeyRing
    calendar: LedgerCalendar


def get_container(request: Request) -> Container:
    """The container wired at start-up."""
    container = request.app.state.container
    assert isinstance(container, Container)
    return container


# Dependencies are `async def`: a plain `def` dependency costs a threadpool hop per request.


async def container_dependency(request: Request) -> Container:
    return get_container(request)


ContainerDep = Annotated[Container, Depends(container_dependency)]

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <secret> (LEDGER_API_KEYS)")


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Client:
    """The API client of a request's bearer key (401 without one, or with an unknown one)."""
    if credentials is None or not credentials.credentials:
        raise ApiError(
            401, "unauthorized", "send Authorization: Bearer <API key>", headers={"WWW-Authenticate": "Bearer"}
        )
    client = get_container(request).keys.authenticate(credentials.credentials)
    if client is None:
        raise ApiError(401, "unauthorized", "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    request.state.client_id = client.client_id
    return client


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class RoleGate:
    """A dependency admitting only clients with one of `roles` (403 otherwise).

    One dependency, not a chain: each level of FastAPI dependency costs on every request.
    OpenAPI's `x-roles` are read from the gate an operation depends on (api.openapi), so
    the documented roles are the enforced ones.
    """

    def __init__(self, *roles: ClientRole) -> None:
        self.roles = roles
        self.allowed = ", ".join(r.value for r in roles)

    async def __call__(self, request: Request, credentials: Credentials) -> Client:
        client = authenticate(request, credentials)
        if client.role not in self.roles:
            raise ApiError(403, "forbidden", f"role {client.role.value} may not call this; allowed: {self.allowed}")
        return client


def require(*roles: ClientRole) -> RoleGate:
    """The dependency admitting only `roles`."""
    return RoleGate(*roles)


Registrar = Annotated[Client, Depends(require(ClientRole.REGISTRAR))]
PortalReader = Annotated[Client, Depends(require(ClientRole.PORTAL, ClientRole.SUPPORT, ClientRole.AUDITOR))]
SupportReader = Annotated[Client, Depends(require(ClientRole.SUPPORT, ClientRole.AUDITOR))]
Auditor = Annotated[Client, Depends(require(ClientRole.AUDITOR))]


@dataclass(frozen=True)
class ReadPoint:
    """Where a read looks: valid time `at` and transaction time `as_of` (a position or an instant)."""

    at: datetime | None
    as_of: int | datetime | None


def parse_instant_param(calendar: LedgerCalendar, value: str, name: str) -> datetime:
    if len(value) > MAX_PARAM_CHARS:
        raise ApiError(422, "invalid_input", f"{name}: at most {MAX_PARAM_CHARS} characters", field=name)
    try:
        return calendar.parse_instant(value)
    except ValueError:
        raise ApiError(422, "invalid_input", f"{name}: not an ISO-8601 instant or date", field=name) from None


def parse_as_of_param(calendar: LedgerCalendar, value: str) -> int | datetime:
    """`as_of`: a position in ASCII digits (at most 2^63 - 1), or an instant; anything else is a 422 naming it."""
    text = value.strip()
    if not text.isdigit():  # (true for digits of any script: those are refused below, by name)
        return parse_instant_param(calendar, text, "as_of")
    position = ascii_int(text, high=MAX_POSITION)
    if position is None:
        raise ApiError(
            422,
            "invalid_input",
            f"as_of: a position is written in the digits 0-9 and is at most {MAX_POSITION}",
            field="as_of",
        )
    return position


AT_DOC = "valid time: ISO-8601 instant or date (ledger zone); default now"
AS_OF_DOC = "transaction time: a ledger position (integer) or an ISO-8601 instant"
MIN_POSITION_DOC = "answer only once projections have processed this position"


async def read_point(
    container: ContainerDep,
    at: Annotated[str | None, Query(description=AT_DOC)] = None,
    as_of: Annotated[str | None, Query(description=AS_OF_DOC)] = None,
    min_position: Annotated[int | None, Query(ge=0, description=MIN_POSITION_DOC)] = None,
) -> ReadPoint:
    return await resolve_read_point(container, at, as_of, min_position)


async def resolve_read_point(
    container: Container, at: str | None, as_of: str | None, min_position: int | None
) -> ReadPoint:
    """Parse `at` and `as_of`, and wait (read-your-writes) until the position asked for is projected."""
    calendar = container.calendar
    at_value = parse_instant_param(calendar, at, "at") if at else None
    as_of_value: int | datetime | None = None
    wait_for = min_position or 0
    if as_of:
        as_of_value = parse_as_of_param(calendar, as_of)
        if isinstance(as_of_value, int):
            wait_for = max(wait_for, as_of_value)  # a position is read only once projected
    if wait_for > container.system.queries.source.tracked():  # else already readable: no round trip
        await run_in_threadpool(_wait_for, container, wait_for, min_position)
    return ReadPoint(at_value, as_of_value)


def _wait_for(container: Container, wait_for: int, min_position: int | None) -> None:
    """Read-your-writes: block (in the threadpool) until the projections hold `wait_for`."""
    last = container.system.service.recorder.last_position()
    if min_position is not None and min_position > last:
        raise ApiError(
            422,
            "invalid_input",
            f"min_position {min_position} is beyond the ledger's last position {last}",
            field="min_position",
        )
    # An as_of position beyond the end reads the latest position.
    container.system.wait(min(wait_for, last), container.settings.read_wait_seconds)


ReadPointDep = Annotated[ReadPoint, Depends(read_point)]
