"""POST /v1/commands and /v1/commands/batch (registrar)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from api import models
from api.deps import ContainerDep, Registrar
from api.errors import ApiError
from api.present import command_accepted
from ledger.commands import AnyCommand

router = APIRouter(prefix="/v1/commands", tags=["commands"])

ERRORS = models.error_responses(401, 403, 404, 409, 413, 422, 429)


@router.post("", status_code=201, response_model=models.CommandAccepted, responses=ERRORS)
def post_command(
    command: Annotated[AnyCommand, Body(discriminator="type")],
    client: Registrar,
    container: ContainerDep,
    response: Response,
) -> models.CommandAccepted:
    """Append one command (SPEC §4) as its event(s). `issue_access_code` returns the code once, in `result.code`."""
    outcome = container.system.service.execute(command, client.client_id)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return command_accepted(outcome)


@router.post("/batch", status_code=201, response_model=models.BatchAccepted, responses=ERRORS)
def post_batch(batch: models.BatchRequest, client: Registrar, container: ContainerDep) -> models.BatchAccepted:
    """Append several commands atomically: all, or none (the error names the first refused command)."""
    if len(batch.commands) > container.settings.max_batch:
        raise ApiError(
            422, "batch_too_large", f"at most {container.settings.max_batch} commands per batch", field="commands"
        )
    outcomes = container.system.service.execute_batch(batch.commands, client.client_id)
    results = [command_accepted(o) for o in outcomes]
    last = max(outcomes, key=lambda o: o.position)
    return models.BatchAccepted(position=last.position, recorded_at=last.recorded_at.isoformat(), results=results)
