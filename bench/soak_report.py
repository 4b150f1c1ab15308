"""The soak's report: per-minute percentiles and statuses, the outage's windows, the rate asked vs sent, the claims.

Every request is classed by when its answer came back, against four moments of the outage: the
stop began (`pg_ctl stop`), the cluster was down, the restart began (`pg_ctl start`), and the first
command sent after the restart was acknowledged (recovery), and at least `PROCESS_RECONNECT_S`
after the restart, since each process finds the database back by itself. Before the stop and after recovery
only success is expected (a 4xx would be a bug of the soak's own requests); while the cluster is
down, 200 (answered from memory) or 503; while it stops or restarts, 200, 201 or 503. Every 503
carries Retry-After.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

# Each process finds the database back by itself: its breaker lets one probe through a second after
# each failure, and only when a request needs the database. A process may so answer 503 a little after
# another has recorded a command again; a margin for a busy machine.
PROCESS_RECONNECT_S = 5.0  # after the restart, the time each process is given to be back
FAILURES_LISTED = 20  # failures listed one by one in the report (the counts cover them all)
KEPT_UP_MS = 1000  # the client sent as asked when its send lag's p99 stays under this


@dataclass
class Sample:
    due: float  # seconds into the load when the request was due (open loop: one every 1/rate s)
    started: float  # seconds into the load when it was sent (later than due when the client lags)
    kind: str
    status: int  # 0: no answer (transport error or timeout)
    latency_ms: float
    code: str | None = None  # the error's code of a non-2xx answer; for no answer, the exception and its message
    retry_after: bool = False  # whether the answer carried Retry-After

    @property
    def answered(self) -> float:
        """Seconds into the load when the answer (or the failure) came back."""
        return self.started + self.latency_ms / 1000


@dataclass
class Outage:
    stop_at: float  # seconds into the load
    seconds: float  # how long the cluster stays down
    stopping: float = math.nan  # `pg_ctl stop` began here ...
    stopped: float = math.nan  # ... the cluster is down from here ...
    restarting: float = math.nan  # ... to here (it may accept connections before `pg_ctl start` returns)
    restarted: float = math.nan


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def statuses(samples: list[Sample]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(Counter(s.status for s in samples).items())}


def recovered_at(samples: list[Sample], outage: Outage) -> float:
    """When the first command sent after the restart was acknowledged (infinity if none was)."""
    return min(
        (s.answered for s in samples if s.kind == "command" and s.status == 201 and s.started > outage.restarted),
        default=math.inf,
    )


def phase_of(sample: Sample, outage: Outage, recovered: float) -> str:
    """Where the sample's answer falls: before, stopping, down, restarting or after (recovery)."""
    at = sample.answered
    if at < outage.stopping:
        return "before"
    if at < outage.stopped:
        return "stopping"
    if at < outage.restarting:
        return "down"
    if at < max(recovered, outage.restarted + PROCESS_RECONNECT_S):
        return "restarting"
    return "after"


ALLOWED = {
    "before": {200, 201},
    "stopping": {200, 201, 503},
    "down": {200, 503},
    "restarting": {200, 201, 503},
    "after": {200, 201},
}


