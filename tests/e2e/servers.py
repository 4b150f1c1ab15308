"""Start `ledger serve` as a real subprocess on a free port, wait for /healthz, stop it cleanly.

Reusable by any test that needs a real server:

    from tests.e2e.servers import serve

    with serve(f"sqlite:///{tmp_path}/ledger.db", tmp_path) as server:
        with server.client("registrar") as http:
            http.post("/v1/commands", json={...})

The server's stdout and stderr go to a log file (a pipe could fill up and block
the server); its tail is shown when the server fails to start.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

# One key per role; tests authenticate with these secrets.
KEYS: dict[str, str] = {
    "registrar": "e2e-registrar-secret-0123456789abcdef",
    "portal": "e2e-portal-secret-0123456789abcdef",
    "support": "e2e-support-secret-0123456789abcdef",
    "auditor": "e2e-auditor-secret-0123456789abcdef",
}


def api_keys_env(keys: Mapping[str, str] = KEYS) -> str:
    """LEDGER_API_KEYS for `keys` (client id = role name)."""
    return ",".join(f"{role}:{role}:{secret}" for role, secret in keys.items())


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ledger_command() -> list[str]:
    """The `ledger` console script of this interpreter's environment (or the module, if not installed)."""
    script = Path(sys.executable).parent / "ledger"
    if script.exists():
        return [str(script)]
    found = shutil.which("ledger")
    return [found] if found else [sys.executable, "-m", "api.cli"]


def ledger_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment for a `ledger` subprocess: the store, test keys and cheap argon2 settings.

    `settings` are extra LEDGER_* variables, named without the prefix (read_wait_seconds="1").
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(
        {
            "LEDGER_DATABASE_URL": database_url,
            "LEDGER_API_KEYS": api_keys_env(),
            # Cheap digests: tests issue and redeem codes; production keeps the defaults.
            "LEDGER_CODE_HASH_TIME_COST": "1",
            "LEDGER_CODE_HASH_MEMORY_KIB": "64",
            "LEDGER_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({f"LEDGER_{k.upper()}": str(v) for k, v in settings.items()})
    return env


@dataclass
class Server:
    """A running `ledger serve` process."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    keys: dict[str, str] = field(default_factory=lambda: dict(KEYS))

    def client(self, role: str | None = None, *, timeout: float = 30.0) -> httpx.Client:
        """An httpx client for this server, authenticated as `role` (none: no Authorization header)."""
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM (uvicorn shuts down gracefully, the lifespan closes the ledger); SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return int(self.process.returncode)


def start_server(
    database_url: str,
    log_dir: Path,
    *,
    name: str = "server",
    port: int | None = None,
    startup_timeout: float = 180.0,  # a busy machine (CI runs several jobs) may take a minute to start one
    workers: int = 1,
    **settings: str,
) -> Server:
    """Start `ledger serve` on 127.0.0.1 and return once /healthz answers 200."""
    port = port or free_port()
    log_path = Path(log_dir) / f"{name}-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*ledger_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=ledger_env(database_url, **settings),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + startup_timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"ledger serve exited with {process.returncode}:\n{server.log()[-4000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"ledger serve did not answer /healthz within {startup_timeout}s:\n{server.log()[-4000:]}"
            )
        time.sleep(0.1)


@contextmanager
def serve(database_url: str, log_dir: Path, **kwargs: Any) -> Iterator[Server]:
    """A running server for the duration of the block; always stopped afterwards."""
    server = start_server(database_url, log_dir, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def run_ledger(
    *args: str, database_url: str, cwd: Path | None = None, timeout: float = 120.0, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Run a `ledger` CLI command to completion (output captured as text)."""
    return subprocess.run(
        [*ledger_command(), *args],
        env={**ledger_env(database_url, **settings), "COLUMNS": "200", "NO_COLOR": "1"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
