"""`ledger serve --workers 2`: two worker processes on one port, each following the log with its own cache.

A write answered by one worker is read back through the other with `min_position`
(each keep-alive connection stays with the worker that accepted it, and `/healthz`
on that connection names the worker's process).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.servers import KEYS, Server, start_server
from tests.e2e.test_scale_out import SCHOOL, STAFF, check_params, school_with_staff

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def two_workers(pg_schema_url: str, tmp_path: Path) -> Iterator[Server]:
    # Each worker imports and opens the ledger on its own: slow on a busy machine.
    server = start_server(pg_schema_url, tmp_path, workers=2, startup_timeout=240)
    try:
        yield server
    finally:
        server.stop()


def connections_per_worker(server: Server, timeout: float = 120) -> dict[int, httpx.Client]:
    """One open connection to each of the two workers, keyed by the worker's process id."""
    found: dict[int, httpx.Client] = {}
    spare: list[httpx.Client] = []
    deadline = time.monotonic() + timeout
    while len(found) < 2:
        assert time.monotonic() < deadline, f"only worker(s) {sorted(found)} answered in {timeout}s"
        client = httpx.Client(base_url=server.url, timeout=30)
        process = int(client.get("/healthz").json()["process"])
        if process in found:
            spare.append(client)  # keep it open, so the next connection may go to the other worker
        else:
            found[process] = client
    for client in spare:
        client.close()
    return found


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def test_a_write_through_one_worker_is_read_back_through_the_other_with_min_position(two_workers: Server) -> None:
    with two_workers.client("registrar") as registrar:
        code, _ = school_with_staff(registrar)
    workers = connections_per_worker(two_workers)
    (first, one), (second, other) = sorted(workers.items())
    try:
        for n, (writer, reader, reader_process) in enumerate(
            [(one, other, second), (other, one, first), (one, other, second)]
        ):
            command: dict[str, Any] = {
                "type": "redeem_access_code",
                "school_id": SCHOOL,
                "exam_year": 2025,
                "person_id": STAFF[n],
                "code": code,
                "effective_at": "2025-07-02",
            }
            written = writer.post("/v1/commands", json=command, headers=auth("registrar"))
            assert written.status_code == 201, written.text
            position = written.json()["position"]
            answer = reader.get(
                "/v1/check", params=check_params(STAFF[n], min_position=position), headers=auth("portal")
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["allowed"] is True
            assert answer.json()["position"] >= position
            assert written.json()["events"][0]["event_id"] in answer.json()["evidence"]
            health = reader.get("/healthz").json()
            assert health["process"] == reader_process  # the same connection, the other worker
            assert health["position"] >= position
        # Both workers, asked for the log's head, answer at the same position.
        heads = {
            p: c.get("/v1/orgs/S-1/windows", params={"consistency": "full"}, headers=auth("portal")).json()["position"]
            for p, c in workers.items()
        }
        assert len(set(heads.values())) == 1, heads
    finally:
        for client in workers.values():
            client.close()
