"""PostgreSQL clusters of our own, for tests and the soak: start, stop, and stream to a replica.

Never the machine's server: each cluster is `initdb`'d into a temporary directory
owned by the `postgres` user and listens on a port of its own (run as root, the
commands go through `su postgres`; run as any other user, they run as that user).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

BIN = Path(os.environ.get("LEDGER_PG_BIN", "/usr/lib/postgresql/15/bin"))
# A test cluster: small, and without fsync (nothing in it outlives the run).
SERVER_OPTIONS = "-c listen_addresses=127.0.0.1 -c shared_buffers=32MB -c fsync=off -c max_connections=200"


def available() -> bool:
    """Whether PostgreSQL's server binaries are here to make clusters with."""
    return (BIN / "initdb").exists() and (BIN / "pg_ctl").exists()


def _as_owner(command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a shell command as the clusters' owner (`postgres` when we are root)."""
    argv = ["su", "postgres", "-c", command] if os.geteuid() == 0 else ["sh", "-c", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True)


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


@dataclass
class PgCluster:
    """One cluster: its data directory and port."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        """LEDGER_DATABASE_URL of its `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, action: str, timeout: float = 60) -> None:
        d = shlex.quote(str(self.directory))
        options = shlex.quote(f"-p {self.port} -k {self.directory} {SERVER_OPTIONS}")
        if action == "start":
            command = f"{BIN}/pg_ctl -D {d} -o {options} -l {d}/server.log -w -t {int(timeout)} start"
        else:
            command = f"{BIN}/pg_ctl -D {d} -m fast -w -t {int(timeout)} stop"
        _as_owner(command, timeout=timeout + 10)

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop")

    def running(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def destroy(self) -> None:
        """Stop it if it runs and remove its directory (and the temporary parent made for it)."""
        if (self.directory / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop()
        shutil.rmtree(self.directory.parent, ignore_errors=True)

    def replica(self, port: int) -> PgCluster:
        """A hot standby streaming from this cluster (`pg_basebackup -R`), started on `port`."""
        directory = _fresh_directory("ledger-pg-replica-")
        d = shlex.quote(str(directory))
        _as_owner(f"{BIN}/pg_basebackup -h 127.0.0.1 -p {self.port} -U postgres -D {d} -R -X stream", timeout=300)
        standby = PgCluster(directory, port)
        standby.start()
        return standby

    def replay_caught_up(self, primary: PgCluster, timeout: float = 30) -> None:
        """Wait until this standby has replayed everything the primary has written so far."""
        with psycopg.connect(primary.url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
            assert row is not None
            wanted = row[0]
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.url, autocommit=True) as conn:
            while True:
                row = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (wanted,)).fetchone()
                if row is not None and row[0]:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replica on port {self.port} did not replay {wanted} in {timeout}s")
                time.sleep(0.05)


def _fresh_directory(prefix: str) -> Path:
    parent = Path(tempfile.mkdtemp(prefix=prefix))
    parent.chmod(0o755)
    directory = parent / "data"
    directory.mkdir(mode=0o700)
    _own(directory)
    return directory


def new_cluster(port: int) -> PgCluster:
    """`initdb` a cluster into a fresh temporary directory and start it on `port`."""
    directory = _fresh_directory("ledger-pg-")
    _as_owner(f"{BIN}/initdb -D {shlex.quote(str(directory))} -A trust -U postgres --no-sync", timeout=300)
    cluster = PgCluster(directory, port)
    cluster.start()
    return cluster
