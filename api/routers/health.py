"""GET /healthz (liveness, latest position), GET /readyz (readiness) and GET /metrics (Prometheus text). No key."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
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
        process=os.getpid(),
    )


@router.get("/readyz", response_model=models.ReadyResult, responses={503: {"model": models.ReadyResult}})
def readyz(container: ContainerDep) -> JSONResponse:
    """Readiness: 503 while the store is unreachable or reads lag the log by more than LEDGER_READY_MAX_LAG.

    The query cache's warming after start is reported in `warming` and does not make the process unready.
    """
    max_lag = container.settings.ready_max_lag
    r = container.system.readiness(max_lag)
    body = models.ReadyResult(
        ready=r.ready,
        position=r.position,
        log_position=r.log_position,
        lag=r.lag,
        max_lag=max_lag,
        problems=list(r.problems),
        replica=None
        if r.replica is None
        else models.ReplicaOut(url=r.replica.display, position=r.replica.position, lag=r.replica.lag),
        warming=None
        if r.warming is None
        else models.WarmingOut(
            done=r.warming.done, loaded=r.warming.loaded, of=r.warming.of, full=r.warming.full, error=r.warming.error
        ),
    )
    return JSONResponse(body.model_dump(), status_code=200 if r.ready else 503)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request, container: ContainerDep) -> PlainTextResponse:
    """Request counts and latencies per route; projection lag in positions."""
    m = request.app.state.metrics
    system = container.system
    log_position = system.last_position()
    projected = system.view.tracked()
    m.log_position.set(log_position)
    m.projected_position.set(projected)
    m.lag.set(max(0, log_position - projected))
    replica = system.replica_state()
    if replica is not None and replica.position is not None:
        m.replica_position.set(replica.position)
        if replica.lag is not None:
            m.replica_lag.set(replica.lag)
    return PlainTextResponse(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
