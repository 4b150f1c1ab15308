"""FastAPI dependencies as `Annotated` aliases: the container, the authenticated client, time parameters."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.base import SecurityBase
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.params import MAX_PARAM_CHARS, MAX_POSITION, ascii_int
from api.security import Client, ClientRole, KeyRing
from api.settings import Settings
from api.throttle import AuthThrottle
from bootstrap.store import LogEvidence
from ledger.calendar import LedgerCalendar
from ledger.commands import refuse_unshown_characters
from projections.system import LedgerSystem


@dataclass
class Container:
    """What the routers use; built once at start-up (api.bootstrap)."""

    settings: Settings
    system: LedgerSystem
    keys: KeyRing
    calendar: LedgerCalendar
    log: LogEvidence
    throttle: AuthThrottle  # failed authentications per client address


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


def client_address(request: Request) -> str:
    """The address failed authentications are counted against (the TCP peer, or the proxy's forwarded client)."""
    return request.client.host if request.client is not None else "unknown"


def refuse_if_throttled(throttle: AuthThrottle, address: str) -> None:
    """429 while the address has failed to authenticate too often (api.throttle)."""
    wait = throttle.retry_after(address)
    if wait is not None:
        raise ApiError(
            429,
            "too_many_failed_authentications",
            f"too many failed authentications from this address; try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Client:
    """The API client of a request's bearer key (401 without one, or with an unknown one; 429 after too many)."""
    if credentials is None or not credentials.credentials:
        raise ApiError(
            401, "unauthorized", "send Authorization: Bearer <API key>", headers={"WWW-Authenticate": "Bearer"}
        )
    container = get_container(request)
    address = client_address(request)
    refuse_if_throttled(container.throttle, address)
    client = container.keys.authenticate(credentials.credentials)
    if client is None:
        container.throttle.failed(address)
        raise ApiError(401, "unauthorized", "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    request.state.client_id = client.client_id
    return client


class RoleGate(SecurityBase):
    """A dependency admitting only clients with one of `roles` (403 otherwise).

    One dependency, not a chain: each level of FastAPI dependency costs on every request. So the
    gate reads the bearer key itself, and is documented as the bearer scheme it reads (the same
    scheme, name and description in OpenAPI as a dependency on `_bearer` would give).
    OpenAPI's `x-roles` are read from the gate an operation depends on (api.openapi), so
    the documented roles are the enforced ones.
    """

    def __init__(self, *roles: ClientRole, only_with: Mapping[ClientRole, str] | None = None) -> None:
        self.model = _bearer.model
        self.scheme_name = _bearer.scheme_name
        self.roles = roles
        self.allowed = ", ".join(r.value for r in roles)
        # A role admitted only with a boolean query parameter set to true (support: dry_run=true).
        self.only_with = dict(only_with or {})

    async def __call__(self, request: Request) -> Client:
        client = authenticate(request, await _bearer(request))
        if client.role not in self.roles:
            raise ApiError(403, "forbidden", f"role {client.role.value} may not call this; allowed: {self.allowed}")
        flag = self.only_with.get(client.role)
        if flag is not None and (request.query_params.get(flag) or "").lower() not in TRUE_TEXTS:
            raise ApiError(
                403, "forbidden", f"role {client.role.value} may call this only with {flag}=true", field=flag
            )
        # Checked here, where every /v1 operation already passes, rather than in one more dependency level.
        refuse_unknown_parameters(request)
        return client


# What a boolean query parameter accepts as true (as the parameter's own parsing does).
TRUE_TEXTS = frozenset({"1", "on", "t", "true", "y", "yes"})


# Reads of the log itself (feed, verify, checkpoints) are always at its head: `min_position` holds there.
ANY_READ_PARAMETERS = frozenset({"min_position"})


def _query_names(dependant: Dependant) -> Iterator[str]:
    for param in dependant.query_params:
        yield param.alias
    for sub in dependant.dependencies:
        yield from _query_names(sub)


_declared: dict[str, frozenset[str]] = {}  # by operation id: the same routers serve every app


def declared_query_parameters(route: APIRoute) -> frozenset[str]:
    """The query parameters an operation reads: its dependencies' and those it documents itself."""
    found = _declared.get(route.unique_id)
    if found is None:
        found = _declared[route.unique_id] = _read_parameters(route)
    return found


def _read_parameters(route: APIRoute) -> frozenset[str]:
    documented = (route.openapi_extra or {}).get("parameters", [])
    names = set(_query_names(route.dependant)) | {p["name"] for p in documented if p.get("in") == "query"}
    if "GET" in (route.methods or ()):
        names |= ANY_READ_PARAMETERS
    return frozenset(names)


def refuse_unshown_values(request: Request) -> None:
    """Ids and values in the path or query hold no control character (a NUL would reach the store)."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        try:
            refuse_unshown_characters(str(value))
        except ValueError as e:
            raise ApiError(422, "invalid_input", f"{name}: {e}", field=name) from None


def refuse_unknown_parameters(request: Request) -> None:
    """No parameter is silently ignored: one the operation does not read is a 422 naming it."""
    refuse_unshown_values(request)
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    unknown = sorted(set(request.query_params) - declared_query_parameters(route))
    if unknown:
        accepted = ", ".join(sorted(declared_query_parameters(route))) or "none"
        raise ApiError(
            422,
            "invalid_input",
            f"{unknown[0]}: not a parameter of this operation (it takes: {accepted})",
            field=unknown[0],
        )


def require(*roles: ClientRole, only_with: Mapping[ClientRole, str] | None = None) -> RoleGate:
    """The dependency admitting only `roles`; a role in `only_with` only when it sets that boolean
    query parameter to true."""
    return RoleGate(*roles, only_with=only_with)


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


AT_DOC = "valid time: an ISO-8601 instant, or a date (the start of that day in the ledger's zone); default now"
AS_OF_DOC = (
    "transaction time, the ledger as known then: a ledger position (integer), an ISO-8601 instant, "
    "or a date (the start of that day in the ledger's zone); default: as fresh as the projections"
)
MIN_POSITION_DOC = "answer only once projections have processed this position"
CONSISTENCY_DOC = (
    "absent: as fresh as the projections are; `full`: wait until the projections hold the log's head "
    "as of the request (503 with Retry-After if they do not in time)"
)


async def read_point(
    container: ContainerDep,
    at: Annotated[str | None, Query(description=AT_DOC)] = None,
    as_of: Annotated[str | None, Query(description=AS_OF_DOC)] = None,
    min_position: Annotated[int | None, Query(ge=0, description=MIN_POSITION_DOC)] = None,
    consistency: Annotated[str | None, Query(description=CONSISTENCY_DOC)] = None,
) -> ReadPoint:
    return await resolve_read_point(container, at, as_of, min_position, consistency)


def wants_full_consistency(consistency: str | None) -> bool:
    """`consistency` is absent or `full`; any other value is refused, naming the parameter."""
    if consistency is None:
        return False
    if consistency != "full":
        raise ApiError(
            422, "invalid_input", "consistency: absent or 'full' (wait for the log's head)", field="consistency"
        )
    return True


async def consistency_param(
    container: ContainerDep,
    consistency: Annotated[str | None, Query(description=CONSISTENCY_DOC)] = None,
) -> bool:
    """For reads without a read point (search, feed, verify): with `full`, wait for the log's head."""
    full = wants_full_consistency(consistency)
    if full:
        await run_in_threadpool(_wait_for_head, container)
    return full


ConsistencyDep = Annotated[bool, Depends(consistency_param)]


async def resolve_read_point(
    container: Container,
    at: str | None,
    as_of: str | None,
    min_position: int | None,
    consistency: str | None = None,
) -> ReadPoint:
    """Parse `at` and `as_of`, and wait (read-your-writes) until the position asked for is projected.

    With `consistency=full` that position is the log's head as of the request.
    """
    full = wants_full_consistency(consistency)
    calendar = container.calendar
    at_value = parse_instant_param(calendar, at, "at") if at else None
    as_of_value: int | datetime | None = None
    wait_for = min_position or 0
    if as_of:
        as_of_value = parse_as_of_param(calendar, as_of)
        if isinstance(as_of_value, int):
            wait_for = max(wait_for, as_of_value)  # a position is read only once projected
    if full:
        await run_in_threadpool(_wait_for_head, container)
    if wait_for > container.system.read_position():  # else already readable: no round trip
        await run_in_threadpool(_wait_for, container, wait_for, min_position)
    return ReadPoint(at_value, as_of_value)


def _wait_for_head(container: Container) -> None:
    """consistency=full: block until the projections hold the log's last position as of now."""
    head = container.system.last_position()
    if head > container.system.read_position():
        container.system.wait(head, container.settings.read_wait_seconds)


def _wait_for(container: Container, wait_for: int, min_position: int | None) -> None:
    """Read-your-writes: block (in the threadpool) until the projections hold `wait_for`."""
    last = container.system.last_position()
    if min_position is not None and min_position > last:
        raise ApiError(
            422,
            "invalid_input",
            f"min_position {min_position} is beyond the ledger's last position {last}",
            field="min_position",
        )
    # An as_of position beyond the end reads the latest position.
    container.system.wait(min(wait_for, last), container.settings.read_wait_seconds)


async def as_of_point(
    container: ContainerDep,
    as_of: Annotated[str | None, Query(description=AS_OF_DOC)] = None,
    min_position: Annotated[int | None, Query(ge=0, description=MIN_POSITION_DOC)] = None,
    consistency: Annotated[str | None, Query(description=CONSISTENCY_DOC)] = None,
) -> ReadPoint:
    """For reads that take no `at` (their valid time is a range, or every time): `at` is refused, not ignored."""
    return await resolve_read_point(container, None, as_of, min_position, consistency)


async def projected_point(
    container: ContainerDep,
    min_position: Annotated[int | None, Query(ge=0, description=MIN_POSITION_DOC)] = None,
    consistency: Annotated[str | None, Query(description=CONSISTENCY_DOC)] = None,
) -> ReadPoint:
    """For reads of the projections as they stand (search): neither `at` nor `as_of`, but read-your-writes."""
    return await resolve_read_point(container, None, None, min_position, consistency)


ReadPointDep = Annotated[ReadPoint, Depends(read_point)]
AsOfDep = Annotated[ReadPoint, Depends(as_of_point)]
ProjectedPointDep = Annotated[ReadPoint, Depends(projected_point)]
