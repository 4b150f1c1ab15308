"""The in-memory query cache (projections/cache.py) on every store: a full cache never drops what a query reads."""

from __future__ import annotations

from projections.cache import CachedSource
from projections.system import LedgerSystem
from tests.conftest import caught_up, run

EARLY = "2020-01-01"


def test_a_full_cache_never_evicts_a_stream_the_query_is_reading(ledger: LedgerSystem) -> None:
    run(ledger, type="register_district", district_id="D1", name="D1", effective_at=EARLY)
    run(ledger, type="register_school", school_id="S1", name="S1", district_id="D1", effective_at=EARLY)
    for pid in ("P1", "P2"):
        run(ledger, type="register_person", person_id=pid, name=pid, email=f"{pid}@x.org", effective_at=EARLY)
    caught_up(ledger)
    end = ledger.view.tracked()
    # Room for two facts only: each new stream pushes the oldest out.
    cache = CachedSource(ledger.view, ledger.service.mapper, max_facts=2)

    assert set(cache.streams(["school:S1"], end)) == {"school:S1"}
    # The school was loaded first (the oldest); loading P1 must evict something else or nothing.
    assert set(cache.streams(["school:S1", "person:P1"], end)) == {"school:S1", "person:P1"}
    assert set(cache.streams(["person:P2", "school:S1"], end)) == {"school:S1", "person:P2"}
    streams_of_records = {r.event.originator_id for r in cache.records(["person:P1", "school:S1"], None)}
    assert streams_of_records == {"person:P1", "school:S1"}
