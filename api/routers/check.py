"""GET /v1/check: may this person, acting for this organization, see this report (portal, support, auditor)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api import models
from api.deps import ContainerDep, PortalReader, ReadPointDep
from api.errors import ApiError
from api.present import check_result
from ledger.access import Report

router = APIRouter(prefix="/v1", tags=["reads"])


@router.get("/check", response_model=models.CheckResult, responses=models.error_responses(401, 403, 404, 422, 503))
async def check(
    client: PortalReader,
    container: ContainerDep,
    point: ReadPointDep,
    person_id: Annotated[str, Query(min_length=1, max_length=64)],
    org_id: Annotated[str, Query(min_length=1, max_length=64, description="the organization the person acts for")],
    report: Report,
    exam_year: Annotated[int, Query(ge=1955, le=2200)],
    school_id: Annotated[str | None, Query(max_length=64, description="required except for district_score_summary")] = None,
    subject: Annotated[str | None, Query(max_length=64)] = None,
    section_id: Annotated[str | None, Query(max_length=64)] = None,
) -> models.CheckResult:
    """An unknown person answers `allowed: false` with R1 (the portal learns nothing more than "no")."""
    if school_id is None and report is not Report.DISTRICT_SCORE_SUMMARY:
        raise ApiError(422, "invalid_input", "school_id is required for this report", field="school_id")
    queries = container.system.queries

    def answer() -> models.CheckResult:
        if not queries.org_exists(org_id):
            raise ApiError(404, "unknown_organization", f"unknown organization {org_id}", field="org_id")
        if school_id is not None and not queries.org_exists(school_id):
            raise ApiError(404, "unknown_school", f"unknown school {school_id}", field="school_id")
        decided = queries.check(
            person_id=person_id, org_id=org_id, report=report, exam_year=exam_year, school_id=school_id,
            subject=subject, section_id=section_id, at=point.at, as_of=point.as_of,
        )
        return check_result(decided)

    # The portal's hot path: when the streams are in memory the answer takes tens of
    # microseconds, less than a hop to the threadpool; otherwise it reads the store there.
    if queries.in_memory(queries.check_streams(person_id, org_id, school_id), point.as_of):
        return answer()
    return await run_in_threadpool(answer)
