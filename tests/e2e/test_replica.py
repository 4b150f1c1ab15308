"""PostgreSQL read replicas: a server writes to the primary and reads its projections from a real
streaming hot standby (`pg_basebackup -R`), with read-your-writes through `min_position`.

Both clusters are the test's own, in temporary directories on ports of their own. Replay on the
standby is paused to show the lag: `/readyz` and `/metrics` report it, and a read that needs a
position the standby has not replayed answers 503 with Retry-After until replay resumes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.pgcluster import PgCluster
from tests.e2e.clusters import own_cluster
from tests.e2e.servers import free_port, run_ledger, serve
from tests.e2e.test_scale_out import SCHOOL, STAFF, check_params, post, school_with_staff

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
__all__ = ["own_cluster"]  # the fixture


@pytest.fixture
def standby(own_cluster: PgCluster) -> Iterator[PgCluster]:
    # The ledger's tables exist on the primary before the standby is copied from it.
    created = run_ledger("checkpoints", database_url=own_cluster.url)
    assert created.returncode == 0, created.stderr
    replica = own_cluster.replica(free_port())
    try:
        yield replica
    finally:
        replica.destroy()


def scalar(url: str, sql: str) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return row[0]


def replica_lag_metric(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ledger_replica_lag_positions":
                return float(sample.value)
    raise AssertionError("no ledger_replica_lag_positions in /metrics")


def test_writes_go_to_the_primary_and_reads_with_min_position_come_from_the_replica(
    own_cluster: PgCluster, standby: PgCluster, tmp_path: Path
) -> None:
    primary = own_cluster
    assert scalar(standby.url, "SELECT pg_is_in_recovery()") is True
    with (
        # Long enough for replay on a busy machine; the reads refused while replay is paused wait it out.
        serve(primary.url, tmp_path, read_database_url=standby.url, read_wait_seconds="5", ready_max_lag="0") as server,
        server.client("registrar") as registrar,
        server.client("portal") as portal,
        server.client() as anyone,
    ):
        code, position = school_with_staff(registrar)
        # The write is on the primary; the standby has it by replication, not because anyone wrote there.
        assert scalar(primary.url, "SELECT max(notification_id) FROM ledger_events") == position

        redeemed = post(
            registrar,
            type="redeem_access_code",
            school_id=SCHOOL,
            exam_year=2025,
            person_id=STAFF[0],
            code=code,
            effective_at="2025-07-02",
        )
        answer = portal.get("/v1/check", params=check_params(STAFF[0], min_position=redeemed["position"]))
        assert answer.status_code == 200, answer.text
        assert answer.json()["allowed"] is True
        assert answer.json()["position"] >= redeemed["position"]
        ready = anyone.get("/readyz").json()
        assert ready["replica"]["position"] == redeemed["position"]
        assert ready["replica"]["lag"] == 0

        # Hold replay on the standby: the next write is projected on the primary only.
        scalar(standby.url, "SELECT pg_wal_replay_pause()")
        try:
            second = post(
                registrar,
                type="redeem_access_code",
                school_id=SCHOOL,
                exam_year=2025,
                person_id=STAFF[1],
                code=code,
                effective_at="2025-07-02",
            )
            waited = portal.get("/v1/check", params=check_params(STAFF[1], min_position=second["position"]))
            assert waited.status_code == 503, waited.text
            assert waited.headers["Retry-After"]
            full = portal.get("/v1/check", params=check_params(STAFF[1], consistency="full"))
            assert full.status_code == 503, full.text

            behind = anyone.get("/readyz")
            assert behind.status_code == 503, behind.text
            assert behind.json()["replica"]["lag"] >= 1
            assert any("replica" in p for p in behind.json()["problems"])
            assert replica_lag_metric(anyone.get("/metrics").text) >= 1
        finally:
            scalar(standby.url, "SELECT pg_wal_replay_resume()")

        caught_up = portal.get("/v1/check", params=check_params(STAFF[1], min_position=second["position"]))
        assert caught_up.status_code == 200, caught_up.text
        assert caught_up.json()["allowed"] is True
        assert second["events"][0]["event_id"] in caught_up.json()["evidence"]
        assert replica_lag_metric(anyone.get("/metrics").text) == 0
