"""A `ledger serve` process started by the benchmark, and its peak memory."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.cpu import cpu_s
from bench.stores import Store

BENCH_SECRET = "bench-portal-secret-0123456789abcdef"  # a key for a throwaway local server


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ledger_command() -> list[str]:
    script = Path(sys.executable).parent / "ledger"
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]


def vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Server:
    """A `ledger serve` process started by the harness (possibly under a profiler, `wrapper`)."""

    process: subprocess.Popen[bytes]
    base: str
    log_path: Path
    cold_start_s: float
    cold_start_cpu_s: float | None
    pid: int  # the server's own pid (a child of the wrapper, if any)
    started: float = 0.0  # time.perf_counter() when the process was started

    def stop(self) -> None:
        """SIGTERM the server (uvicorn shuts down, the lifespan closes the ledger); SIGKILL if it hangs."""
        if self.pid != self.process.pid:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(self.pid, signal.SIGTERM)
        elif self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def _child_pid(pid: int) -> int | None:
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            if children:
                return int(children[0])
    except OSError:
        return None
    return None


def _die_with_parent() -> None:
    """In the child: SIGTERM when the harness dies, so a killed run leaves no server behind (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_server(store: Store, log_dir: Path, wrapper: Sequence[str] = (), workers: int = 1) -> Server:
    """Start `ledger serve` (with `workers` processes) on a free port and wait until /healthz answers (the cold start)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(
        {
            "LEDGER_DATABASE_URL": store.url,
            "LEDGER_API_KEYS": f"bench:portal:{BENCH_SECRET}",
            "LEDGER_CODE_HASH_TIME_COST": "1",
            "LEDGER_CODE_HASH_MEMORY_KIB": "64",
        }
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"server-{store.kind}-{port}.log"
    with log_path.open("wb") as log_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            [
                *wrapper,
                *_ledger_command(),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *(["--workers", str(workers)] if workers > 1 else []),
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    server = Server(process, base, log_path, 0.0, None, process.pid, started)
    try:
        while time.perf_counter() - started < 120:
            if process.poll() is not None:
                raise RuntimeError(f"ledger serve exited with {process.returncode}: see {log_path}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    server.cold_start_s = time.perf_counter() - started
                    if wrapper:
                        server.pid = _child_pid(process.pid) or process.pid
                    server.cold_start_cpu_s = cpu_s(server.pid)
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"ledger serve did not answer /healthz within 120s: see {log_path}")
    except BaseException:
        server.stop()
        raise
