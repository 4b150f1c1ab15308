"""Annual windows at their boundaries decided through a ledger on every store (R3, R8, R11, R16).

Releases, Aug 1 and Jul 31 are read in the ledger's zone (New York): each test sets the facts
with commands and asks `check` or `windows` on either side of a boundary.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.access.check import Decision
from ledger.access.vocabulary import Report
from ledger.errors import RuleViolation
from projections.system import LedgerSystem
from tests.conftest import Clock, ny, run


@pytest.fixture
def clock() -> Clock:
    return Clock(ny(2025, 1, 2, 12))


@pytest.fixture
def led(ledger: LedgerSystem) -> LedgerSystem:
    """The empty ledger of each store, starting on Jan 2, 2025 at noon in New York."""
    return ledger


EARLY = "2020-01-01"


def register_people(led: LedgerSystem, *people: str, org: str | None = None) -> None:
    for pid in people:
        run(led, type="register_person", person_id=pid, name=pid, email=f"{pid}@example.org", effective_at=EARLY)
        run(led, type="accept_terms", person_id=pid, terms_version="v1", effective_at=EARLY)
        if org is not None:
            run(led, type="add_affiliation", person_id=pid, org_id=org, effective_at=EARLY)


def school_with_releases(led: LedgerSystem, releases: dict[int, str]) -> None:
    """District D1 with school S1; principal PR; the given score releases."""
    run(led, type="register_district", district_id="D1", name="District", effective_at=EARLY)
    run(led, type="register_school", school_id="S1", name="School", district_id="D1", effective_at=EARLY)
    register_people(led, "PR", org="S1")
    for year in sorted(releases):
        run(led, type="designate_principal", school_id="S1", person_id="PR", exam_year=year, effective_at=EARLY)
    for year, day in releases.items():
        run(led, type="release_scores", exam_year=year, released_on=day)


def decide(led: LedgerSystem, person: str, org: str, report: Report, year: int, at: datetime, **kw: Any) -> Decision:
    led.runner.catch_up()
    return led.queries.check(person_id=person, org_id=org, report=report, exam_year=year, at=at, **kw).decision


def test_windows_report_the_current_released_year_changing_at_the_release_instant(led: LedgerSystem) -> None:
    school_with_releases(led, {2024: "2024-07-08", 2025: "2025-07-07"})
    led.runner.catch_up()
    before = led.queries.windows("S1", at=ny(2025, 7, 6, 23, 59, 59, 999999)).body
    at = led.queries.windows("S1", at=ny(2025, 7, 7)).body
    assert before["current_released_year"] == 2024
    assert at["current_released_year"] == 2025


def test_renewal_a_teacher_authorized_for_2024_25_gains_access_exactly_at_the_release_of_2025(
    led: LedgerSystem,
) -> None:
    school_with_releases(led, {2024: "2024-07-08", 2025: "2025-07-07"})
    register_people(led, "T25", org="S1")
    run(
        led,
        type="authorize_course",
        person_id="T25",
        school_id="S1",
        subject="AP-BIO",
        school_year=2025,
        effective_at="2024-08-15",
    )
    ask = {"school_id": "S1", "subject": "AP-BIO"}

    before = decide(led, "T25", "S1", Report.INSTRUCTIONAL_PLANNING, 2025, ny(2025, 7, 6, 23, 59, 59, 999999), **ask)
    at = decide(led, "T25", "S1", Report.INSTRUCTIONAL_PLANNING, 2025, ny(2025, 7, 7), **ask)

    assert not before.allowed
    assert before.role is None
    assert at.allowed
    assert at.role == "teacher"
    assert "R3" in at.rules


def test_renewal_a_teacher_authorized_only_for_2023_24_loses_access_exactly_at_the_release_of_2025(
    led: LedgerSystem,
) -> None:
    school_with_releases(led, {2024: "2024-07-08", 2025: "2025-07-07"})
    register_people(led, "T24", org="S1")
    run(
        led,
        type="authorize_course",
        person_id="T24",
        school_id="S1",
        subject="AP-BIO",
        school_year=2024,
        effective_at="2023-08-15",
    )
    ask = {"school_id": "S1", "subject": "AP-BIO"}

    before = decide(led, "T24", "S1", Report.INSTRUCTIONAL_PLANNING, 2024, ny(2025, 7, 6, 23, 59, 59, 999999), **ask)
    at = decide(led, "T24", "S1", Report.INSTRUCTIONAL_PLANNING, 2024, ny(2025, 7, 7), **ask)

    assert before.allowed
    assert before.role == "teacher"
    assert not at.allowed
    assert at.rules == ("R3",)
    assert at.code == "no_current_authorization"


def test_windows_say_renewal_is_due_from_the_release_instant(led: LedgerSystem) -> None:
    school_with_releases(led, {2024: "2024-07-08", 2025: "2025-07-07"})
    register_people(led, "T24", org="S1")
    run(
        led,
        type="authorize_course",
        person_id="T24",
        school_id="S1",
        subject="AP-BIO",
        school_year=2024,
        effective_at="2023-08-15",
    )
    led.runner.catch_up()

    def teacher(at: datetime) -> dict[str, Any]:
        rows: list[dict[str, Any]] = [
            t for t in led.queries.windows("S1", at=at).body["teachers"] if t["person_id"] == "T24"
        ]
        (row,) = rows

        return row

    assert teacher(ny(2025, 7, 6, 23, 59, 59, 999999))["renewal_due"] is False
    assert teacher(ny(2025, 7, 7))["renewal_due"] is True


def district_with_user(led: LedgerSystem, effective_at: str = "2025-06-01") -> None:
    """District D1 (school S1), superintendent SU, and DU added for access year 2025 effective before Aug 1."""
    school_with_releases(led, {2024: "2024-07-08", 2025: "2025-07-07", 2026: "2026-07-06"})
    register_people(led, "SU", "DU", org="D1")
    run(led, type="designate_superintendent", district_id="D1", person_id="SU", effective_at=EARLY)
    run(
        led,
        type="add_district_user",
        person_id="DU",
        district_id="D1",
        access_year=2025,
        requested_by="SU",
        effective_at=effective_at,
    )


def district_summary(led: LedgerSystem, at: datetime) -> Decision:
    return decide(led, "DU", "D1", Report.DISTRICT_SCORE_SUMMARY, 2025, at)


def test_a_district_addition_for_2025_does_not_count_on_jul_31_2025_even_if_effective_earlier(
    led: LedgerSystem,
) -> None:
    district_with_user(led)
    late_jul_31 = district_summary(led, ny(2025, 7, 31, 23, 59))
    assert not late_jul_31.allowed
    assert late_jul_31.rules == ("R11",)


def test_a_district_addition_for_2025_counts_from_aug_1_2025_at_midnight_new_york(led: LedgerSystem) -> None:
    district_with_user(led)
    first = district_summary(led, ny(2025, 8, 1))
    assert first.allowed
    assert first.role == "district_admin"
    assert "R11" in first.rules


def test_a_district_addition_does_not_count_yet_at_aug_1_in_utc_while_new_york_is_still_on_jul_31(
    led: LedgerSystem,
) -> None:
    district_with_user(led)
    assert not district_summary(led, datetime(2025, 8, 1, 2, tzinfo=UTC)).allowed


def test_a_district_addition_for_2025_counts_through_the_end_of_jul_31_2026_and_not_on_aug_1(led: LedgerSystem) -> None:
    district_with_user(led)
    assert district_summary(led, ny(2026, 7, 31, 23, 59, 59, 999999)).allowed
    after = district_summary(led, ny(2026, 8, 1))
    assert not after.allowed
    assert after.rules == ("R11",)


def test_a_district_addition_still_counts_at_aug_1_in_utc_while_new_york_is_still_on_jul_31(led: LedgerSystem) -> None:
    district_with_user(led)
    assert district_summary(led, datetime(2026, 8, 1, 2, tzinfo=UTC)).allowed


def test_a_district_addition_effective_after_aug_1_counts_from_its_effective_time(led: LedgerSystem) -> None:
    district_with_user(led, effective_at="2025-09-15T10:00:00-04:00")
    assert not district_summary(led, ny(2025, 9, 15, 9, 59, 59)).allowed
    assert district_summary(led, ny(2025, 9, 15, 10)).allowed


def test_the_district_access_year_at_aug_1_in_utc_but_jul_31_in_new_york_is_still_the_old_one(
    led: LedgerSystem,
) -> None:
    district_with_user(led)
    led.runner.catch_up()
    assert led.queries.windows("D1", at=datetime(2026, 8, 1, 2, tzinfo=UTC)).body["current_access_year"] == 2025
    assert led.queries.windows("D1", at=ny(2026, 8, 1)).body["current_access_year"] == 2026


def test_district_windows_show_the_access_window_in_new_york_time(led: LedgerSystem) -> None:
    district_with_user(led)
    led.runner.catch_up()
    (user,) = led.queries.windows("D1", at=ny(2025, 7, 31, 23, 59)).body["users"]
    assert user["person_id"] == "DU"
    assert user["access_year"] == 2025
    assert user["valid_from"] == ny(2025, 8, 1).isoformat()
    assert user["valid_to"] == ny(2026, 8, 1).isoformat()
    assert user["active"] is False


def school_with_code_holder(led: LedgerSystem, clock: Clock) -> None:
    """S1's 2025 code, issued after the release, redeemed by staff member AD."""
    school_with_releases(led, {2025: "2025-07-07", 2026: "2026-07-06"})
    register_people(led, "AD", org="S1")
    clock.set(ny(2025, 7, 10, 9))
    code = run(led, type="issue_access_code", school_id="S1", exam_year=2025).result["code"]
    clock.set(ny(2025, 7, 11, 9))
    run(led, type="redeem_access_code", school_id="S1", exam_year=2025, person_id="AD", code=code)


