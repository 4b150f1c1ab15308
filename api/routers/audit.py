"""GET /v1/events (feed) and /v1/verify (integrity): auditors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import models
from api.deps import Auditor, ContainerDep
from api.errors import ApiError
from storage.audit import feed
from storage.integrity import verify_chain

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/events", response_model=models.EventsPage)
def events(
    client: Auditor,
    container: ContainerDep,
    after: Annotated[int, Query(ge=0, description="position to continue after")] = 0,
    limit: Annotated[int, Query(ge=1, description="events per page")] = 100,
) -> models.EventsPage:
    """Events in ledger order, after a position."""
    if limit > container.settings.max_page:
        raise ApiError(422, "invalid_input", f"limit: at most {container.settings.max_page}", field="limit")
    service = container.system.service
    page, next_after = feed(service.recorder, service.mapper, after, limit)
    return models.EventsPage(events=[models.LedgerEventOut(**e) for e in page], next_after=next_after)


@router.get("/verify", response_model=models.VerifyResult)
def verify(client: Auditor, container: ContainerDep) -> models.VerifyResult:
    """Re-hash every stored event and compare with the chain: nothing changed, removed, inserted or reordered."""
    report = verify_chain(container.system.service.recorder)
    return models.VerifyResult(
        ok=report.ok, checked=report.checked, position=report.position, first_bad_position=report.first_bad_position,
        full=True, from_position=report.from_position, problem=report.problem,
    )
