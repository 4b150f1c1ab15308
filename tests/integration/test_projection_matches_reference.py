"""The projection answers exactly as the reference evaluator (a plain fold over the raw log) does.

Random histories (`tests.histories`) run on a fresh ledger per example; the fact index is
caught up (sometimes also part-way through the history, in small batches), then random
probes — check, rights, who had access, windows, timeline, each at a random `at` and a
random `as_of` (latest, a position, an instant, exactly a recorded_at) — are answered by
`system.queries` and by `Queries(ReferenceSource(...))`, and must be equal, errors included.

Examples: LEDGER_PROPERTY_EXAMPLES, else 300 under CI=true, else 25 (per store).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.events import EventVoided
from projections.queries import Queries
from projections.source import ReferenceSource
from projections.system import LedgerSystem
from tests.conftest import CALENDAR, Clock
from tests.histories import (
    START,
    AccessProbe,
    CheckProbe,
    Log,
    Probe,
    RightsProbe,
    Step,
    TimelineProbe,
    WindowsProbe,
    examples_from_env,
    execute,
    fresh_ledger,
    histories,
    probes,
)

EXAMPLES = examples_from_env(local=25, ci=300)
STORES = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def outcome(fn: Callable[[], Any]) -> tuple[Any, ...]:
    """An answer, or the error it raised: both sides must fail alike."""
    try:
        return ("answer", fn())
    except Exception as e:
        return ("error", type(e).__name__, str(e))


def ask(queries: Queries, probe: Probe, log: Log) -> tuple[Any, ...]:
    as_of = probe.as_of.resolve(log)
    if isinstance(probe, CheckProbe):
        return outcome(
            lambda: queries.check(
                person_id=probe.person_id,
                org_id=probe.org_id,
                report=probe.report,
                exam_year=probe.exam_year,
                school_id=probe.school_id,
                subject=probe.subject,
                section_id=probe.section_id,
                at=probe.at,
                as_of=as_of,
            )
        )
    if isinstance(probe, RightsProbe):
        return outcome(lambda: queries.rights(probe.person_id, at=probe.at, as_of=as_of))
    if isinstance(probe, AccessProbe):
        return outcome(
            lambda: queries.who_had_access(
                probe.org_id, probe.start, probe.start + probe.length, probe.level, as_of=as_of
            )
        )
    if isinstance(probe, WindowsProbe):
        return outcome(lambda: queries.windows(probe.org_id, at=probe.at, as_of=as_of))
    assert isinstance(probe, TimelineProbe)
    return outcome(lambda: queries.timeline(probe.person_id, as_of=as_of))


def compare(system: LedgerSystem, clock: Clock, questions: list[Probe]) -> None:
    last = system.runner.catch_up()
    assert last == system.service.recorder.last_position()
    reference = Queries(ReferenceSource(system.service.recorder, system.service.mapper), CALENDAR, clock)
    events = reference.source.events  # type: ignore[attr-defined]
    log = Log(last, [e.recorded_at for _, e in events], [p for p, e in events if isinstance(e, EventVoided)])
    for probe in questions:
        projected = ask(system.queries, probe, log)
        expected = ask(reference, probe, log)
        assert projected == expected, f"{probe}\nprojection: {projected}\nreference:  {expected}"


@pytest.mark.parametrize("store", STORES)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(history=histories(), batch_size=st.sampled_from((1, 3, 17, 2000)), data=st.data())
def test_the_projection_answers_every_question_exactly_as_the_reference_fold_over_the_log(
    store: str, history: list[Step], batch_size: int, data: st.DataObject
) -> None:
    clock = Clock(START)
    with fresh_ledger(store, clock, batch_size=batch_size) as system:
        done = execute(system, clock, history)
        # Questions are drawn once the history ran: most are about what it appended.
        questions = data.draw(probes(done), label="questions")
        compare(system, clock, questions)
