"""Readiness while the store is down: `/readyz` answers 503, `/healthz` (liveness) stays 200, and both
recover without a restart once PostgreSQL is back. On a cluster of the test's own, which it stops."""

from __future__ import annotations

import math
import time
from pathlib import Path

import httpx
import pytest
from eventsourcing.persistence import OperationalError

from bench.pgcluster import PgCluster
from bootstrap import open_ledger
from projections.system import LedgerSystem
from tests.e2e.clusters import own_cluster
from tests.e2e.servers import serve

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
__all__ = ["own_cluster"]  # the fixture


def wait_for_status(url: str, status: int, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, timeout=15)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_readyz_is_503_while_postgresql_is_stopped_and_200_again_once_it_is_back(
    own_cluster: PgCluster, tmp_path: Path
) -> None:
    with serve(own_cluster.url, tmp_path) as server, server.client("registrar") as registrar:
        written = registrar.post(
            "/v1/commands", json={"type": "register_district", "district_id": "D-1", "name": "One"}
        )
        assert written.status_code == 201, written.text
        ready = wait_for_status(f"{server.url}/readyz", 200)
        assert ready.status_code == 200, ready.text
        assert ready.json()["log_position"] == written.json()["position"]

        own_cluster.stop()
        down = wait_for_status(f"{server.url}/readyz", 503)
        assert down.status_code == 503, down.text
        assert any("store unreachable" in p for p in down.json()["problems"])
        assert down.json()["log_position"] is None
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # alive: do not restart it
        refused = registrar.post(
            "/v1/commands", json={"type": "register_district", "district_id": "D-2", "name": "Two"}
        )
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"]

        own_cluster.start()
        back = wait_for_status(f"{server.url}/readyz", 200, timeout=60)
        assert back.status_code == 200, back.text
        again = registrar.post("/v1/commands", json={"type": "register_district", "district_id": "D-2", "name": "Two"})
        assert again.status_code == 201, again.text


def seconds_until_the_store_answers(system: LedgerSystem, timeout: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        try:
            system.service.recorder.last_position()
            return time.monotonic() - began
        except OperationalError:
            time.sleep(0.1)
    return math.inf


def test_the_ledger_reconnects_within_seconds_once_postgresql_is_back_from_a_20_second_outage(
    own_cluster: PgCluster,
) -> None:
    system = open_ledger(own_cluster.url, follow=False)
    try:
        assert system.service.recorder.last_position() == 0
        own_cluster.stop()
        # Asked all through the outage, as a busy server would: each failure to connect is retried later.
        assert seconds_until_the_store_answers(system, timeout=20) == math.inf
        own_cluster.start()
        assert seconds_until_the_store_answers(system, timeout=30) < 5
    finally:
        system.close()
