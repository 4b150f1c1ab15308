"""Who-had-access as an auditor reads it, on every store: each interval names the person and the
organization acted for, each grant by the type and position the log holds, and `clip` cuts intervals to
the asked range, half-open.

The scenario is the school year of test_queries (district D1, school S1; teachers, a staff member AS
holding the 2025 code from Jul 9, district user DU)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from ledger.access.vocabulary import Level
from projections.fact_index import FactIndex
from projections.queries import Queries
from projections.source import IndexSource
from projections.system import LedgerSystem
from tests.conftest import Clock, ny, run
from tests.integration.test_queries import AUG_1_2025, AUG_1_2026, RELEASE_2025, scenario

WINDOW = (AUG_1_2025, ny(2025, 12, 1))


def named_scenario(ledger: LedgerSystem, clock: Clock) -> None:
    scenario(ledger, clock, late_removal=False)
    run(ledger, type="update_profile", person_id="AS", name="Ada Stone")
    run(ledger, type="update_profile", person_id="T1", title="AP Biology lead")  # no name: the earlier one stays
    ledger.runner.catch_up()


def test_each_grant_names_the_type_and_position_of_its_event_in_the_log(ledger: LedgerSystem, clock: Clock) -> None:
    named_scenario(ledger, clock)
    answer = ledger.queries.who_had_access("S1", *WINDOW, Level.STUDENT)
    logged = {r.position: r.stored for r in ledger.service.recorder.read_rows(0, 10_000)}
    assert answer.entries
    for e in answer.entries:
        assert [g.event_id for g in e.grants] == list(e.sources)
        for g in e.grants:
            event = ledger.service.mapper.decode(logged[g.position])
            assert (event.event_id, event.type) == (g.event_id, g.type)
            assert str(g) == f"{event.type} #{g.position}"
    redeemed = next(e for e in answer.entries if e.person_id == "AS")
    # Sources (and so grants) are in event-id order: ids drawn in one millisecond need not follow recording.
    assert sorted(g.type for g in redeemed.grants) == ["AccessCodeIssued", "AccessCodeRedeemed"]


def test_each_interval_names_the_person_and_the_organization_acted_for_as_known_at_its_position(
    ledger: LedgerSystem, clock: Clock
) -> None:
    named_scenario(ledger, clock)
    found = {(e.person_id, e.via_org): e for e in ledger.queries.who_had_access("D1", *WINDOW, Level.STUDENT).entries}
    assert found[("AS", "S1")].person_name == "Ada Stone"
    assert found[("T1", "S1")].person_name == "T1"  # a title-only update keeps the registered name
    assert (found[("AS", "S1")].via_org_name, found[("DU", "D1")].via_org_name) == ("Lakeside High", "Lakeside Unified")

    before_rename = ledger.queries.who_had_access("S1", *WINDOW, Level.STUDENT, as_of=ledger.queries.position(None) - 2)
    assert {e.person_name for e in before_rename.entries if e.person_id == "AS"} == {"AS"}
    assert before_rename.org_name == "Lakeside High"


def test_by_person_lists_intervals_by_person_then_start(ledger: LedgerSystem, clock: Clock) -> None:
    named_scenario(ledger, clock)
    answer = ledger.queries.who_had_access("S1", ny(2024, 1, 1), ny(2026, 1, 1), Level.AGGREGATE)
    rows = [(e.person_id, e.valid_from) for e in answer.by_person()]
    assert rows == sorted(rows)
    assert [e.valid_from for e in answer.entries] == sorted(e.valid_from for e in answer.entries)
    assert rows != [(e.person_id, e.valid_from) for e in answer.entries]  # the two orders differ here


def test_clip_cuts_each_interval_to_the_half_open_range_and_whole_intervals_stay_whole_without_it(
    ledger: LedgerSystem, clock: Clock
) -> None:
    named_scenario(ledger, clock)
    start, end = ny(2025, 9, 15), ny(2025, 10, 15)
    whole = ledger.queries.who_had_access("S1", start, end, Level.AGGREGATE)
    clipped = ledger.queries.who_had_access("S1", start, end, Level.AGGREGATE, clip=True)
    assert (whole.clipped, clipped.clipped) == (False, True)
    t1 = next(e for e in whole.entries if e.person_id == "T1")
    as_ = next(e for e in whole.entries if e.person_id == "AS")
    assert (t1.valid_from, t1.valid_to) == (RELEASE_2025, None)  # open: no end
    assert (as_.valid_from, as_.valid_to) == (datetime(2025, 7, 9, 13, tzinfo=UTC), AUG_1_2026)

    assert len(clipped.entries) == len(whole.entries)
    for w, c in zip(whole.by_person(), clipped.by_person(), strict=True):
        assert (c.person_id, c.via_org, c.role, c.grants) == (w.person_id, w.via_org, w.role, w.grants)
        assert c.valid_from == max(w.valid_from, start)
        assert c.valid_to == (end if w.valid_to is None else min(w.valid_to, end))
        assert start <= c.valid_from < c.valid_to <= end  # [from, to): never past `to`, never empty


def test_an_interval_ending_exactly_at_the_start_of_the_range_is_not_in_it(ledger: LedgerSystem, clock: Clock) -> None:
    named_scenario(ledger, clock)
    # T3's access (school year 2024) ends at the 2025 release: [release, …) does not meet it.
    for clip in (False, True):
        after = ledger.queries.who_had_access("S1", RELEASE_2025, AUG_1_2025, Level.AGGREGATE, clip=clip)
        assert "T3" not in {e.person_id for e in after.entries}
        before = ledger.queries.who_had_access("S1", ny(2025, 7, 1), RELEASE_2025, Level.AGGREGATE, clip=clip)
        t3 = next(e for e in before.entries if e.person_id == "T3")
        assert t3.valid_to == RELEASE_2025


def counted_lookups(view: FactIndex, monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The event ids of each types-and-positions lookup the index answers from now on."""
    lookups: list[set[str]] = []
    real = view.types_and_positions

    def counted(event_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        lookups.append(set(event_ids))
        return real(lookups[-1])

    monkeypatch.setattr(view, "types_and_positions", counted)
    return lookups


def test_the_grants_of_an_answer_are_found_in_one_index_lookup_and_a_repeated_question_needs_none(
    ledger: LedgerSystem, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    named_scenario(ledger, clock)
    source = ledger.queries.source
    assert isinstance(source, IndexSource)
    uncached = Queries(IndexSource(source.view, source.mapper), ledger.calendar, clock)
    lookups = counted_lookups(source.view, monkeypatch)
    first = uncached.who_had_access("D1", *WINDOW, Level.STUDENT)
    assert len(lookups) == 1
    assert lookups[0] == {s for e in first.entries for s in e.sources}
    again = uncached.who_had_access("D1", *WINDOW, Level.STUDENT)
    assert len(lookups) == 1
    assert again.entries == first.entries


def test_the_grants_of_an_answer_need_no_index_lookup_when_its_streams_are_in_memory(
    ledger: LedgerSystem, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    named_scenario(ledger, clock)
    source = ledger.queries.source
    assert isinstance(source, IndexSource)
    from_index = Queries(IndexSource(source.view, source.mapper), ledger.calendar, clock)
    expected = from_index.who_had_access("D1", *WINDOW, Level.STUDENT)
    lookups = counted_lookups(source.view, monkeypatch)
    answer = ledger.queries.who_had_access("D1", *WINDOW, Level.STUDENT)  # reads its streams into memory first
    assert lookups == []
    assert answer.entries == expected.entries
    assert any(e.grants for e in answer.entries)
