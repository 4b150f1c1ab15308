"""GET /v1/people?query=…, /v1/people/{person_id}/rights and /timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import models
from api.deps import AsOfDep, ContainerDep, PortalReader, ProjectedPointDep, ReadPointDep, SupportReader
from api.errors import ApiError
from api.present import rights_result, timeline_result

router = APIRouter(prefix="/v1/people", tags=["reads"])
PersonId = Annotated[str, Path(min_length=1, max_length=64)]
NOT_FOUND = models.error_responses(401, 403, 404, 422, 503)


def _known_person(container: ContainerDep, person_id: str) -> None:
    if not container.system.queries.person_exists(person_id):
        raise ApiError(404, "unknown_person", f"unknown person {person_id}", rule="R1", field="person_id")


@router.get("", response_model=models.PeopleResult, responses=models.error_responses(401, 403, 422, 503))
def find_people(
    client: SupportReader,
    container: ContainerDep,
    point: ProjectedPointDep,
    query: Annotated[str, Query(min_length=1, max_length=100, description="start of an id, email, name or word of it")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> models.PeopleResult:
    """People whose id, email, name or a word of their name starts with `query` (case-insensitive), by id."""
    answer = container.system.queries.find_people(query, limit)
    return models.PeopleResult(
        query=answer.query,
        position=answer.position,
        people=[models.PersonFound(person_id=p.person_id, name=p.name, email=p.email) for p in answer.people],
    )


@router.get("/{person_id}/rights", response_model=models.RightsResult, responses=NOT_FOUND)
def rights(
    person_id: PersonId, client: PortalReader, container: ContainerDep, point: ReadPointDep
) -> models.RightsResult:
    """Per organization: role, scopes, validity interval and the grants behind it, at `at` as known at `as_of`."""
    _known_person(container, person_id)
    return rights_result(container.system.queries.rights(person_id, at=point.at, as_of=point.as_of))


@router.get("/{person_id}/timeline", response_model=models.TimelineResult, responses=NOT_FOUND)
def timeline(
    person_id: PersonId, client: SupportReader, container: ContainerDep, point: AsOfDep
) -> models.TimelineResult:
    """Every event about the person with both times, and the derived access intervals with both time axes."""
    _known_person(container, person_id)
    return timeline_result(container.system.queries.timeline(person_id, as_of=point.as_of))
