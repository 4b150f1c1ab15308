"""GET /v1/events (feed), /v1/verify (integrity, read-only) and /v1/checkpoints (record and list them): auditors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field, StringConstraints

from api import models
from api.deps import Auditor, ConsistencyDep, ContainerDep
from api.errors import ApiError
from api.params import MAX_POSITION
from api.present import checkpoint_out, verify_result
from bootstrap.store import Checkpoint

router = APIRouter(prefix="/v1", tags=["audit"])

ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": models.ErrorResponse} for status in (401, 403, 422)}
HEX64 = "^[0-9a-fA-F]{64}$"
CHECKPOINT_ERRORS = models.error_responses(401, 403, 409)


def limit_fits_a_page(container: ContainerDep, limit: int) -> None:
    """A page holds at most LEDGER_MAX_PAGE items; a larger `limit` is refused, naming it."""
    if limit > container.settings.max_page:
        raise ApiError(422, "invalid_input", f"limit: at most {container.settings.max_page}", field="limit")


@router.get("/events", response_model=models.EventsPage, responses=ERRORS)
def events(
    client: Auditor,
    container: ContainerDep,
    consistency: ConsistencyDep,
    after: Annotated[int, Query(ge=0, le=MAX_POSITION, description="position to continue after")] = 0,
    limit: Annotated[int, Query(ge=1, description="events per page")] = 100,
) -> models.EventsPage:
    """Events in ledger order, after a position."""
    limit_fits_a_page(container, limit)
    page, next_after = container.system.feed(after, limit)
    return models.EventsPage(events=[models.LedgerEventOut(**e) for e in page], next_after=next_after)


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
    """Re-hash the stored events against the chain and the Merkle tree: nothing changed, removed, inserted
    or reordered. Changes nothing (record a checkpoint with `POST /v1/checkpoints`).

    By default from the last checkpoint (its signed head must still be the stored tree's root at its
    size: the log is consistent with it), with `full=true` from genesis, comparing the root at every
    recorded signed head. With exported chain checkpoints (pairs of `checkpoint_position` and
    `checkpoint_chain`), from genesis, proving the log still extends each of them.
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
    return verify_result(container.system.verify(container.log, full=full, external=external))


@router.post("/checkpoints", status_code=201, response_model=models.VerifyResult, responses=CHECKPOINT_ERRORS)
def record_checkpoint(client: Auditor, container: ContainerDep) -> models.VerifyResult:
    """Verify the log (from the last checkpoint) and record a checkpoint at its verified head: the chain value
    and a signed tree head. Keep `head` (and `checkpoint`) outside the database. A log that fails verification
    is refused (409) and the failed verification is recorded."""
    log = container.log
    report = container.system.verify(log, source="api", by=client.client_id)
    if not report.ok:
        raise ApiError(
            409,
            "log_tampered",
            f"verification failed at position {report.first_bad_position}: {report.problem}"
            if report.first_bad_position
            else f"verification failed: {report.problem}",
        )
    return verify_result(
        report, log.signed(report.tree_size, bytes.fromhex(report.root_hash)) if report.tree_size else None
    )


@router.get("/checkpoints", response_model=models.CheckpointsPage, responses=ERRORS)
def checkpoints(
    client: Auditor,
    container: ContainerDep,
    after: Annotated[int, Query(ge=0, le=MAX_POSITION, description="list checkpoints at positions after this one")] = 0,
    limit: Annotated[int, Query(ge=1, description="checkpoints per page")] = 100,
) -> models.CheckpointsPage:
    """Integrity checkpoints recorded by successful verifications, oldest first: export them."""
    limit_fits_a_page(container, limit)
    found = [c for c in container.system.checkpoints() if c.position > after][:limit]
    return models.CheckpointsPage(
        checkpoints=[checkpoint_out(c) for c in found], next_after=found[-1].position if found else after
    )
