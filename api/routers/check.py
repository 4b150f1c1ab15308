"""GET /v1/check: may this person, acting for this organization, see this report (portal, support, auditor)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from api import models
from api.deps import (
    AS_OF_DOC,
    AT_DOC,
    CONSISTENCY_DOC,
    MIN_POSITION_DOC,
    PortalReader,
    get_container,
    resolve_read_point,
)
from api.errors import ApiError
from api.present import check_result
from ledger.access.check import CheckRequest
from ledger.access.vocabulary import Report

router = APIRouter(prefix="/v1", tags=["reads"])


class CheckQuery(BaseModel):
    """The check's query parameters, validated as one model: the portal's hot path."""

    model_config = ConfigDict(extra="ignore")

    person_id: str = Field(min_length=1, max_length=64)
    org_id: str = Field(min_length=1, max_length=64, description="the organization the person acts for")
    report: Report
    exam_year: int = Field(ge=1955, le=2200)
    school_id: str | None = Field(default=None, max_length=64, description="required except for district_score_summary")
    subject: str | None = Field(default=None, max_length=64)
    section_id: str | None = Field(default=None, max_length=64)
    at: str | None = Field(default=None, description=AT_DOC)
    as_of: str | None = Field(default=None, description=AS_OF_DOC)
    min_position: int | None = Field(default=None, ge=0, description=MIN_POSITION_DOC)
    consistency: str | None = Field(default=None, description=CONSISTENCY_DOC)

    def request(self, at: datetime) -> CheckRequest:
        """The domain's request, at valid time `at` (the read point is resolved separately)."""
        return CheckRequest(
            person_id=self.person_id,
            org_id=self.org_id,
            report=self.report,
            exam_year=self.exam_year,
            at=at,
            school_id=self.school_id,
            subject=self.subject,
            section_id=self.section_id,
        )


def _documented_parameters() -> list[dict[str, Any]]:
    """OpenAPI query parameters from CheckQuery (the route parses them itself, see below)."""
    schema = CheckQuery.model_json_schema()
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        out.append(param)
    defs = schema.get("$defs", {})
    for param in out:  # inline the Report enum
        ref = param["schema"].get("$ref")
        if ref:
            param["schema"] = defs[ref.rsplit("/", 1)[1]]
    return out


@router.get(
    "/check",
    response_model=models.CheckResult,
    responses=models.error_responses(401, 403, 404, 422, 503),
    openapi_extra={"parameters": _documented_parameters()},
)
async def check(request: Request, client: PortalReader) -> Response:
    """An unknown person answers `allowed: false` with R1 (the portal learns nothing more than "no")."""
    # The portal's hot path: one pydantic validation of the query instead of FastAPI's per-parameter
    # solving (which cost more than the decision itself); the parameters are documented above.
    try:
        q = CheckQuery.model_validate(dict(request.query_params))
    except ValidationError as e:
        raise RequestValidationError([{**err, "loc": ("query", *err["loc"])} for err in e.errors()]) from None
    container = get_container(request)
    if q.school_id is None and q.report is not Report.DISTRICT_SCORE_SUMMARY:
        raise ApiError(422, "invalid_input", "school_id is required for this report", field="school_id")
    point = await resolve_read_point(container, q.at, q.as_of, q.min_position, q.consistency)
    queries = container.system.queries

    def answer() -> Response:
        decided = queries.decide(q.request(point.at or queries.clock()), point.as_of)
        # Organizations unknown to the ledger at all are 404 (known only later than `as_of`: R13 in the answer).
        for org, code, name in (
            (q.org_id, "unknown_organization", "org_id"),
            (q.school_id, "unknown_school", "school_id"),
        ):
            if org is not None and org in decided.unknown_orgs and (point.as_of is None or not queries.org_exists(org)):
                raise ApiError(
                    404, code, f"unknown {name.removesuffix('_id').replace('org', 'organization')} {org}", field=name
                )
        # Serialized here: the body is already the response model's shape.
        return Response(orjson.dumps(check_result(decided).model_dump()), media_type="application/json")

    # When the streams are in memory the answer takes tens of microseconds, less than a hop to the
    # threadpool; otherwise it reads the store there.
    if queries.in_memory(queries.check_streams(q.person_id, q.org_id, q.school_id), point.as_of):
        return answer()
    return await run_in_threadpool(answer)
