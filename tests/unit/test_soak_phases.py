"""The soak classes each answer by when it came back against the outage: a process that finds the
database back later than another may still answer 503 for a few seconds, never after."""

from __future__ import annotations

from bench.soak_report import ALLOWED, PROCESS_RECONNECT_S, Outage, Sample, phase_of

OUTAGE = Outage(stop_at=80, seconds=20, stopping=80.0, stopped=80.2, restarting=100.2, restarted=100.3)
RECOVERED = 100.5  # another process acknowledged a command here


def answer(at: float, status: int) -> Sample:
    return Sample(due=at, started=at, kind="check", status=status, latency_ms=0.0)


def test_a_503_from_a_process_still_reconnecting_shortly_after_the_restart_is_allowed() -> None:
    late = answer(102.25, 503)
    assert phase_of(late, OUTAGE, RECOVERED) == "restarting"
    assert late.status in ALLOWED["restarting"]


def test_a_503_once_every_process_had_time_to_reconnect_is_a_failure() -> None:
    late = answer(OUTAGE.restarted + PROCESS_RECONNECT_S + 0.1, 503)
    assert phase_of(late, OUTAGE, RECOVERED) == "after"
    assert late.status not in ALLOWED["after"]


def test_answers_before_the_stop_and_while_down_keep_their_phases() -> None:
    assert phase_of(answer(10.0, 200), OUTAGE, RECOVERED) == "before"
    assert phase_of(answer(90.0, 503), OUTAGE, RECOVERED) == "down"
