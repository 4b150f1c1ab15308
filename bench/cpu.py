"""CPU accounting of a load run: the server's processes, the load generator and the whole machine (/proc).

On a two-core machine the load generator shares the cores with the server it drives:
a figure may be the generator's limit, or other tenants', rather than the server's.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds per thread of a process (the event loop is the thread whose id is the pid)."""
    out: dict[str, float] = {}
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            out[task.name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        pass
    return out


def server_cpu(pid: int, before: dict[str, float], requests: int) -> dict[str, float]:
    """Server CPU ms per request during a load run, and the event loop's share of it."""
    after = thread_cpu_s(pid)
    total = sum(v - before.get(k, 0.0) for k, v in after.items())
    loop = after.get(str(pid), 0.0) - before.get(str(pid), 0.0)
    return {
        "cpu_ms_per_request": round(1000 * total / max(1, requests), 3),
        "event_loop_share": round(loop / total, 3) if total else 0.0,
    }


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and all its descendants still running (uvicorn's workers)."""
    total = cpu_s(pid) or 0.0
    for child in _children(pid):
        total += tree_cpu_s(child)
    return total


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return out


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has spent busy (not idle, not waiting on I/O) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICK


def children_cpu_s() -> float:
    """CPU seconds of this process's children that have been waited for (the load generator, once done)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class RunCpu:
    """Cores used on average over a load run of `seconds`: by the server, the generator, the whole machine."""

    seconds: float
    server: float
    generator: float
    machine: float

    def limited_by(self, workers: int, cores: int) -> str:
        """What the throughput of the run was bound by, as far as CPU tells.

        A server process runs Python on one core at a time: `workers` cores at most. If
        they were busy, the figure is the server's own; if not and the machine's cores
        were, the generator or other tenants took what the server lacked.
        """
        if self.server >= 0.85 * min(workers, cores):
            return "server"
        if self.machine >= 0.9 * cores:
            others = max(0.0, self.machine - self.server - self.generator)
            return "generator" if self.generator >= others else "other tenants"
        return "neither (cores were free: waits, e.g. on the store)"

    def details(self, workers: int, cores: int) -> dict[str, float | str]:
        return {
            "seconds": round(self.seconds, 2),
            "server_cores": round(self.server, 2),
            "generator_cores": round(self.generator, 2),
            "machine_busy_cores": round(self.machine, 2),
            "limited_by": self.limited_by(workers, cores),
        }
