"""`python -m bench soak --minutes N`: a fixed rate of mixed requests against two workers, with a PostgreSQL outage.

A PostgreSQL cluster of its own (never the machine's server) serves `ledger serve --workers 2`.
Requests are sent open-loop at a fixed rate: 90 % checks, 5 % rights or who-had-access, 5 %
commands (each with its own idempotency key). In the middle the cluster is stopped for
`--outage-seconds` (20 s, less on runs shorter than a minute) and started again. Afterwards:

- per-minute latency percentiles and answers by status, and the answers each phase of the outage
  allows (`bench.soak_report`): while the cluster is down nothing but 200 (answered from memory)
  or 503, after recovery only 2xx;
- every command acknowledged (201) is in the log exactly once (unacknowledged ones are sent
  again with the same key: a command that was committed before its answer was lost replays);
- the projections equal the reference evaluator on every check and rights question of the world.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.pgcluster import PgCluster, new_cluster
from bench.report import git_revision
from bench.soak_report import (
    Outage,
    Sample,
    claims,
    failures,
    load_figures,
    outage_figures,
    per_minute,
    recovered_at,
    summary,
)
from bootstrap import open_ledger
from ledger.access.vocabulary import Report
from ledger.calendar import LedgerCalendar
from projections.queries import Queries
from projections.source import ReferenceSource
from storage.codes import CodeHasher
from storage.signing import write_new_key

RESULTS = Path(__file__).resolve().parent / "results"
IN_FLIGHT = 64  # requests the client sends at once (and its connections)
SECRETS = {role: f"soak-{role}-secret-not-for-production-use" for role in ("registrar", "portal", "support")}
SCHOOL, DISTRICT, PRINCIPAL = "S-1", "D-1", "P-PRIN"
STAFF = [f"P-S{n:02d}" for n in range(1, 21)]
CHECK = {"org_id": SCHOOL, "report": "student_datafile", "exam_year": 2025, "school_id": SCHOOL, "at": "2025-07-08"}


def world() -> list[dict[str, Any]]:
    """A district, a school, a principal and twenty staff; 2025 released; five staff redeemed the code."""
    past = "2024-08-01"
    commands: list[dict[str, Any]] = [
        {"type": "register_district", "district_id": DISTRICT, "name": "District", "effective_at": past},
        {
            "type": "register_school",
            "school_id": SCHOOL,
            "name": "School",
            "district_id": DISTRICT,
            "effective_at": past,
        },
    ]
    for pid in (PRINCIPAL, *STAFF):
        commands += [
            {
                "type": "register_person",
                "person_id": pid,
                "name": pid,
                "email": f"{pid.lower()}@x.org",
                "effective_at": past,
            },
            {"type": "add_affiliation", "person_id": pid, "org_id": SCHOOL, "effective_at": past},
            {"type": "accept_terms", "person_id": pid, "terms_version": "v1", "effective_at": past},
        ]
    commands += [
        {
            "type": "designate_principal",
            "school_id": SCHOOL,
            "person_id": PRINCIPAL,
            "exam_year": 2025,
            "effective_at": "2024-09-01",
        },
        {"type": "release_scores", "exam_year": 2025, "released_on": "2025-07-07", "effective_at": "2025-07-07"},
        {"type": "issue_access_code", "school_id": SCHOOL, "exam_year": 2025, "effective_at": "2025-07-01"},
    ]
    return commands


@dataclass
class Soak:
    url: str
    samples: list[Sample] = field(default_factory=list)
    acknowledged: dict[str, int] = field(default_factory=dict)  # person id → position of its registration
    unacknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)


def start_server(database_url: str, port: int, log_path: Path, workers: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(
        {
            "LEDGER_DATABASE_URL": database_url,
            "LEDGER_API_KEYS": ",".join(f"{r}:{r}:{s}" for r, s in SECRETS.items()),
            "LEDGER_CODE_HASH_TIME_COST": "1",
            "LEDGER_CODE_HASH_MEMORY_KIB": "64",
            "LEDGER_SIGNING_KEY_FILE": str(log_path.parent / "soak-signing.key"),
            "LEDGER_READ_WAIT_SECONDS": "2",
        }
    )
    ledger = Path(sys.executable).parent / "ledger"
    with log_path.open("wb") as out:
        return subprocess.Popen(
            [str(ledger), "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def wait_ready(url: str, timeout: float, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready within {timeout}s:\n{log_path.read_text()[-3000:]}")


def request_for(i: int, soak_id: str) -> tuple[str, str, str, dict[str, Any] | None, dict[str, Any] | None]:
    """(kind, role, path, query, body) of the i-th request: 90 % checks, 5 % other reads, 5 % commands."""
    person = STAFF[i % len(STAFF)]
    slot = i % 20
    if slot == 0:
        pid = f"P-SOAK-{soak_id}-{i}"
        body = {
            "type": "register_person",
            "person_id": pid,
            "name": pid,
            "email": f"{pid.lower()}@x.org",
            "idempotency_key": f"soak-{soak_id}-{i}",
        }
        return "command", "registrar", "/v1/commands", None, body
    if slot == 10:
        if i % 40 == 10:
            return "rights", "portal", f"/v1/people/{person}/rights", {"at": "2025-07-08"}, None
        return "access", "support", f"/v1/orgs/{SCHOOL}/access", {"from": "2024-08-01", "to": "2025-08-01"}, None
    return "check", "portal", "/v1/check", {"person_id": person, **CHECK}, None


async def drive(soak: Soak, seconds: float, rate: float, outage: Outage, cluster: PgCluster, soak_id: str) -> None:
    """Open-loop: one request every 1/rate s, whatever the answers; the outage runs in a thread.

    At most IN_FLIGHT requests are sent at once; the others wait their turn in order, and the wait
    shows as send lag. Handing httpx thousands at once while the server stalls (a busy machine)
    makes its connection pool spend time quadratic in the queue, and the client, not the
    server, stops answering.
    """
    # A connection idle for uvicorn's keep-alive (5 s) is closed by the server: the client lets go of
    # its idle connections sooner, or a request sent just as the server closes one is lost in between.
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT, keepalive_expiry=2)
    turns = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=soak.url, timeout=15, limits=limits) as client:
        began = time.perf_counter()

        def stop_and_start(outage_seconds: float) -> None:
            outage.stopping = time.perf_counter() - began
            cluster.stop()
            outage.stopped = time.perf_counter() - began
            time.sleep(outage_seconds)
            outage.restarting = time.perf_counter() - began
            cluster.start()
            outage.restarted = time.perf_counter() - began

        async def one(i: int, due: float) -> None:
            kind, role, path, query, body = request_for(i, soak_id)
            headers = {"Authorization": f"Bearer {SECRETS[role]}"}
            status, code, retry_after = 0, None, False
            async with turns:
                started = time.perf_counter()
                try:
                    if body is None:
                        response = await client.get(path, params=query, headers=headers)
                    else:
                        response = await client.post(path, json=body, headers=headers)
                    status, code = response.status_code, error_code(response)
                    retry_after = "Retry-After" in response.headers
                    if body is not None and status == 201:
                        soak.acknowledged[body["person_id"]] = int(response.json()["position"])
                except httpx.HTTPError as e:
                    code = f"{type(e).__name__}: {e}"
                latency = (time.perf_counter() - started) * 1000
            if body is not None and status != 201:
                soak.unacknowledged[body["person_id"]] = body
            soak.samples.append(Sample(due, started - began, kind, status, latency, code, retry_after))

        tasks: list[asyncio.Task[None]] = []
        outage_thread: threading.Thread | None = None
        n = int(seconds * rate)
        for i in range(n):
            due = began + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if outage_thread is None and time.perf_counter() - began >= outage.stop_at:
                outage_thread = threading.Thread(target=stop_and_start, args=(outage.seconds,))
                outage_thread.start()
            tasks.append(asyncio.create_task(one(i, i / rate)))
        await asyncio.gather(*tasks)
        if outage_thread is not None:
            await asyncio.to_thread(outage_thread.join)


def error_code(response: httpx.Response) -> str | None:
    """The error's code of a non-2xx answer (`store_unavailable`, …), as the API names it."""
    if response.is_success:
        return None
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}"


