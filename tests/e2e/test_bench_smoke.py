"""The benchmark harness completes at the 10k tier and writes well-formed JSON. No timing asserts.

SQLite always; PostgreSQL when a server answers, and always under CI=true. The run
writes into a temporary directory (never over bench/results/latest.json) and drops the
PostgreSQL database it created.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from bench.report import FIGURES, TARGETS
from tests.conftest import IN_CI, PG_URL, postgres_available, require_postgres

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(1200)
def test_the_10k_tier_completes_and_writes_every_figure(tmp_path: Path) -> None:
    stores = ["sqlite"]
    if postgres_available() or IN_CI:
        require_postgres()
        stores.append("postgres")
    dbname = f"ledger_bench_smoke_{uuid.uuid4().hex[:10]}"
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench",
                "--tier",
                "10k",
                "--quick",
                "--stores",
                ",".join(stores),
                "--out",
                str(out),
                "--data-dir",
                str(tmp_path / "data"),
                "--no-markdown",
                "--pg-url",
                PG_URL,
                "--pg-db",
                dbname,
                "--drop-pg",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1100,
            check=False,
        )
    finally:
        if "postgres" in stores:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    assert result.returncode == 0, f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"

    latest = json.loads((out / "latest.json").read_text())
    assert {"date", "machine", "tier_events", "stores", "targets"} <= latest.keys()
    assert latest["tier_events"] > 5_000
    assert {"cores", "ram_gib", "cpu_model", "python", "postgresql", "sqlite"} <= latest["machine"].keys()
    assert sorted(latest["stores"]) == sorted(stores)
    for store in stores:
        figures = latest["stores"][store]
        for name in FIGURES:
            assert isinstance(figures.get(name), int | float), f"{store}.{name} = {figures.get(name)!r}"
        for name in TARGETS:
            assert isinstance(latest["targets"][store][name]["pass"], bool)
    assert (out / "latest-10k.json").exists()
    assert len(list(out.glob("*T*-10k.json"))) == 1  # the dated copy
    if "postgres" in stores:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{dbname}%",)).fetchall()
        assert left == []
