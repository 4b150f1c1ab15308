"""Readiness while the store is down: `/readyz` answers 503, `/healthz` (liveness) stays 200, and both
recover without a restart once PostgreSQL is back. On a cluster of the test's own, which it stops."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass
class Asked:
    began: float
    took: float
    answered: bool


@contextmanager
def asking_all_the_time(system: LedgerSystem) -> Iterator[list[Asked]]:
    """A thread asks the store every 0.1 s, as a busy server would, and notes how each ask went."""
    asked: list[Asked] = []
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            began = time.monotonic()
            try:
                system.service.recorder.last_position()
                answered = True
            except OperationalError:
                answered = False
            asked.append(Asked(began, time.monotonic() - began, answered))
            time.sleep(0.1)

    thread = threading.Thread(target=ask)
    thread.start()
    try:
        yield asked
    finally:
        done.set()
        thread.join()


def seconds_until_answered(asked: list[Asked], since: float, timeout: float = 30) -> float:
    while time.monotonic() - since < timeout:
        answers = [a.began + a.took for a in list(asked) if a.answered and a.began + a.took > since]
        if answers:
            return min(answers) - since
        time.sleep(0.05)
    return math.inf


def test_during_a_20_second_outage_asks_fail_at_once_and_the_ledger_answers_within_2_seconds_of_the_restart(
    own_cluster: PgCluster,
) -> None:
    system = open_ledger(own_cluster.url, follow=False)
    try:
        assert system.service.recorder.last_position() == 0
        with asking_all_the_time(system) as asked:
            own_cluster.stop()
            stopped = time.monotonic()
            time.sleep(20)
            restarting = time.monotonic()
            own_cluster.start()  # at whatever point the asks are: one may be waiting for an answer
            restarted = time.monotonic()
            back = seconds_until_answered(asked, since=restarted)
        # Once the first failure to connect has been waited out, a failure takes no wait.
        late = [a for a in asked if stopped + 10 < a.began < restarting - 0.5]
        assert late
        assert not any(a.answered for a in late)
        assert max(a.took for a in late) < 1
        # Within about a second (the breaker's cooldown); the rest is a margin for a busy machine.
        assert back < 2
    finally:
        system.close()
