"""The console's person and event pages as the queries assemble them, on every store.

The scenario of `test_queries`: staff member AS holds S1's 2025 code from Jul 9, 2025; the
removal effective Oct 1 is recorded late, on Oct 15; T1 teaches AP-BIO at S1.
"""

from __future__ import annotations

from ledger import events as ev
from ledger.access.vocabulary import Report, Role
from projections.pages import Pages
from projections.system import LedgerSystem
from tests.conftest import Clock, caught_up, ny, run
from tests.integration.test_queries import scenario


def test_the_person_page_compares_rights_as_known_before_and_after_a_late_removal(
    ledger: LedgerSystem, clock: Clock
) -> None:
    scenario(ledger, clock)
    pages = Pages(caught_up(ledger).queries)
    page = pages.person("AS", known_at=ny(2025, 10, 10), at=ny(2025, 10, 5), now=ny(2025, 11, 1))
    assert page is not None
    assert page.comparing
    (row,) = page.rows
    assert row.org_id == "S1"
    assert row.then is not None
    assert row.then.role is Role.SCHOOL_ADMIN
    assert row.now is not None
    assert row.now.role is None
    assert row.changed
    # An administrator's question is settled by student-level data at the school, in the current year.
    assert (row.report, row.is_school, row.subject) == (Report.STUDENT_SCORE_REPORT, True, None)
    assert page.current_release is not None
    assert page.current_release.exam_year == 2025
    assert page.acceptance is not None
    assert page.acceptance.terms_version == "v1"
    assert row.now.why_not is not None
    assert all(e in page.events for e in row.now.why_not.evidence)


def test_the_person_page_names_a_teachers_subject_and_is_none_for_an_unknown_person(
    ledger: LedgerSystem, clock: Clock
) -> None:
    scenario(ledger, clock)
    pages = Pages(caught_up(ledger).queries)
    page = pages.person("T1", known_at=None, at=ny(2025, 9, 15), now=ny(2025, 11, 1))
    assert page is not None
    assert not page.comparing
    (row,) = page.rows
    assert (row.report, row.subject) == (Report.INSTRUCTIONAL_PLANNING, "AP-BIO")
    assert pages.person("NOBODY", known_at=None, at=None, now=ny(2025, 11, 1)) is None


def test_the_event_page_finds_the_void_of_a_voided_event_and_the_event_a_void_retracts(
    ledger: LedgerSystem, clock: Clock
) -> None:
    year = scenario(ledger, clock)
    clock.set("2025-11-01")
    void = run(ledger, type="void_event", event_id=year.addition, reason="added by mistake")
    pages = Pages(caught_up(ledger).queries)

    voided = pages.event(year.addition)
    assert voided is not None
    assert voided.record.voided_at == void.position
    assert isinstance(voided.void, ev.EventVoided)
    assert (voided.void.event_id, voided.void.reason) == (void.events[0].event_id, "added by mistake")

    the_void = pages.event(void.events[0].event_id)
    assert the_void is not None
    assert the_void.void is None
    assert the_void.voided_event is not None
    assert the_void.voided_event.event_id == year.addition
    assert pages.event("no-such-event") is None
