"""The write path and the projection agree on every store (a first scenario; the rest live beside it)."""

from __future__ import annotations

from datetime import datetime

from ledger.access.check import Decision
from ledger.access.vocabulary import Report
from projections.system import LedgerSystem
from tests.conftest import CALENDAR, Clock, caught_up, run


def test_a_late_removal_changes_the_answer_only_from_the_position_that_recorded_it(
    ledger: LedgerSystem, clock: Clock
) -> None:
    clock.set("2025-06-01")
    run(ledger, type="register_district", district_id="D1", name="D", effective_at="2020-01-01")
    run(ledger, type="register_school", school_id="S1", name="S", district_id="D1", effective_at="2020-01-01")
    for pid in ("P1", "P2"):
        run(ledger, type="register_person", person_id=pid, name=pid, email=f"{pid}@x.org", effective_at="2020-01-01")
        run(ledger, type="add_affiliation", person_id=pid, org_id="S1", effective_at="2020-01-01")
        run(ledger, type="accept_terms", person_id=pid, terms_version="v1", effective_at="2020-01-01")
    run(ledger, type="designate_principal", school_id="S1", person_id="P1", exam_year=2025, effective_at="2024-09-01")
    run(ledger, type="release_scores", exam_year=2025, released_on="2025-07-07")
    clock.set("2025-07-01")
    code = run(ledger, type="issue_access_code", school_id="S1", exam_year=2025).result["code"]
    clock.set("2025-07-02")
    run(ledger, type="redeem_access_code", school_id="S1", exam_year=2025, person_id="P2", code=code)
    clock.set("2025-07-20")
    removal = run(ledger, type="remove_access", person_id="P2", org_id="S1", removed_by="P1", effective_at="2025-07-05")
    caught_up(ledger)

    def allowed(as_of: datetime | None) -> Decision:

        return ledger.queries.check(
            person_id="P2",
            org_id="S1",
            report=Report.STUDENT_DATAFILE,
            exam_year=2025,
            school_id="S1",
            at=CALENDAR.parse_instant("2025-07-08"),
            as_of=as_of,
        ).decision

    said_then = allowed(CALENDAR.parse_instant("2025-07-08"))
    known_now = allowed(None)
    assert said_then.allowed
    assert said_then.rules[0] == "R8"
    assert not known_now.allowed
    assert known_now.rules == ("R14",)
    assert removal.events[0].event_id in known_now.evidence
