"""GET /v1/events (feed), /v1/verify (integrity) and /v1/checkpoints (integrity checkpoints): auditors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field, StringConstraints

from api import models
from api.deps import Auditor, ConsistencyDep, ContainerDep
from api.errors import ApiError
from api.params import MAX_POSITION
from storage.audit import feed
from storage.integrity import checkpoint_json, verify
from storage.recorders import Checkpoint

router = APIRouter(prefix="/v1", tags=["audit"])

ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": models.ErrorResponse} for status in (401, 403, 422)}
HEX64 = "^[0-9a-fA-F]{64}$"


@router.get("/events", response_model=models.EventsPage, responses=ERRORS)
def events(
    client: Auditor,
    container: ContainerDep,
    consistency: ConsistencyDep,
    after: Annotated[int, Query(ge=0, le=MAX_POSITION, description="position to continue after")] = 0,
    limit: Annotated[int, Query(ge=1, description="events per page")] = 100,
) -> models.EventsPage:
    """Events in ledger order, after a position."""
    if limit > container.settings.max_page:
        raise ApiError(422, "invalid_input", f"limit: at most {container.settings.max_page}", field="limit")
    service = container.system.service
    page, next_after = feed(service.recorder, service.mapper, after, limit)
    return models.EventsPage(events=[models.LedgerEventOut(**e) for e in page], next_after=next_after)


def _checkpoint_out(checkpoint: Checkpoint) -> models.CheckpointOut:
    return models.CheckpointOut(**checkpoint_json(checkpoint))


@router.get("/verify", response_model=models.VerifyResult, responses=ERRORS)
def verify_log(
    client: Auditor,
    container: ContainerDep,
    consistency: ConsistencyDep,
    full: Annotated[
        bool, Query(description="re-hash from genesis (default: from the last verified checkpoint)")
    ] = False,
    checkpoint_position: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_POSITION)]] | None,
        Query(description="an exported checkpoint's position (repeatable)"),
    ] = None,
    checkpoint_chain: Annotated[
        list[Annotated[str, StringConstraints(pattern=HEX64)]] | None,
        Query(description="that checkpoint's chain value, 64 hex digits (repeatable)"),
    ] = None,
) -> models.VerifyResult:
    """Re-hash the stored events and compare with the chain: nothing changed, removed, inserted or reordered.

    By default from the last verified checkpoint (if the row at its position still has its chain
    value), with `full=true` from genesis. With exported checkpoints (pairs of `checkpoint_position`
    and `checkpoint_chain`), from genesis, proving the log still extends each of them. A success
    records a checkpoint at the verified end and returns it: keep it outside the database.
    """
    positions, chains = checkpoint_position or [], checkpoint_chain or []
    if len(positions) != len(chains):
        raise ApiError(
            422,
            "invalid_input",
            "checkpoint_position and checkpoint_chain must come in pairs",
            field="checkpoint_chain",
        )
    external = [Checkpoint(p, bytes.fromhex(c), "") for p, c in zip(positions, chains, strict=True)]
    report = verify(container.system.service.recorder, full=full, external=external)
    return models.VerifyResult(
        ok=report.ok,
        checked=report.checked,
        position=report.position,
        first_bad_position=report.first_bad_position,
        full=report.full,
        from_position=report.from_position,
        problem=report.problem,
        checkpoints_compared=report.checkpoints_compared,
        checkpoint=_checkpoint_out(report.checkpoint) if report.checkpoint else None,
    )


@router.get("/checkpoints", response_model=models.CheckpointsPage, responses=ERRORS)
def checkpoints(
    client: Auditor,
    container: ContainerDep,
    after: Annotated[int, Query(ge=0, le=MAX_POSITION, description="list checkpoints at positions after this one")] = 0,
    limit: Annotated[int, Query(ge=1, description="checkpoints per page")] = 100,
) -> models.CheckpointsPage:
    """Integrity checkpoints recorded by successful verifications, oldest first: export them."""
    if limit > container.settings.max_page:
        raise ApiError(422, "invalid_input", f"limit: at most {container.settings.max_page}", field="limit")
    found = [c for c in container.system.service.recorder.checkpoints() if c.position > after][:limit]
    return models.CheckpointsPage(
        checkpoints=[_checkpoint_out(c) for c in found], next_after=found[-1].position if found else after
    )
