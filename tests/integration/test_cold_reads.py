"""The first reads after a start, on every store: one round trip per cold check, warming, same answers.

A process starts with an empty query cache (`projections/cache.py`). The first check of a
person loads every stream it needs with one statement; warming (`projections/warming.py`)
loads organizations, then people, ahead of the requests, up to the cache's limit; and
whether a stream was loaded cold, warmed or evicted and loaded again, answers are the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.access.vocabulary import Report
from ledger.events import EventVoided
from projections.cache import CachedSource
from projections.fact_index import FactIndex, to_us
from projections.held import Gap, HeldStream
from projections.queries import Queries
from projections.source import ReferenceSource
from projections.system import LedgerSystem
from projections.warming import CacheWarmer, WarmingProgress
from tests.conftest import CALENDAR, Clock, caught_up, run
from tests.histories import START, CheckProbe, Log, Probe, RightsProbe, execute, fresh_ledger, histories, probes
from tests.integration.test_projection_matches_reference import ask

PAST = "2024-08-01"


class CountingIndex:
    """The fact index as a start sees it, counting what is asked of the store (one statement per call)."""

    def __init__(
        self,
        view: FactIndex,
        after: Callable[[str], None] | None = None,
        before: Callable[[str], None] | None = None,
    ) -> None:
        self._view = view
        self._after = after
        self._before = before
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._view, name)
        if not callable(found):
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            if self._before is not None:
                self._before(name)
            answer = found(*args, **kwargs)
            if self._after is not None:
                self._after(name)
            return answer

        return counted


def started(system: LedgerSystem, view: Any, **cache: Any) -> Queries:
    """The queries of a process that has just started on this ledger: nothing cached yet."""
    source = CachedSource(view, system.service.mapper, **cache)
    source.refresh()
    return Queries(source, CALENDAR, system.clock)


def school_with_a_teacher(ledger: LedgerSystem) -> None:
    """District D1 with school S1; teacher T1 authorized for AP-BIO there; scores of 2025 released."""
    run(ledger, type="register_district", district_id="D1", name="D1", effective_at=PAST)
    run(ledger, type="register_school", school_id="S1", name="S1", district_id="D1", effective_at=PAST)
    run(ledger, type="register_person", person_id="T1", name="T", email="t1@x.org", effective_at=PAST)
    run(ledger, type="add_affiliation", person_id="T1", org_id="S1", effective_at=PAST)
    run(ledger, type="accept_terms", person_id="T1", terms_version="v1", effective_at=PAST)
    run(
        ledger,
        type="authorize_course",
        person_id="T1",
        school_id="S1",
        subject="AP-BIO",
        school_year=2025,
        effective_at="2024-09-15",
    )
    run(ledger, type="release_scores", exam_year=2025, released_on="2025-07-07", effective_at="2025-07-07")
    caught_up(ledger)


def teacher_check(queries: Queries, as_of: int | datetime | None = None) -> Any:
    return queries.check(
        person_id="T1",
        org_id="S1",
        school_id="S1",
        report=Report.INSTRUCTIONAL_PLANNING,
        exam_year=2025,
        subject="AP-BIO",
        at=CALENDAR.parse_instant("2025-08-01"),
        as_of=as_of,
    )


def test_a_first_check_after_a_start_costs_one_round_trip_to_the_store(ledger: LedgerSystem) -> None:
    school_with_a_teacher(ledger)
    view = CountingIndex(ledger.view)
    queries = started(ledger, view)
    view.calls.clear()

    answer = teacher_check(queries)

    assert answer.decision.allowed
    assert view.calls == ["load_streams"]
    assert teacher_check(queries).decision == answer.decision
    assert view.calls == ["load_streams"], "a second check of the same person is answered from memory"


def test_a_first_check_as_of_a_past_position_also_costs_one_round_trip(ledger: LedgerSystem) -> None:
    school_with_a_teacher(ledger)
    view = CountingIndex(ledger.view)
    queries = started(ledger, view)
    view.calls.clear()

    before_release = ledger.view.tracked() - 1
    answer = teacher_check(queries, as_of=before_release)

    assert not answer.decision.allowed
    assert answer.position == before_release
    assert view.calls == ["load_streams"]


def test_a_check_as_of_an_instant_resolves_it_in_memory_once_the_times_are_loaded(
    ledger: LedgerSystem, clock: Clock
) -> None:
    school_with_a_teacher(ledger)
    view = CountingIndex(ledger.view)
    queries = started(ledger, view)
    source = queries.source
    assert isinstance(source, CachedSource)
    before = clock.now
    clock.advance(days=1)
    source.load_times()
    view.calls.clear()

    answer = teacher_check(queries, as_of=before)

    assert answer.decision.allowed
    assert answer.position == ledger.view.tracked()
    assert view.calls == ["load_streams"]


def test_times_in_memory_follow_new_facts_as_the_index_answers(ledger: LedgerSystem, clock: Clock) -> None:
    school_with_a_teacher(ledger)
    queries = started(ledger, ledger.view)
    source = queries.source
    assert isinstance(source, CachedSource)
    assert source.load_times(page=2) == ledger.view.tracked()
    instants = [clock.now]
    for n in range(3):
        clock.advance(hours=1)
        instants.append(clock.now)
        run(ledger, type="register_person", person_id=f"N{n}", name="N", email=f"n{n}@x.org", effective_at=PAST)
    caught_up(ledger)
    source.refresh()
    instants.append(clock.now + timedelta(days=1))

    assert [source.position_at(t) for t in instants] == [ledger.view.position_at(to_us(t)) for t in instants]
    assert [source.position_at(t - timedelta(microseconds=1)) for t in instants] == [
        ledger.view.position_at(to_us(t) - 1) for t in instants
    ]


def test_a_stream_loaded_while_the_cache_moves_on_misses_no_fact(ledger: LedgerSystem) -> None:
    """A command lands (and the cache takes it in) between the cold read and keeping what it read."""
    school_with_a_teacher(ledger)
    written: list[int] = []
    queries: Queries

    def meanwhile(name: str) -> None:
        if name == "load_streams" and not written:
            written.append(1)
            run(ledger, type="add_affiliation", person_id="T1", org_id="D1", effective_at=PAST)
            caught_up(ledger)
            queries.source.refresh()  # type: ignore[attr-defined]

    view = CountingIndex(ledger.view, after=meanwhile)
    queries = started(ledger, view)
    queries.source.streams(["person:T1"], queries.position(None))
    assert written
    assert queries.position(None) == ledger.view.tracked()

    person = queries.world(["person:T1"], queries.position(None)).person("T1")
    fresh = started(ledger, ledger.view).world(["person:T1"], ledger.view.tracked()).person("T1")
    assert person.org_ids == fresh.org_ids == {"S1", "D1"}


def test_a_check_during_warming_never_waits_for_a_warming_batch_reading_the_store(ledger: LedgerSystem) -> None:
    """Warming reads a batch, the cache takes in a new fact of it meanwhile, and warming reads the facts
    between the two: while that read waits on the store, a cold check is answered all the same."""
    school_with_a_teacher(ledger)
    run(ledger, type="register_person", person_id="A2", name="A", email="a2@x.org", effective_at=PAST)
    caught_up(ledger)
    moved, reading, release = threading.Event(), threading.Event(), threading.Event()

    class MovingOn(CachedSource):
        def hold_warmed(self, fresh: dict[str, HeldStream], gap: Gap) -> tuple[int, bool]:
            if not moved.is_set():  # once warming's batch is read, before it is kept
                run(ledger, type="add_affiliation", person_id="A2", org_id="S1", effective_at=PAST)
                caught_up(ledger)
                self.refresh()  # A2 is not held yet: the cache moves past the batch without it
                moved.set()
            return super().hold_warmed(fresh, gap)

    def before(name: str) -> None:
        if name == "facts_after" and moved.is_set() and threading.current_thread() is warming:
            reading.set()
            assert release.wait(10), "the test never let warming's read finish"

    view: Any = CountingIndex(ledger.view, before=before)
    source = MovingOn(view, ledger.service.mapper)
    source.refresh()
    queries = Queries(source, CALENDAR, ledger.clock)
    warmer = CacheWarmer(source, pause=0)
    warming = threading.Thread(target=warmer.run, daemon=True)
    answered = threading.Event()
    try:
        warming.start()
        assert reading.wait(10), "warming did not read the facts recorded after its batch"

        def check() -> None:
            teacher_check(queries)
            answered.set()

        threading.Thread(target=check, daemon=True).start()
        assert answered.wait(5), "a check waited while warming read the store"
    finally:
        release.set()
    warming.join(10)

    position = ledger.view.tracked()
    assert warmer.progress() == WarmingProgress(done=True, loaded=5, of=5, full=False)
    assert queries.world(["person:A2"], position).person("A2").org_ids == {"S1"}, "the fact read between is held"


def test_warming_loads_organizations_first_and_stops_at_the_cache_limit_without_evicting(ledger: LedgerSystem) -> None:
    school_with_a_teacher(ledger)
    for n in range(2, 6):  # people A2…A5 (one fact each), warmed before T1
        run(ledger, type="register_person", person_id=f"A{n}", name="A", email=f"a{n}@x.org", effective_at=PAST)
    caught_up(ledger)
    organizations = ["calendar", "district:D1", "school:S1"]
    room = sum(len(ledger.queries.source.records([s], None)) for s in organizations) + 2  # and two people
    queries = started(ledger, ledger.view, max_facts=room)
    source = queries.source
    assert isinstance(source, CachedSource)

    warmer = CacheWarmer(source, batch=2, pause=0)
    warmer.run()

    progress = warmer.progress()
    streams, facts, limit = source.size()
    assert progress.done
    assert progress.full
    assert progress.of == 3 + 5
    assert source.holds([*organizations, "person:A2", "person:A3"])
    assert not source.holds(["person:A4"])
    assert facts == limit
    assert streams == progress.loaded == 5
    # A check of a person warming left out still loads, and pushes out warmed people first.
    assert teacher_check(queries).decision.allowed
    assert source.holds(["calendar", "school:S1", "person:T1"])
    assert not source.holds(["person:A2"])
    assert not source.holds(["person:A3"])


def test_a_person_left_out_of_a_last_batch_that_did_not_fit_still_has_their_access(ledger: LedgerSystem) -> None:
    school_with_a_teacher(ledger)
    organizations = ["calendar", "district:D1", "school:S1"]
    room = sum(len(ledger.queries.source.records([s], None)) for s in organizations) + 1  # T1 has more facts
    queries = started(ledger, ledger.view, max_facts=room)
    source = queries.source
    assert isinstance(source, CachedSource)

    warmer = CacheWarmer(source, batch=4, pause=0)  # one batch: the organizations and T1
    warmer.run()

    assert warmer.progress().full
    assert not source.holds(["person:T1"]), "a stream warming could not hold is not taken for an empty one"
    assert teacher_check(queries).decision.allowed


def test_warming_holds_every_stream_when_the_cache_has_room(ledger: LedgerSystem) -> None:
    school_with_a_teacher(ledger)
    view = CountingIndex(ledger.view)
    queries = started(ledger, view)
    source = queries.source
    assert isinstance(source, CachedSource)

    CacheWarmer(source, batch=2, pause=0).run()
    view.calls.clear()
    answer = teacher_check(queries)

    assert answer.decision.allowed
    assert source.size()[0] == len(ledger.view.stream_ids()) == 4
    assert view.calls == [], "a warm check does not ask the store"


def test_warming_waits_while_the_rest_of_the_process_is_busy_and_runs_on_once_it_is_idle(
    ledger: LedgerSystem,
) -> None:
    school_with_a_teacher(ledger)
    queries = started(ledger, ledger.view)
    source = queries.source
    assert isinstance(source, CachedSource)
    busy_looks = [3]  # requests keep the other threads busy: where warming starts counting, then two looks
    others = [0.0]
    slept: list[float] = []

    def others_cpu() -> float:
        if busy_looks[0] > 0:
            busy_looks[0] -= 1
            others[0] += 1.0  # a whole second of CPU between two looks: busy
        return others[0]

    warmer = CacheWarmer(source, batch=1, pause=0.01, patience=60, sleep=slept.append, others=others_cpu)
    warmer.run()

    assert slept == [0.01, 0.01], "it waited while requests were being served, then never again"
    assert warmer.progress() == WarmingProgress(done=True, loaded=4, of=4, full=False)
    assert source.holds(["calendar", "district:D1", "school:S1", "person:T1"])


def test_warming_still_ends_in_a_process_that_is_never_idle(ledger: LedgerSystem) -> None:
    school_with_a_teacher(ledger)
    queries = started(ledger, ledger.view)
    source = queries.source
    assert isinstance(source, CachedSource)
    others = [0.0]

    def always_busy() -> float:
        others[0] += 1.0
        return others[0]

    warmer = CacheWarmer(source, batch=1, pause=0, patience=0, others=always_busy)
    warmer.run()

    assert warmer.progress() == WarmingProgress(done=True, loaded=4, of=4, full=False)


def test_warming_loads_the_recorded_times_last_and_a_check_as_of_an_instant_then_asks_only_for_streams(
    ledger: LedgerSystem, clock: Clock
) -> None:
    school_with_a_teacher(ledger)
    view = CountingIndex(ledger.view)
    queries = started(ledger, view)
    source = queries.source
    assert isinstance(source, CachedSource)
    before = clock.now
    clock.advance(days=1)
    view.calls.clear()

    CacheWarmer(source, pause=0).run()

    assert view.calls[-1] == "times_after", "times come after every stream"
    assert "facts_by_stream" in view.calls
    view.calls.clear()
    answer = teacher_check(queries, as_of=before)
    assert answer.decision.allowed
    assert view.calls == [], "a warm check as of an instant does not ask the store"


# --- cold, warm and evicted caches answer alike ----------------------------------------------------

STORES = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def answers(system: LedgerSystem, make: Callable[[], Queries], questions: list[Probe], log: Log) -> list[Any]:
    return [ask(make(), probe, log) for probe in questions]


@pytest.mark.parametrize("store", STORES)
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(history=histories(), data=st.data())
def test_checks_and_rights_are_the_same_from_a_cold_a_warmed_and_a_tiny_cache(
    store: str, history: list[Any], data: st.DataObject
) -> None:
    clock = Clock(START)
    with fresh_ledger(store, clock) as system:
        done = execute(system, clock, history)
        last = system.runner.catch_up()
        questions: list[Probe] = [
            p for p in data.draw(probes(done), label="questions") if isinstance(p, CheckProbe | RightsProbe)
        ]
        events = ReferenceSource(system.service.recorder, system.service.mapper).events
        log = Log(last, [e.recorded_at for _, e in events], [p for p, e in events if isinstance(e, EventVoided)])

        warmed = started(system, system.view)
        assert isinstance(warmed.source, CachedSource)
        CacheWarmer(warmed.source, batch=3, pause=0).run()
        tiny = started(system, system.view, max_facts=5)

        cold = answers(system, lambda: started(system, system.view), questions, log)
        assert answers(system, lambda: warmed, questions, log) == cold
        assert answers(system, lambda: tiny, questions, log) == cold
