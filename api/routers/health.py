"""GET /healthz (liveness, latest position) and GET /metrics (Prometheus text). No key needed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from api import models
from api.deps import ContainerDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=models.HealthResult)
async def healthz(container: ContainerDep) -> models.HealthResult:
    """Liveness and the latest ledger position this process knows (and the one its reads answer at).

    Both only move forward, and `position` is at or after every position this process has answered.
    """
    system = container.system
    return models.HealthResult(
        ok=system.runner.error is None,
        position=system.position(),
        projected_position=system.read_position(),
    )


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request, container: ContainerDep) -> PlainTextResponse:
    """Request counts and latencies per route; projection lag in positions."""
    m = request.app.state.metrics
    system = container.system
    log_position = system.service.recorder.last_position()
    projected = system.view.tracked()
    m.log_position.set(log_position)
    m.projected_position.set(projected)
    m.lag.set(max(0, log_position - projected))
    return PlainTextResponse(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