def resend_unacknowledged(soak: Soak) -> None:
    """Send each command that got no 201 again, with its key: exactly once, whether it was committed or not."""
    headers = {"Authorization": f"Bearer {SECRETS['registrar']}"}
    with httpx.Client(base_url=soak.url, timeout=30, headers=headers) as client:
        for person, body in sorted(soak.unacknowledged.items()):
            for _ in range(20):
                response = client.post("/v1/commands", json=body)
                if response.status_code == 201:
                    soak.acknowledged[person] = int(response.json()["position"])
                    break
                time.sleep(0.5)


def verify(database_url: str, soak: Soak) -> dict[str, Any]:
    """Every acknowledged command in the log exactly once; the projections equal the reference evaluator."""
    system = open_ledger(database_url, follow=False, hasher=CodeHasher(time_cost=1, memory_cost_kib=64))
    try:
        system.runner.catch_up()
        registered: Counter[str] = Counter()
        at_position: dict[int, str] = {}
        after = 0
        while rows := system.service.recorder.read_stored(after, 5000):
            for position, _, _, topic, raw in rows:
                if topic.endswith(":PersonRegistered"):
                    person = system.service.mapper.raw_state_of(raw)["person_id"]
                    registered[person] += 1
                    at_position[position] = person
            after = rows[-1][0]
        missing = sorted(p for p in soak.acknowledged if registered[p] == 0)
        duplicated = sorted(p for p in soak.acknowledged if registered[p] > 1)
        misplaced = sorted(p for p, pos in soak.acknowledged.items() if at_position.get(pos) != p)
        reference = Queries(
            ReferenceSource(system.service.recorder, system.service.mapper), LedgerCalendar(), system.clock
        )
        at = LedgerCalendar().parse_instant("2025-07-08")
        differences = []
        for person in (PRINCIPAL, *STAFF):
            kwargs: dict[str, Any] = {
                "person_id": person,
                "org_id": SCHOOL,
                "report": Report.STUDENT_DATAFILE,
                "exam_year": 2025,
                "school_id": SCHOOL,
                "at": at,
            }
            if system.queries.check(**kwargs) != reference.check(**kwargs):
                differences.append(f"check {person}")
            if system.queries.rights(person, at=at) != reference.rights(person, at=at):
                differences.append(f"rights {person}")
        return {
            "acknowledged": len(soak.acknowledged),
            "missing": missing,
            "duplicated": duplicated,
            "misplaced": misplaced,
            "projection_differences": differences,
        }
    finally:
        system.close()


