"""FastAPI dependencies as `Annotated` aliases: the container, the authenticated client, time parameters."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
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


# Cheap dependencies are `async def`: each plain `def` dependency costs a threadpool hop.


async def get_container(request: Request) -> Container:
    container = request.app.state.container
    assert isinstance(container, Container)
    return container


ContainerDep = Annotated[Container, Depends(get_container)]

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <secret> (LEDGER_API_KEYS)")


async def get_client(
    request: Request,
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Client:
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <API key>", headers={"WWW-Authenticate": "Bearer"})
    client = container.keys.authenticate(credentials.credentials)
    if client is None:
        raise ApiError(401, "unauthorized", "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    request.state.client_id = client.client_id
    return client


ClientDep = Annotated[Client, Depends(get_client)]


def require(*roles: ClientRole) -> Callable[[Client], Coroutine[Any, Any, Client]]:
    """A dependency admitting only clients with one of `roles` (403 otherwise)."""
    allowed = ", ".join(r.value for r in roles)

    async def check(client: ClientDep) -> Client:
        if client.role not in roles:
            raise ApiError(403, "forbidden", f"role {client.role.value} may not call this; allowed: {allowed}")
        return client

    return check


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
    try:
        return calendar.parse_instant(value)
    except ValueError:
        raise ApiError(422, "invalid_input", f"{name}: not an ISO-8601 instant or date", field=name) from None


async def read_point(
    container: ContainerDep,
    at: Annotated[str | None, Query(description="valid time: ISO-8601 instant or date (ledger zone); default now")] = None,
    as_of: Annotated[
        str | None, Query(description="transaction time: a ledger position (integer) or an ISO-8601 instant")
    ] = None,
    min_position: Annotated[
        int | None, Query(ge=0, description="answer only once projections have processed this position")
    ] = None,
) -> ReadPoint:
    calendar = container.calendar
    at_value = parse_instant_param(calendar, at, "at") if at else None
    as_of_value: int | datetime | None = None
    wait_for = min_position or 0
    if as_of:
        if as_of.strip().isdigit():
            as_of_value = int(as_of)
            wait_for = max(wait_for, as_of_value)  # a position is read only once projected
        else:
            as_of_value = parse_instant_param(calendar, as_of, "as_of")
    if wait_for > container.system.queries.source.tracked():  # else already readable: no round trip
        await run_in_threadpool(_wait_for, container, wait_for, min_position)
    return ReadPoint(at_value, as_of_value)


def _wait_for(container: Container, wait_for: int, min_position: int | None) -> None:
    """Read-your-writes: block (in the threadpool) until the projections hold `wait_for`."""
    last = container.system.service.recorder.last_position()
    if min_position is not None and min_position > last:
        raise ApiError(
            422, "invalid_input", f"min_position {min_position} is beyond the ledger's last position {last}",
            field="min_position",
        )
    # An as_of position beyond the end reads the latest position.
    container.system.runner.wait(min(wait_for, last), container.settings.read_wait_seconds)


ReadPointDep = Annotated[ReadPoint, Depends(read_point)]
