"""GET /v1/orgs/{org_id}/access (who had access) and /windows (annual-window state)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import models
from api.deps import AsOfDep, ContainerDep, PortalReader, ReadPointDep, SupportReader, parse_instant_param
from api.errors import ApiError
from api.present_access import access_result
from ledger.access.vocabulary import Level

router = APIRouter(prefix="/v1/orgs", tags=["reads"])
OrgId = Annotated[str, Path(min_length=1, max_length=64)]
NOT_FOUND = models.error_responses(401, 403, 404, 422, 503)


@router.get("/{org_id}/access", response_model=models.AccessResult, response_model_by_alias=True, responses=NOT_FOUND)
def who_had_access(
    org_id: OrgId,
    client: SupportReader,
    container: ContainerDep,
    point: AsOfDep,
    from_: Annotated[str, Query(alias="from", description="start (inclusive): ISO-8601 instant or date")],
    to: Annotated[str, Query(description="end (exclusive): ISO-8601 instant or date")],
    level: Annotated[Level, Query(description="student-level or aggregate data")] = Level.STUDENT,
    clip: Annotated[
        bool, Query(description="true: cut each interval to [from, to); false (default): intervals whole")
    ] = False,
) -> models.AccessResult:
    """Who could see the organization's data of `level` in [from, to): each person (id and name), role,
    organization acted for, interval (UTC and in the ledger's zone) and grant (event id, type, position).

    Intervals are shown whole, as the rules give them, unless `clip=true`; an open interval has a null end."""
    calendar = container.calendar
    start = parse_instant_param(calendar, from_, "from")
    end = parse_instant_param(calendar, to, "to")
    if end <= start:
        raise ApiError(422, "invalid_input", "to must be after from (intervals are [from, to))", field="to")
    answer = container.system.queries.who_had_access(org_id, start, end, level, as_of=point.as_of, clip=clip)
    return access_result(answer, calendar.zone)


@router.get("/{org_id}/windows", response_model=models.WindowsResult, responses=NOT_FOUND)
def windows(org_id: OrgId, client: PortalReader, container: ContainerDep, point: ReadPointDep) -> models.WindowsResult:
    """Annual windows: the current released year, codes and staff places, teachers' renewals, district windows."""
    answer = container.system.queries.windows(org_id, at=point.at, as_of=point.as_of)
    return models.WindowsResult(org_id=org_id, at=answer.at.isoformat(), position=answer.position, **answer.body)
