"""Read-your-writes and rebuild on every store (`min_position`).

With the follower running in the background, `runner.wait(position, timeout)` returns once
the position is projected; with nothing projecting it fails with `ProjectionTimeout` naming
the position wanted, the one reached and the time waited. A rebuild from position 0 answers
every question as before.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from bootstrap import open_ledger
from ledger.access.vocabulary import Level, Report
from projections.runner import ProjectionTimeout
from projections.system import LedgerSystem
from tests.conftest import CALENDAR, FAST_HASHER, Clock, ny, run

EARLY = "2020-01-01"


def school(led: LedgerSystem) -> None:
    """D1 with school S1, principal PR, and scores of 2024 and 2025 released."""
    run(led, type="register_district", district_id="D1", name="D1", effective_at=EARLY)
    run(led, type="register_school", school_id="S1", name="S1", district_id="D1", effective_at=EARLY)
    for pid in ("PR", "AS", "T1"):
        run(led, type="register_person", person_id=pid, name=pid, email=f"{pid}@x.org", effective_at=EARLY)
        run(led, type="accept_terms", person_id=pid, terms_version="v1", effective_at=EARLY)
        run(led, type="add_affiliation", person_id=pid, org_id="S1", effective_at=EARLY)
    run(led, type="designate_principal", school_id="S1", person_id="PR", exam_year=2025, effective_at=EARLY)
    run(led, type="release_scores", exam_year=2024, released_on="2024-07-08")
    run(led, type="release_scores", exam_year=2025, released_on="2025-07-07")


def datafile(led: LedgerSystem, person: str = "AS") -> bool:
    return led.queries.check(
        person_id=person,
        org_id="S1",
        report=Report.STUDENT_DATAFILE,
        exam_year=2025,
        school_id="S1",
        at=ny(2025, 9, 1),
    ).decision.allowed


def test_wait_returns_once_the_background_follower_has_projected_the_position(ledger: LedgerSystem) -> None:
    school(ledger)
    ledger.runner.start()
    grant = run(
        ledger, type="grant_system_access", person_id="AS", org_id="S1", system="course_audit", effective_at=EARLY
    )

    reached = ledger.runner.wait(grant.position, timeout=10)

    assert reached >= grant.position
    assert ledger.view.tracked() >= grant.position
    assert datafile(ledger)  # the write is visible to the read that waited for it


def test_each_write_is_visible_to_a_read_that_waits_for_its_position(ledger: LedgerSystem) -> None:
    school(ledger)
    ledger.runner.start()
    for year in (2024, 2025):
        auth = run(
            ledger,
            type="authorize_course",
            person_id="T1",
            school_id="S1",
            subject="AP-BIO",
            school_year=year,
            effective_at=f"{year - 1}-08-15",
        )
        ledger.runner.wait(auth.position, timeout=10)
        rights = ledger.queries.rights("T1", at=ny(year, 7, 20), as_of=auth.position).rights
        (s1,) = [o for o in rights.organizations if o.org_id == "S1"]
        assert s1.role == "teacher", year


def test_waiting_for_a_position_already_projected_returns_at_once_even_with_no_time_to_wait(
    ledger: LedgerSystem,
) -> None:
    school(ledger)
    last = ledger.runner.catch_up()
    started = time.monotonic()
    assert ledger.runner.wait(last, timeout=0) == last
    assert time.monotonic() - started < 1


def test_wait_raises_projection_timeout_naming_the_positions_when_nothing_projects(ledger: LedgerSystem) -> None:
    school(ledger)
    projected = ledger.runner.catch_up()
    # the follower is not running (follow=False): nothing will project the next write
    grant = run(
        ledger, type="grant_system_access", person_id="AS", org_id="S1", system="course_audit", effective_at=EARLY
    )

    started = time.monotonic()
    with pytest.raises(ProjectionTimeout) as timed_out:
        ledger.runner.wait(grant.position, timeout=0.3)
    waited = time.monotonic() - started

    assert 0.3 <= waited < 5
    assert timed_out.value.wanted == grant.position
    assert timed_out.value.reached == projected
    message = str(timed_out.value)
    assert str(grant.position) in message
    assert str(projected) in message
    assert "0.3s" in message
    assert isinstance(timed_out.value, TimeoutError)


def test_a_stopped_follower_times_out_and_a_restarted_one_catches_up(ledger: LedgerSystem) -> None:
    school(ledger)
    ledger.runner.start()
    first = run(
        ledger, type="grant_system_access", person_id="AS", org_id="S1", system="course_audit", effective_at=EARLY
    )
    ledger.runner.wait(first.position, timeout=10)
    ledger.runner.stop()
    second = run(
        ledger,
        type="remove_system_access",
        person_id="AS",
        org_id="S1",
        system="course_audit",
        effective_at="2025-08-01",
    )

    with pytest.raises(ProjectionTimeout):
        ledger.runner.wait(second.position, timeout=0.2)
    assert datafile(ledger)  # not projected: the removal is not seen yet

    ledger.runner.start()
    assert ledger.runner.wait(second.position, timeout=10) >= second.position
    assert not datafile(ledger)


# --- rebuild ------------------------------------------------------------------------------------


def history(led: LedgerSystem, clock: Any) -> None:
    """Grants, a late removal, a void and a restriction: facts whose answers depend on both time axes."""
    school(led)
    clock.set("2025-07-10")
    code = run(led, type="issue_access_code", school_id="S1", exam_year=2025).result["code"]
    clock.set("2025-07-11")
    run(led, type="redeem_access_code", school_id="S1", exam_year=2025, person_id="AS", code=code)
    run(
        led,
        type="authorize_course",
        person_id="T1",
        school_id="S1",
        subject="AP-BIO",
        school_year=2025,
        effective_at="2024-08-15",
    )
    run(
        led,
        type="assign_section",
        person_id="T1",
        school_id="S1",
        subject="AP-BIO",
        section_id="B1",
        school_year=2025,
        effective_at="2024-08-20",
    )
    grant = run(
        led,
        type="grant_system_access",
        person_id="T1",
        org_id="S1",
        system="registration_ordering",
        effective_at="2025-07-01",
    )
    clock.set("2025-08-01")
    run(led, type="void_event", event_id=grant.events[0].event_id, reason="wrong person")
    run(
        led, type="restrict_student_data", school_id="S1", teacher_id="T1", requested_by="PR", effective_at="2025-09-01"
    )
    clock.set("2025-10-15")
    run(led, type="remove_access", person_id="AS", org_id="S1", removed_by="PR", effective_at="2025-10-01")


def answers(led: LedgerSystem) -> list[Any]:
    q = led.queries
    out: list[Any] = []
    for as_of in (None, 12, ny(2025, 8, 15)):
        for person in ("AS", "T1", "PR"):
            for report in (Report.STUDENT_DATAFILE, Report.SUBJECT_SCORE_ROSTER, Report.INSTRUCTIONAL_PLANNING):
                for at in (ny(2025, 7, 20), ny(2025, 9, 15), ny(2025, 10, 15)):
                    out.append(
                        q.check(
                            person_id=person,
                            org_id="S1",
                            report=report,
                            exam_year=2025,
                            school_id="S1",
                            subject="AP-BIO",
                            section_id="B1",
                            at=at,
                            as_of=as_of,
                        )
                    )
            out.append(q.rights(person, at=ny(2025, 9, 15), as_of=as_of))
            out.append(q.timeline(person, as_of=as_of))
        for level in Level:
            out.append(q.who_had_access("S1", ny(2025, 1, 1), ny(2026, 1, 1), level, as_of=as_of))
            out.append(q.who_had_access("D1", ny(2025, 1, 1), ny(2026, 1, 1), level, as_of=as_of))
        out.append(q.windows("S1", at=ny(2025, 9, 15), as_of=as_of))
        out.append(q.windows("D1", at=ny(2025, 9, 15), as_of=as_of))
    return out


def test_a_rebuild_from_position_0_answers_every_question_as_before(ledger: LedgerSystem, clock: Clock) -> None:
    history(ledger, clock)
    end = ledger.runner.catch_up()
    before = answers(ledger)
    assert any(a.decision.allowed for a in before if hasattr(a, "decision"))  # the history gives access

    progress: list[tuple[int, int]] = []
    rebuilt = ledger.runner.rebuild(progress=lambda done, total: progress.append((done, total)))

    assert rebuilt == end
    assert ledger.view.tracked() == end
    assert answers(ledger) == before
    assert progress[-1] == (end, end)
    done_so_far = [d for d, _ in progress]
    assert done_so_far == sorted(done_so_far)


def test_a_rebuild_drops_the_fact_index_and_projects_every_position_again(ledger: LedgerSystem, clock: Clock) -> None:
    history(ledger, clock)
    end = ledger.runner.catch_up()
    streams = ["person:AS", "person:T1", "school:S1", "calendar"]
    before = ledger.view.all_facts_of_streams(streams)

    ledger.view.drop()
    assert ledger.view.tracked() == 0
    assert ledger.view.all_facts_of_streams(streams) == []

    assert ledger.runner.catch_up() == end
    assert ledger.view.all_facts_of_streams(streams) == before


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A database two ledger processes can share (memory cannot)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return str(request.getfixturevalue("pg_schema_url"))


def test_a_server_answers_from_the_whole_log_again_once_another_process_has_rebuilt_the_projection(
    shared_url: str, clock: Clock
) -> None:
    server = open_ledger(shared_url, calendar=CALENDAR, clock=clock, hasher=FAST_HASHER, follow=False)
    rebuilder = open_ledger(shared_url, calendar=CALENDAR, clock=clock, hasher=FAST_HASHER, follow=False, batch_size=5)
    try:
        history(server, clock)
        server.runner.catch_up()
        at_sep_1: dict[str, Any] = {
            "person_id": "AS",
            "org_id": "S1",
            "report": Report.STUDENT_DATAFILE,
            "exam_year": 2025,
            "school_id": "S1",
            "at": ny(2025, 9, 1),
        }
        assert server.queries.check(**at_sep_1).decision.allowed

        held = server.source.tracked()
        # `ledger rebuild` in another process: the index is dropped and refilled from position 0;
        # the server is asked about a person it does not hold while the rebuild is part-way: it
        # says "retry" rather than answer from half an index, and its position does not go back ...
        rebuilder.view.drop()
        rebuilder.runner.process_batch()
        with pytest.raises(ProjectionTimeout):
            server.queries.check(**{**at_sep_1, "person_id": "T1"})
        assert server.queries.check(**at_sep_1).position == held  # a person it holds is still answered
        # ... and once the rebuild is done it answers from the whole log.
        rebuilder.runner.catch_up()
        server.runner.catch_up()
        assert server.queries.check(**at_sep_1).decision.allowed
        t1 = server.queries.check(
            **{**at_sep_1, "person_id": "T1", "report": Report.INSTRUCTIONAL_PLANNING, "subject": "AP-BIO"}
        ).decision
        assert t1.allowed, t1.reason
    finally:
        rebuilder.close()
        server.close()
