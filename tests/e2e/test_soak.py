"""A short soak with a fault: one minute of mixed load against two workers on a PostgreSQL cluster of its
own, stopped for 15 s in the middle (`python -m bench soak --minutes 1`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import soak
from tests.e2e.clusters import require_cluster_binaries
from tests.e2e.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_a_minute_of_load_through_a_postgresql_outage_loses_nothing_and_answers_only_503_meanwhile(
    tmp_path: Path,
) -> None:
    require_cluster_binaries()
    report = soak.run(
        minutes=1, rate=5, outage_seconds=15, workers=2, port=free_port(), pg_port=free_port(), work_dir=tmp_path
    )
    answers = report["outage"]["statuses"]
    assert set(answers["down"]) <= {"200", "503"}, report["failures"]
    assert "503" in answers["down"]  # the outage was felt: commands could not be recorded
    assert report["outage"]["recovered_after_restart_s"] is not None, answers["restarting"]
    assert set(answers["after"]) <= {"200", "201"}, report["failures"]
    assert set(answers["before"]) <= {"200", "201"}, report["failures"]
    checked = report["verification"]
    assert checked["acknowledged"] >= 1
    assert checked["missing"] == checked["duplicated"] == checked["misplaced"] == []
    assert checked["projection_differences"] == []
    assert report["load"]["sent"] == 60 * 5
    assert [name for name, held in report["claims"].items() if not held] == []