def datafile(led: LedgerSystem, at: datetime) -> Decision:
    return decide(led, "AD", "S1", Report.STUDENT_DATAFILE, 2025, at, school_id="S1")


def test_the_2025_code_is_still_valid_at_jul_31_2026_23_59_59_new_york(led: LedgerSystem, clock: Clock) -> None:
    school_with_code_holder(led, clock)
    d = datafile(led, ny(2026, 7, 31, 23, 59, 59))
    assert d.allowed
    assert d.role == "school_admin"
    assert d.rules[0] == "R8"


def test_the_2025_code_no_longer_gives_access_at_aug_1_2026_midnight_new_york(led: LedgerSystem, clock: Clock) -> None:
    school_with_code_holder(led, clock)
    d = datafile(led, ny(2026, 8, 1))
    assert not d.allowed
    assert d.rules == ("R8",)


def test_the_2025_code_is_still_valid_at_2am_utc_on_aug_1_2026_which_is_jul_31_in_new_york(
    led: LedgerSystem, clock: Clock
) -> None:
    school_with_code_holder(led, clock)
    assert datafile(led, datetime(2026, 8, 1, 2, tzinfo=UTC)).allowed


def test_the_2025_code_can_be_redeemed_on_jul_31_late_evening_new_york_but_not_on_aug_1(
    led: LedgerSystem, clock: Clock
) -> None:
    school_with_releases(led, {2025: "2025-07-07"})
    register_people(led, "A2", "A3", org="S1")
    clock.set(ny(2025, 7, 10, 9))
    code = run(led, type="issue_access_code", school_id="S1", exam_year=2025).result["code"]
    clock.set(ny(2026, 8, 2))
    run(
        led,
        type="redeem_access_code",
        school_id="S1",
        exam_year=2025,
        person_id="A2",
        code=code,
        effective_at="2026-08-01T02:00:00Z",
    )
    with pytest.raises(RuleViolation) as refused:
        run(
            led,
            type="redeem_access_code",
            school_id="S1",
            exam_year=2025,
            person_id="A3",
            code=code,
            effective_at="2026-08-01T00:00:00",
        )
    assert refused.value.rule == "R10"
    assert refused.value.code == "code_expired"