def seed_world(url: str) -> None:
    """Record the world, then five staff redeem the school's code."""
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {SECRETS['registrar']}"}) as c:
        made = c.post("/v1/commands/batch", json={"commands": world()})
        made.raise_for_status()
        code = made.json()["results"][-1]["result"]["code"]
        for pid in STAFF[:5]:
            c.post(
                "/v1/commands",
                json={
                    "type": "redeem_access_code",
                    "school_id": SCHOOL,
                    "exam_year": 2025,
                    "person_id": pid,
                    "code": code,
                    "effective_at": "2025-07-02",
                },
            ).raise_for_status()


def load_average() -> float:
    return round(os.getloadavg()[0], 1)


def run(
    minutes: float, rate: float, outage_seconds: float | None, workers: int, port: int, pg_port: int, work_dir: Path
) -> dict[str, Any]:
    """The whole soak; returns its report (`ok` says whether every claim held).

    The server's log (`soak-server.log`) and the cluster's (`soak-postgres.log`) are left in `work_dir`.
    """
    seconds = minutes * 60
    pause = outage_seconds if outage_seconds is not None else min(20.0, seconds / 3)
    load_before = load_average()
    cluster = new_cluster(pg_port)
    server: subprocess.Popen[bytes] | None = None
    url = f"http://127.0.0.1:{port}"
    log_path = work_dir / "soak-server.log"
    try:
        write_new_key(work_dir / "soak-signing.key")  # every worker signs with the same key
        server = start_server(cluster.url, port, log_path, workers)
        wait_ready(url, 300, server, log_path)
        seed_world(url)
        soak = Soak(url)
        outage = Outage(stop_at=max(0.0, seconds / 2 - pause / 2), seconds=pause)
        asyncio.run(drive(soak, seconds, rate, outage, cluster, soak_id=str(os.getpid())))
        load_after = load_average()
        wait_ready(url, 120, server, log_path)
        resend_unacknowledged(soak)
        recovered = recovered_at(soak.samples, outage)
        checked = verify(cluster.url, soak)
        held = claims(soak.samples, outage, recovered, checked)
        return {
            "minutes": minutes,
            "workers": workers,
            "machine": {"cpus": os.cpu_count(), "load_average_before": load_before, "load_average_after": load_after},
            "load": load_figures(soak.samples, seconds, rate),
            "outage": outage_figures(soak.samples, outage, recovered),
            "per_minute": per_minute(soak.samples, outage),
            "failures": failures(soak.samples, outage, recovered),
            "verification": checked,
            "claims": held,
            "ok": all(held.values()),
        }
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        (work_dir / "soak-postgres.log").write_text(cluster.log())
        cluster.destroy()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--rate", type=float, default=40, help="requests per second, all kinds together")
    p.add_argument("--outage-seconds", type=float, default=None, help="default 20 (a third of shorter runs)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=RESULTS, help="directory of the JSON report and the logs")
    args = p.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    with tempfile.TemporaryDirectory(prefix="ledger-soak-") as work:
        report = run(args.minutes, args.rate, args.outage_seconds, args.workers, free_port(), free_port(), Path(work))
        logs = args.out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name in ("soak-server.log", "soak-postgres.log"):
            shutil.copyfile(Path(work) / name, logs / f"{stamp}-{name}")
    report = {"date": stamp, "commit": git_revision(), **report}
    path = args.out / f"{stamp}-soak.json"
    path.write_text(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    print(summary(report))
    print(f"report: {path}; logs: {logs}/{stamp}-soak-*.log")
    return 0 if report["ok"] else 1
