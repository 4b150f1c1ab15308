"""A PostgreSQL cluster of the test's own (never the machine's server), stopped and removed afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import pgcluster
from tests.conftest import IN_CI
from tests.e2e.servers import free_port


def require_cluster_binaries() -> None:
    if pgcluster.available():
        return
    if IN_CI:
        pytest.fail(f"CI=true but no PostgreSQL server binaries in {pgcluster.BIN}")
    pytest.skip(f"no PostgreSQL server binaries in {pgcluster.BIN}")


@pytest.fixture
def own_cluster() -> Iterator[pgcluster.PgCluster]:
    """A fresh cluster on a free port."""
    require_cluster_binaries()
    cluster = pgcluster.new_cluster(free_port())
    try:
        yield cluster
    finally:
        cluster.destroy()