def test_windows_show_the_code_valid_until_aug_1_2026_in_new_york(led: LedgerSystem, clock: Clock) -> None:
    school_with_code_holder(led, clock)
    led.runner.catch_up()
    (code,) = led.queries.windows("S1", at=datetime(2026, 8, 1, 2, tzinfo=UTC)).body["codes"]
    assert code["valid_to"] == ny(2026, 8, 1).isoformat()
    assert code["valid_at"] is True
    (expired,) = led.queries.windows("S1", at=ny(2026, 8, 1)).body["codes"]
    assert expired["valid_at"] is False


def test_exam_years_2021_to_2025_are_kept_after_the_2025_release_and_2020_is_denied_with_r16(led: LedgerSystem) -> None:
    school_with_releases(led, {y: f"{y}-07-07" for y in range(2020, 2026)})
    register_people(led, "AD", org="S1")
    run(led, type="grant_system_access", person_id="AD", org_id="S1", system="course_audit", effective_at=EARLY)
    at = ny(2025, 8, 1)
    for year in range(2021, 2026):
        assert decide(led, "AD", "S1", Report.STUDENT_DATAFILE, year, at, school_id="S1").allowed, year
        assert decide(led, "AD", "S1", Report.SCORE_SUMMARY, year, at, school_id="S1").allowed, year
    old = decide(led, "AD", "S1", Report.SCORE_SUMMARY, 2020, at, school_id="S1")
    assert not old.allowed
    assert old.rules == ("R16",)
    assert old.role == "school_admin"
    future = decide(led, "AD", "S1", Report.SCORE_SUMMARY, 2026, at, school_id="S1")
    assert not future.allowed
    assert future.rules == ("R16",)


def test_exam_year_2020_is_still_kept_the_day_before_the_2025_release(led: LedgerSystem) -> None:
    school_with_releases(led, {y: f"{y}-07-07" for y in range(2020, 2026)})
    register_people(led, "AD", org="S1")
    run(led, type="grant_system_access", person_id="AD", org_id="S1", system="course_audit", effective_at=EARLY)
    before = ny(2025, 7, 6, 23, 59, 59, 999999)
    assert decide(led, "AD", "S1", Report.SCORE_SUMMARY, 2020, before, school_id="S1").allowed
    not_yet = decide(led, "AD", "S1", Report.SCORE_SUMMARY, 2025, before, school_id="S1")
    assert not not_yet.allowed
    assert not_yet.rules == ("R16",)


def test_an_exam_year_in_the_kept_range_that_was_never_released_is_denied_with_r16(led: LedgerSystem) -> None:
    school_with_releases(led, {y: f"{y}-07-07" for y in (2021, 2022, 2024, 2025)})
    register_people(led, "AD", org="S1")
    run(led, type="grant_system_access", person_id="AD", org_id="S1", system="course_audit", effective_at=EARLY)
    never = decide(led, "AD", "S1", Report.SCORE_SUMMARY, 2023, ny(2025, 8, 1), school_id="S1")
    assert not never.allowed
    assert never.rules == ("R16",)