def per_minute(samples: list[Sample], outage: Outage) -> list[dict[str, Any]]:
    """One row per minute of the load (by when each request was due), with the outage's minutes marked."""
    minutes: dict[int, list[Sample]] = {}
    for s in samples:
        minutes.setdefault(int(s.due // 60), []).append(s)
    rows = []
    for minute, group in sorted(minutes.items()):
        answered = [s.latency_ms for s in group if 200 <= s.status < 300]
        start, end = minute * 60, minute * 60 + 60
        rows.append(
            {
                "minute": minute,
                "outage": outage.stopping < end and outage.restarted > start,
                "sent": len(group),
                "send_lag_p99_ms": percentile([(s.started - s.due) * 1000 for s in group], 0.99),
                "p50_ms": percentile(answered, 0.50),
                "p95_ms": percentile(answered, 0.95),
                "p99_ms": percentile(answered, 0.99),
                "statuses": statuses(group),
            }
        )
    return rows


def failures(samples: list[Sample], outage: Outage, recovered: float) -> list[dict[str, Any]]:
    """The answers a phase does not allow, first ones first."""
    bad = [s for s in samples if s.status not in ALLOWED[phase_of(s, outage, recovered)]]
    return [
        {
            "answered_at_s": round(s.answered, 2),
            "phase": phase_of(s, outage, recovered),
            "kind": s.kind,
            "status": s.status,
            "code": s.code,
        }
        for s in sorted(bad, key=lambda s: s.answered)[:FAILURES_LISTED]
    ]


def load_figures(samples: list[Sample], seconds: float, rate: float) -> dict[str, Any]:
    """The rate asked against the rate sent and answered (an open-loop client that lags sends late)."""
    sent_over = max((s.started for s in samples), default=0.0) - min((s.started for s in samples), default=0.0)
    ok = sum(1 for s in samples if 200 <= s.status < 300)
    lag_p99 = percentile([(s.started - s.due) * 1000 for s in samples], 0.99)
    return {
        "asked_per_s": rate,
        "asked": round(seconds * rate),
        "sent": len(samples),
        "sent_per_s": round(len(samples) / sent_over, 1) if sent_over > 0 else None,
        "answered_2xx_per_s": round(ok / seconds, 1) if seconds > 0 else None,
        "send_lag_p99_ms": lag_p99,
        "send_lag_max_ms": percentile([(s.started - s.due) * 1000 for s in samples], 1.0),
        "kept_up": lag_p99 is not None and lag_p99 < KEPT_UP_MS,
    }


def outage_figures(samples: list[Sample], outage: Outage, recovered: float) -> dict[str, Any]:
    by_phase: dict[str, list[Sample]] = {phase: [] for phase in ALLOWED}
    for s in samples:
        by_phase[phase_of(s, outage, recovered)].append(s)
    return {
        "seconds": outage.seconds,
        "stop_began_at_s": round(outage.stopping, 1),
        "stopped_at_s": round(outage.stopped, 1),
        "restart_began_at_s": round(outage.restarting, 1),
        "restarted_at_s": round(outage.restarted, 1),
        "recovered_at_s": round(recovered, 1) if math.isfinite(recovered) else None,
        "recovered_after_restart_s": round(recovered - outage.restarted, 1) if math.isfinite(recovered) else None,
        "statuses": {phase: statuses(group) for phase, group in by_phase.items()},
    }


def claims(samples: list[Sample], outage: Outage, recovered: float, checked: dict[str, Any]) -> dict[str, bool]:
    """What must hold for the soak to pass."""
    phases = Counter(p for s in samples if s.status not in ALLOWED[p := phase_of(s, outage, recovered)])
    return {
        "only_2xx_before_the_outage": phases["before"] == 0,
        "only_2xx_or_503_while_stopping": phases["stopping"] == 0,
        "only_200_or_503_while_down": phases["down"] == 0,
        "only_2xx_or_503_while_restarting": phases["restarting"] == 0,
        "recovered": math.isfinite(recovered),
        "only_2xx_after_recovery": phases["after"] == 0,
        "every_503_has_retry_after": all(s.retry_after for s in samples if s.status == 503),
        "every_acknowledged_command_once": not (checked["missing"] or checked["duplicated"] or checked["misplaced"]),
        "projections_equal_reference": not checked["projection_differences"],
    }


def summary(report: dict[str, Any]) -> str:
    """The report in a few lines of text, for a terminal."""
    load, outage = report["load"], report["outage"]
    lines = [
        f"soak: {report['minutes']} min, {report['workers']} workers, asked {load['asked_per_s']}/s, "
        f"sent {load['sent_per_s']}/s (send lag p99 {load['send_lag_p99_ms']} ms), "
        f"load average {report['machine']['load_average_before']} → {report['machine']['load_average_after']} "
        f"on {report['machine']['cpus']} cores",
        f"outage: stop began at {outage['stop_began_at_s']} s, down at {outage['stopped_at_s']} s, restart began {outage['restart_began_at_s']} s, "
        f"restarted {outage['restarted_at_s']} s, first command acknowledged {outage['recovered_at_s']} s",
        "minute  outage    sent  lag p99   p50 ms   p95 ms   p99 ms  statuses",
    ]
    for row in report["per_minute"]:
        lines.append(
            f"{row['minute']:>6}  {'yes' if row['outage'] else '':<6} {row['sent']:>7} {_ms(row['send_lag_p99_ms'])} "
            f"{_ms(row['p50_ms'])} {_ms(row['p95_ms'])} {_ms(row['p99_ms'])}  {row['statuses']}"
        )
    if not load["kept_up"]:
        lines.append(
            f"the client fell behind the rate asked (send lag p99 over {KEPT_UP_MS} ms): a minute's row holds "
            "the requests due in it, sent and answered later"
        )
    lines.append("answers by phase: " + "; ".join(f"{k} {v}" for k, v in outage["statuses"].items()))
    for failure in report["failures"]:
        lines.append(f"  not allowed: {failure}")
    lines.append("claims: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in report["claims"].items()))
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return f"{value:>8.1f}" if value is not None else f"{'—':>8}"
