"""POST /v1/commands and /v1/commands/batch (registrar; support with dry_run=true only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi.responses import JSONResponse

from api import models
from api.deps import Container, ContainerDep, require
from api.errors import ApiError
from api.present import batch_preview, command_accepted, command_preview
from api.security import Client, ClientRole
from ledger.commands import AnyCommand, Command, RedeemAccessCode
from projections.preview import access_difference

router = APIRouter(prefix="/v1/commands", tags=["commands"])

ERRORS = models.error_responses(401, 403, 404, 409, 413, 422, 429)


# Support may only preview: the gate refuses its calls without dry_run=true, and the OpenAPI
# document reads the same condition from it (`x-role-conditions`).
RegistrarOrSupportPreview = Annotated[
    Client, Depends(require(ClientRole.REGISTRAR, ClientRole.SUPPORT, only_with={ClientRole.SUPPORT: "dry_run"}))
]
DRY_RUN_DOC = (
    "true: decide and answer what would be recorded and the access intervals it would change, "
    "appending nothing (registrar, support)"
)
BATCH_DRY_RUN_DOC = (
    "true: decide the batch as it would be now and answer what it would record and the access "
    "intervals the whole batch would change, appending nothing (registrar, support)"
)
PREVIEW: dict[int | str, dict[str, Any]] = {
    200: {"model": models.CommandPreview, "description": "dry_run=true: what the command would do"}
}
BATCH_PREVIEW: dict[int | str, dict[str, Any]] = {
    200: {"model": models.BatchPreview, "description": "dry_run=true: what the batch would do"}
}


@router.post("", status_code=201, response_model=models.CommandAccepted, responses={**ERRORS, **PREVIEW})
def post_command(
    command: Annotated[AnyCommand, Body(discriminator="type")],
    client: RegistrarOrSupportPreview,
    container: ContainerDep,
    response: Response,
    dry_run: Annotated[bool, Query(description=DRY_RUN_DOC)] = False,
) -> models.CommandAccepted | JSONResponse:
    """Append one command as its event(s). `issue_access_code` returns the code once, in `result.code`.

    With `dry_run=true` the command is decided as it would be now and nothing is appended: the
    answer (200) lists the events it would record and whose access intervals would start, end
    or move; a refusal is the same error as the real command's. Support may only preview
    (`x-role-conditions`: support calls it with `dry_run=true` only, 403 otherwise).
    """
    if dry_run:
        return JSONResponse(preview(container, command, client).model_dump(), status_code=200)
    outcome = container.system.service.execute(command, client.client_id)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return command_accepted(outcome, container.log.receipt([e.position for e in outcome.events]))


@router.post("/batch", status_code=201, response_model=models.BatchAccepted, responses={**ERRORS, **BATCH_PREVIEW})
def post_batch(
    batch: models.BatchRequest,
    client: RegistrarOrSupportPreview,
    container: ContainerDep,
    dry_run: Annotated[bool, Query(description=BATCH_DRY_RUN_DOC)] = False,
) -> models.BatchAccepted | JSONResponse:
    """Append several commands atomically: all, or none (the error names the first refused command).

    With `dry_run=true` the batch is decided as it would be now, each command seeing the ones
    before it, and nothing is appended: the answer (200) lists the events it would record and
    whose access intervals the whole batch would start, end or move; a refusal is the same error
    as the real batch's. Support may only preview (`x-role-conditions`: support calls it with
    `dry_run=true` only, 403 otherwise).
    """
    if len(batch.commands) > container.settings.max_batch:
        raise ApiError(
            422, "batch_too_large", f"at most {container.settings.max_batch} commands per batch", field="commands"
        )
    most = container.settings.max_redemptions_per_batch
    if sum(isinstance(c, RedeemAccessCode) for c in batch.commands) > most:
        raise ApiError(
            422,
            "too_many_redemptions",
            f"at most {most} redeem_access_code commands per batch (LEDGER_MAX_REDEMPTIONS_PER_BATCH)",
            field="commands",
        )
    if dry_run:
        return JSONResponse(preview_batch(container, batch.commands, client).model_dump(), status_code=200)
    outcomes = container.system.service.execute_batch(batch.commands, client.client_id)
    last = max(outcomes, key=lambda o: o.position)
    # One signed head for the whole batch: each command's receipt holds its own leaves.
    receipt = container.log.receipt([e.position for o in outcomes for e in o.events])
    leaves = {leaf["position"]: leaf for leaf in receipt["leaves"]}
    results = [
        command_accepted(o, {"head": receipt["head"], "leaves": [leaves[e.position] for e in o.events]})
        for o in outcomes
    ]
    return models.BatchAccepted(
        position=last.position,
        recorded_at=last.recorded_at.isoformat(),
        results=results,
        receipt=models.Receipt.model_validate(receipt),
    )


def preview(container: Container, command: Command, client: Client) -> models.CommandPreview:
    """Decide without appending, then compare access before and after at the position decided against."""
    system = container.system
    decided = system.service.preview([command], client.client_id)
    system.wait(decided.position, container.settings.read_wait_seconds)
    difference = access_difference(system.queries, [e for _, e in decided.events], decided.position)
    return command_preview(decided, difference)


def preview_batch(container: Container, commands: Sequence[Command], client: Client) -> models.BatchPreview:
    """Decide the batch without appending (refused as the batch would be), then compare access before and after."""
    system = container.system
    decided = system.service.preview(commands, client.client_id, batch=True)
    system.wait(decided.position, container.settings.read_wait_seconds)
    difference = access_difference(system.queries, [e for _, e in decided.events], decided.position)
    return batch_preview(decided, difference)
