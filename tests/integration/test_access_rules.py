"""The rules of access R1–R16 at their edges, decided through `check` on every store.

Every scenario starts from one small world (`base`): district D1 with schools S1 and
S2, district D2 with school S3, homeschool organization H1; principal PR of S1,
superintendent SU of D1; scores of 2021–2025 released on Jul 7. Checks are made at
AT (mid-September 2025, current released year 2025) unless a test says otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from ledger.access.check import Decision
from ledger.access.vocabulary import Report
from ledger.errors import RuleViolation
from projections.system import LedgerSystem
from storage.outcomes import Outcome
from tests.conftest import Clock, ny, run, run_batch

EARLY = "2020-01-01"


AT = ny(2025, 9, 15, 12)


def event_id(outcome: Outcome) -> str:
    return outcome.events[-1].event_id


@pytest.fixture
def clock() -> Clock:
    return Clock(ny(2025, 1, 2, 12))


@pytest.fixture
def led(ledger: LedgerSystem) -> LedgerSystem:
    """The base world on each store."""
    base(ledger)
    return ledger


def person_commands(pid: str, *orgs: str, terms: str | None = EARLY, registered: str = EARLY) -> list[dict[str, Any]]:
    """Registration, terms acceptance and affiliations of one person, as commands."""
    email = f"{pid}@example.org"
    commands: list[dict[str, Any]] = [
        {"type": "register_person", "person_id": pid, "name": pid, "email": email, "effective_at": registered}
    ]
    if terms is not None:
        commands.append({"type": "accept_terms", "person_id": pid, "terms_version": "v1", "effective_at": terms})
    commands += [
        {"type": "add_affiliation", "person_id": pid, "org_id": org, "effective_at": registered} for org in orgs
    ]
    return commands


def person(led: LedgerSystem, pid: str, *orgs: str, terms: str | None = EARLY, registered: str = EARLY) -> None:
    run_batch(led, person_commands(pid, *orgs, terms=terms, registered=registered))


def base(led: LedgerSystem) -> None:
    """The world of the module docstring, recorded as one batch (one transaction on every store)."""
    commands: list[dict[str, Any]] = [
        *({"type": "register_district", "district_id": d, "name": d} for d in ("D1", "D2")),
        {"type": "register_school", "school_id": "S1", "name": "S1", "district_id": "D1"},
        {"type": "register_school", "school_id": "S2", "name": "S2", "district_id": "D1"},
        {"type": "register_school", "school_id": "S3", "name": "S3", "district_id": "D2"},
        {"type": "register_school", "school_id": "H1", "name": "Home", "homeschool": True},
    ]
    commands = [c | {"effective_at": EARLY} for c in commands]
    commands += person_commands("PR", "S1") + person_commands("SU", "D1")
    commands += [
        {"type": "designate_principal", "school_id": "S1", "person_id": "PR", "exam_year": y, "effective_at": EARLY}
        for y in range(2021, 2027)
    ]
    commands.append({"type": "designate_superintendent", "district_id": "D1", "person_id": "SU", "effective_at": EARLY})
    commands += [{"type": "release_scores", "exam_year": y, "released_on": f"{y}-07-07"} for y in range(2021, 2026)]
    run_batch(led, commands)


def check(
    led: LedgerSystem,
    pid: str,
    org: str,
    report: Report,
    year: int = 2025,
    at: datetime = AT,
    as_of: int | datetime | None = None,
    **kw: Any,
) -> Decision:
    led.runner.catch_up()
    kw.setdefault("school_id", org if report is not Report.DISTRICT_SCORE_SUMMARY else None)
    return led.queries.check(
        person_id=pid, org_id=org, report=report, exam_year=year, at=at, as_of=as_of, **kw
    ).decision


def teacher(led: LedgerSystem, pid: str, school: str = "S1", subject: str = "AP-BIO", year: int = 2025) -> str:
    """A registered teacher with an authorization (effective the August before) and one section."""
    person(led, pid, school)
    auth = run(
        led,
        type="authorize_course",
        person_id=pid,
        school_id=school,
        subject=subject,
        school_year=year,
        effective_at=f"{year - 1}-08-15",
    )
    run(
        led,
        type="assign_section",
        person_id=pid,
        school_id=school,
        subject=subject,
        section_id=f"{subject}-1",
        school_year=year,
        effective_at=f"{year - 1}-08-20",
    )
    return event_id(auth)


def code_holder(led: LedgerSystem, clock: Clock, pid: str, *, affiliate: bool = True) -> tuple[str, str]:
    """S1's 2025 code issued on 2025-07-08 and redeemed by `pid` on 2025-07-09: (code, redemption id)."""
    if affiliate:
        person(led, pid, "S1")
    clock.set(ny(2025, 7, 8, 9))
    code = run(led, type="issue_access_code", school_id="S1", exam_year=2025).result["code"]
    clock.set(ny(2025, 7, 9, 9))
    redeemed = run(led, type="redeem_access_code", school_id="S1", exam_year=2025, person_id=pid, code=code)
    return code, event_id(redeemed)


# --- R1 account -----------------------------------------------------------------------------------


def test_a_check_about_an_unknown_person_answers_not_allowed_with_r1_instead_of_raising(led: LedgerSystem) -> None:
    d = check(led, "NOBODY", "S1", Report.SCORE_SUMMARY)
    assert not d.allowed
    assert d.rules == ("R1",)
    assert d.role is None
    assert d.evidence == ()


def test_a_person_registered_from_2026_was_not_registered_in_2025(led: LedgerSystem) -> None:
    person(led, "LATE", "S1", registered="2026-01-01", terms="2026-01-01")
    run(
        led, type="grant_system_access", person_id="LATE", org_id="S1", system="course_audit", effective_at="2026-01-01"
    )
    d = check(led, "LATE", "S1", Report.SCORE_SUMMARY)
    assert not d.allowed
    assert d.rules == ("R1",)
    assert check(led, "LATE", "S1", Report.SCORE_SUMMARY, at=ny(2026, 2, 1)).allowed


# --- R2 terms --------------------------------------------------------------------------------------


def test_a_person_who_has_not_accepted_the_terms_is_denied_with_r2_and_the_role_is_still_reported(
    led: LedgerSystem,
) -> None:
    person(led, "TN", "S1", terms=None)
    grant = run(led, type="grant_system_access", person_id="TN", org_id="S1", system="course_audit", effective_at=EARLY)
    d = check(led, "TN", "S1", Report.SCORE_SUMMARY)
    assert not d.allowed
    assert d.rules == ("R2",)
    assert d.code == "terms_not_accepted"
    assert d.role == "school_admin"
    assert event_id(grant) in d.evidence


def test_rights_of_a_person_without_terms_still_list_what_acceptance_would_unlock(led: LedgerSystem) -> None:
    person(led, "TN", "S1", terms=None)
    run(led, type="grant_system_access", person_id="TN", org_id="S1", system="course_audit", effective_at=EARLY)
    led.runner.catch_up()
    rights = led.queries.rights("TN", at=AT).rights
    assert rights.terms_accepted is False
    (s1,) = [o for o in rights.organizations if o.org_id == "S1"]
    assert s1.role == "school_admin"


def test_terms_accepted_effective_in_2026_had_not_been_accepted_in_2025(led: LedgerSystem) -> None:
    person(led, "TL", "S1", terms="2026-01-01")
    run(led, type="grant_system_access", person_id="TL", org_id="S1", system="course_audit", effective_at=EARLY)
    assert check(led, "TL", "S1", Report.SCORE_SUMMARY).rules == ("R2",)
    assert check(led, "TL", "S1", Report.SCORE_SUMMARY, at=ny(2026, 1, 1)).allowed


# --- R3 / R4 teachers -----------------------------------------------------------------------------------


def test_a_teacher_with_a_current_year_authorization_sees_the_instructional_planning_report_of_the_subject(
    led: LedgerSystem,
) -> None:
    auth = teacher(led, "T1")
    d = check(led, "T1", "S1", Report.INSTRUCTIONAL_PLANNING, subject="AP-BIO")
    assert d.allowed
    assert d.role == "teacher"
    assert "R3" in d.rules
    assert "R4" in d.rules
    assert auth in d.evidence


def test_a_teacher_sees_the_roster_of_an_assigned_section_but_not_of_another_section(led: LedgerSystem) -> None:
    teacher(led, "T1")
    assert check(led, "T1", "S1", Report.SUBJECT_SCORE_ROSTER, subject="AP-BIO", section_id="AP-BIO-1").allowed
    other = check(led, "T1", "S1", Report.SUBJECT_SCORE_ROSTER, subject="AP-BIO", section_id="AP-BIO-2")
    assert not other.allowed
    assert other.rules == ("R4",)
    assert other.role == "teacher"


def test_a_teacher_does_not_see_another_subject_or_the_school_wide_reports(led: LedgerSystem) -> None:
    teacher(led, "T1")
    chem = check(led, "T1", "S1", Report.INSTRUCTIONAL_PLANNING, subject="AP-CHEM")
    assert not chem.allowed
    assert chem.rules == ("R4",)
    for report in (Report.STUDENT_DATAFILE, Report.SCORE_SUMMARY, Report.ORGANIZATION_SCORE_ROSTER):
        d = check(led, "T1", "S1", report)
        assert not d.allowed, report
        assert d.rules == ("R4",), report


def test_a_teacher_sees_an_earlier_kept_year_of_a_subject_authorized_in_that_school_year(led: LedgerSystem) -> None:
    teacher(led, "T1", year=2024)
    run(
        led,
        type="authorize_course",
        person_id="T1",
        school_id="S1",
        subject="AP-BIO",
        school_year=2025,
        effective_at="2024-08-15",
    )
    assert check(
        led, "T1", "S1", Report.SUBJECT_SCORE_ROSTER, year=2024, subject="AP-BIO", section_id="AP-BIO-1"
    ).allowed
    # the section was assigned in school year 2024, not 2025
    d = check(led, "T1", "S1", Report.SUBJECT_SCORE_ROSTER, year=2025, subject="AP-BIO", section_id="AP-BIO-1")
    assert not d.allowed
    assert d.rules == ("R4",)


def test_no_teacher_access_before_the_first_release(led: LedgerSystem) -> None:
    # school year 2021 authorization; the first release (2021) is on 2021-07-07
    teacher(led, "T1", year=2021)
    d = check(led, "T1", "S1", Report.INSTRUCTIONAL_PLANNING, year=2021, at=ny(2021, 3, 1), subject="AP-BIO")
    assert not d.allowed
    assert d.rules == ("R3",)


def test_a_withdrawn_current_year_authorization_no_longer_makes_a_teacher(led: LedgerSystem) -> None:
    teacher(led, "T1")
    run(
        led,
        type="withdraw_course_authorization",
        person_id="T1",
        school_id="S1",
        subject="AP-BIO",
        school_year=2025,
        effective_at="2025-09-01",
    )
    assert check(led, "T1", "S1", Report.INSTRUCTIONAL_PLANNING, at=ny(2025, 8, 31), subject="AP-BIO").allowed
    d = check(led, "T1", "S1", Report.INSTRUCTIONAL_PLANNING, subject="AP-BIO")
    assert not d.allowed
    assert d.rules == ("R3",)


# --- R5 homeschool ------------------------------------------------------------------------------------


def test_authorizations_at_a_homeschool_organization_give_no_access_r5(led: LedgerSystem) -> None:
    teacher(led, "TH", school="H1")
    d = check(led, "TH", "H1", Report.INSTRUCTIONAL_PLANNING, subject="AP-BIO")
    assert not d.allowed
    assert d.rules == ("R5",)
    assert d.role is None


# --- R6 restriction ---------------------------------------------------------------------------------------


def test_a_restricted_teacher_is_denied_rosters_with_r6_and_keeps_instructional_planning_with_r6(
    led: LedgerSystem,
) -> None:
    teacher(led, "T1")
    restriction = run(
        led, type="restrict_student_data", school_id="S1", teacher_id="T1", requested_by="PR", effective_at="2025-09-01"
    )
    roster = check(led, "T1", "S1", Report.SUBJECT_SCORE_ROSTER, subject="AP-BIO", section_id="AP-BIO-1")
    assert not roster.allowed
    assert roster.rules == ("R6",)
    assert roster.role == "teacher"
    assert event_id(restriction) in roster.evidence
    planning = check(led, "T1", "S1", Report.INSTRUCTIONAL_PLANNING, subject="AP-BIO")
    assert planning.allowed
    assert "R6" in planning.rules


def test_a_restriction_of_all_teachers_applies_to_each_of_them_and_lifting_it_restores_rosters(
    led: LedgerSystem,
) -> None:
    teacher(led, "T1")
    run(led, type="restrict_student_data", school_id="S1", requested_by="PR", effective_at="2025-09-01")
    run(led, type="lift_student_data_restriction", school_id="S1", requested_by="PR", effective_at="2025-10-01")
    ask: dict[str, Any] = {"subject": "AP-BIO", "section_id": "AP-BIO-1"}

    assert check(led, "T1", "S1", Report.SUBJECT_SCORE_ROSTER, at=ny(2025, 8, 31, 23, 59), **ask).allowed
    assert check(led, "T1", "S1", Report.SUBJECT_SCORE_ROSTER, **ask).rules == ("R6",)
    lifted = check(led, "T1", "S1", Report.SUBJECT_SCORE_ROSTER, at=ny(2025, 10, 1), **ask)
    assert lifted.allowed
    assert "R6" not in lifted.rules


def test_a_restriction_of_one_teacher_does_not_restrict_another(led: LedgerSystem) -> None:
    teacher(led, "T1")
    teacher(led, "T2")
    run(
        led, type="restrict_student_data", school_id="S1", teacher_id="T1", requested_by="PR", effective_at="2025-09-01"
    )
    assert check(led, "T2", "S1", Report.SUBJECT_SCORE_ROSTER, subject="AP-BIO", section_id="AP-BIO-1").allowed


def test_a_restriction_does_not_restrict_school_administrators(led: LedgerSystem) -> None:
    person(led, "AS", "S1")
    run(led, type="grant_system_access", person_id="AS", org_id="S1", system="course_audit", effective_at=EARLY)
    run(led, type="restrict_student_data", school_id="S1", requested_by="PR", effective_at="2025-09-01")
    assert check(led, "AS", "S1", Report.STUDENT_DATAFILE).allowed


# --- R7 system access --------------------------------------------------------------------------------------


def test_system_access_at_a_school_makes_a_school_admin_while_it_lasts(led: LedgerSystem) -> None:
    person(led, "AS", "S1")
    grant = run(
        led, type="grant_system_access", person_id="AS", org_id="S1", system="registration_ordering", effective_at=EARLY
    )
    run(
        led,
        type="remove_system_access",
        person_id="AS",
        org_id="S1",
        system="registration_ordering",
        effective_at="2025-10-01",
    )
    d = check(led, "AS", "S1", Report.STUDENT_DATAFILE)
    assert d.allowed
    assert d.role == "school_admin"
    assert d.rules[0] == "R7"
    assert event_id(grant) in d.evidence
    after = check(led, "AS", "S1", Report.STUDENT_DATAFILE, at=ny(2025, 10, 1))
    assert not after.allowed
    assert after.rules == ("R7",)


def test_system_access_at_a_district_makes_a_district_admin(led: LedgerSystem) -> None:
    person(led, "AD", "D1")
    run(led, type="grant_system_access", person_id="AD", org_id="D1", system="course_audit", effective_at=EARLY)
    d = check(led, "AD", "D1", Report.STUDENT_DATAFILE, school_id="S2")
    assert d.allowed
    assert d.role == "district_admin"
    assert d.rules[0] == "R7"


# --- R8 code -------------------------------------------------------------------------------------------------


def test_redeeming_the_code_makes_a_school_admin_from_the_redemption(led: LedgerSystem, clock: Clock) -> None:
    _, redemption = code_holder(led, clock, "AC")
    assert not check(led, "AC", "S1", Report.STUDENT_DATAFILE, at=ny(2025, 7, 9, 8, 59)).allowed
    d = check(led, "AC", "S1", Report.STUDENT_DATAFILE)
    assert d.allowed
    assert d.role == "school_admin"
    assert d.rules[0] == "R8"
    assert redemption in d.evidence


def test_a_revoked_code_ends_the_access_it_gave(led: LedgerSystem, clock: Clock) -> None:
    code_holder(led, clock, "AC")
    clock.set(ny(2025, 9, 1))
    run(led, type="revoke_access_code", school_id="S1", exam_year=2025, reason="leaked")
    assert check(led, "AC", "S1", Report.STUDENT_DATAFILE, at=ny(2025, 8, 31)).allowed
    d = check(led, "AC", "S1", Report.STUDENT_DATAFILE)
    assert not d.allowed
    assert d.rules == ("R8",)


def test_a_reissued_code_ends_access_through_the_old_one_and_the_new_one_can_be_redeemed(
    led: LedgerSystem, clock: Clock
) -> None:
    code_holder(led, clock, "AC")
    clock.set(ny(2025, 9, 1))
    new = run(led, type="issue_access_code", school_id="S1", exam_year=2025).result["code"]
    assert not check(led, "AC", "S1", Report.STUDENT_DATAFILE).allowed
    clock.set(ny(2025, 9, 2))
    run(led, type="redeem_access_code", school_id="S1", exam_year=2025, person_id="AC", code=new)
    assert check(led, "AC", "S1", Report.STUDENT_DATAFILE, at=ny(2025, 9, 3)).allowed


# --- R11 district admin ----------------------------------------------------------------------------------------


def district_user(led: LedgerSystem) -> None:
    person(led, "DU", "D1")
    run(
        led,
        type="add_district_user",
        person_id="DU",
        district_id="D1",
        access_year=2025,
        requested_by="SU",
        effective_at="2025-07-15",
    )


def test_a_district_admin_sees_every_report_of_every_school_of_the_district(led: LedgerSystem) -> None:
    district_user(led)
    for school in ("S1", "S2"):
        for report in Report:
            if report is Report.DISTRICT_SCORE_SUMMARY:
                continue
            d = check(led, "DU", "D1", report, school_id=school, subject="AP-BIO", section_id="X")
            assert d.allowed, (school, report)
            assert d.role == "district_admin"
            assert "R11" in d.rules


def test_a_district_admin_sees_the_district_score_summary_with_or_without_a_school(led: LedgerSystem) -> None:
    district_user(led)
    assert check(led, "DU", "D1", Report.DISTRICT_SCORE_SUMMARY).allowed
    assert check(led, "DU", "D1", Report.DISTRICT_SCORE_SUMMARY, school_id="S2").allowed


def test_a_district_admin_does_not_see_a_school_of_another_district(led: LedgerSystem) -> None:
    district_user(led)
    d = check(led, "DU", "D1", Report.STUDENT_DATAFILE, school_id="S3")
    assert not d.allowed
    assert d.rules == ("R13",)


def test_a_school_admin_does_not_get_the_district_score_summary(led: LedgerSystem) -> None:
    person(led, "AS", "S1")
    run(led, type="grant_system_access", person_id="AS", org_id="S1", system="course_audit", effective_at=EARLY)
    d = check(led, "AS", "S1", Report.DISTRICT_SCORE_SUMMARY, school_id="S1")
    assert not d.allowed
    assert d.rules == ("R11",)
    assert d.role == "school_admin"


def test_only_the_superintendent_may_add_district_users(led: LedgerSystem) -> None:
    person(led, "DU", "D1")
    with pytest.raises(RuleViolation) as refused:
        run(led, type="add_district_user", person_id="DU", district_id="D1", access_year=2025, requested_by="PR")
    assert refused.value.rule == "R11"


# --- R12 highest role --------------------------------------------------------------------------------------------


def test_a_department_chair_with_the_code_decides_as_school_admin_and_sees_another_departments_subject(
    led: LedgerSystem, clock: Clock
) -> None:
    teacher(led, "DC")
    code_holder(led, clock, "DC", affiliate=False)
    chem = check(led, "DC", "S1", Report.INSTRUCTIONAL_PLANNING, subject="AP-CHEM")
    assert chem.allowed
    assert chem.role == "school_admin"
    assert "R8" in chem.rules
    assert "R12" in chem.rules
    roster = check(led, "DC", "S1", Report.SUBJECT_SCORE_ROSTER, subject="AP-CHEM", section_id="CHEM-9")
    assert roster.allowed
    assert roster.role == "school_admin"


def test_a_department_chair_restricted_as_a_teacher_still_sees_rosters_as_school_admin(
    led: LedgerSystem, clock: Clock
) -> None:
    teacher(led, "DC")
    code_holder(led, clock, "DC", affiliate=False)
    run(
        led, type="restrict_student_data", school_id="S1", teacher_id="DC", requested_by="PR", effective_at="2025-09-01"
    )
    assert check(led, "DC", "S1", Report.SUBJECT_SCORE_ROSTER, subject="AP-BIO", section_id="AP-BIO-1").allowed


# --- R13 one organization at a time ----------------------------------------------------------------------------


def test_access_at_one_school_does_not_count_when_asking_about_another_school(led: LedgerSystem) -> None:
    person(led, "AS", "S1")
    run(led, type="grant_system_access", person_id="AS", org_id="S1", system="course_audit", effective_at=EARLY)
    d = check(led, "AS", "S1", Report.STUDENT_DATAFILE, school_id="S2")
    assert not d.allowed
    assert d.rules == ("R13",)


def test_acting_for_an_organization_where_the_person_has_no_role_or_affiliation_is_denied_with_r13(
    led: LedgerSystem,
) -> None:
    person(led, "AS", "S1")
    run(led, type="grant_system_access", person_id="AS", org_id="S1", system="course_audit", effective_at=EARLY)
    d = check(led, "AS", "S2", Report.STUDENT_DATAFILE)
    assert not d.allowed
    assert d.rules == ("R13",)
    assert d.role is None


def test_a_teacher_at_one_school_has_no_teacher_access_acting_for_another(led: LedgerSystem) -> None:
    teacher(led, "T1")
    run(led, type="add_affiliation", person_id="T1", org_id="S2", effective_at=EARLY)
    d = check(led, "T1", "S2", Report.INSTRUCTIONAL_PLANNING, subject="AP-BIO")
    assert not d.allowed
    assert d.role is None


# --- R14 removal ---------------------------------------------------------------------------------------------


def test_a_removal_ends_code_access_from_its_effective_time(led: LedgerSystem, clock: Clock) -> None:
    code_holder(led, clock, "AC")
    clock.set(ny(2025, 10, 5))
    removal = run(led, type="remove_access", person_id="AC", org_id="S1", removed_by="PR", effective_at="2025-10-01")
    assert check(led, "AC", "S1", Report.STUDENT_DATAFILE, at=ny(2025, 9, 30, 23, 59, 59, 999999)).allowed
    d = check(led, "AC", "S1", Report.STUDENT_DATAFILE, at=ny(2025, 10, 1))
    assert not d.allowed
    assert d.rules == ("R14",)
    assert event_id(removal) in d.evidence


def test_a_removal_ends_every_role_at_the_organization_teacher_and_admin(led: LedgerSystem, clock: Clock) -> None:
    teacher(led, "DC")
    run(led, type="grant_system_access", person_id="DC", org_id="S1", system="course_audit", effective_at=EARLY)
    run(led, type="remove_access", person_id="DC", org_id="S1", removed_by="PR", effective_at="2025-10-01")
    at = ny(2025, 10, 2)
    assert check(led, "DC", "S1", Report.STUDENT_DATAFILE, at=at).rules == ("R14",)
    assert not check(led, "DC", "S1", Report.INSTRUCTIONAL_PLANNING, at=at, subject="AP-BIO").allowed


def test_a_grant_effective_after_the_removal_counts_again(led: LedgerSystem, clock: Clock) -> None:
    code_holder(led, clock, "AC")
    clock.set(ny(2025, 10, 5))
    run(led, type="remove_access", person_id="AC", org_id="S1", removed_by="PR", effective_at="2025-10-01")
    run(led, type="grant_system_access", person_id="AC", org_id="S1", system="course_audit", effective_at="2025-11-01")
    assert not check(led, "AC", "S1", Report.STUDENT_DATAFILE, at=ny(2025, 10, 31)).allowed
    again = check(led, "AC", "S1", Report.STUDENT_DATAFILE, at=ny(2025, 11, 1))
    assert again.allowed
    assert again.rules[0] == "R7"


def test_the_superintendent_of_the_schools_district_may_remove_access_at_the_school(
    led: LedgerSystem, clock: Clock
) -> None:
    code_holder(led, clock, "AC")
    clock.set(ny(2025, 10, 5))
    run(led, type="remove_access", person_id="AC", org_id="S1", removed_by="SU", effective_at="2025-10-01")
    assert check(led, "AC", "S1", Report.STUDENT_DATAFILE, at=ny(2025, 10, 2)).rules == ("R14",)


def test_a_removal_recorded_late_changes_the_answer_only_from_its_position(led: LedgerSystem, clock: Clock) -> None:
    code_holder(led, clock, "AC")
    led.runner.catch_up()
    before = led.service.recorder.last_position()
    clock.set(ny(2025, 11, 1))
    run(led, type="remove_access", person_id="AC", org_id="S1", removed_by="PR", effective_at="2025-10-01")
    at = ny(2025, 10, 15)
    assert check(led, "AC", "S1", Report.STUDENT_DATAFILE, at=at, as_of=before).allowed
    assert check(led, "AC", "S1", Report.STUDENT_DATAFILE, at=at, as_of=ny(2025, 10, 31)).allowed
    assert check(led, "AC", "S1", Report.STUDENT_DATAFILE, at=at).rules == ("R14",)


# --- R15 void ---------------------------------------------------------------------------------------------------


def test_a_voided_grant_counts_as_never_recorded_from_the_void_on_and_earlier_as_of_still_sees_it(
    led: LedgerSystem, clock: Clock
) -> None:
    person(led, "AS", "S1")
    clock.set(ny(2025, 8, 1))
    grant = run(led, type="grant_system_access", person_id="AS", org_id="S1", system="course_audit", effective_at=EARLY)
    clock.set(ny(2025, 10, 1))
    void = run(led, type="void_event", event_id=event_id(grant), reason="entered for the wrong person")
    assert check(led, "AS", "S1", Report.STUDENT_DATAFILE, as_of=void.position - 1).allowed
    assert check(led, "AS", "S1", Report.STUDENT_DATAFILE, as_of=ny(2025, 9, 30)).allowed
    for as_of in (void.position, ny(2025, 10, 1), None):
        d = check(led, "AS", "S1", Report.STUDENT_DATAFILE, as_of=as_of)
        assert not d.allowed, as_of
        assert event_id(grant) not in d.evidence


def test_voiding_a_removal_restores_the_access_it_ended_for_as_of_after_the_void(
    led: LedgerSystem, clock: Clock
) -> None:
    code_holder(led, clock, "AC")
    clock.set(ny(2025, 10, 5))
    removal = run(led, type="remove_access", person_id="AC", org_id="S1", removed_by="PR", effective_at="2025-10-01")
    clock.set(ny(2025, 10, 6))
    void = run(led, type="void_event", event_id=event_id(removal), reason="wrong person")
    at = ny(2025, 10, 3)
    assert check(led, "AC", "S1", Report.STUDENT_DATAFILE, at=at, as_of=void.position - 1).rules == ("R14",)
    assert check(led, "AC", "S1", Report.STUDENT_DATAFILE, at=at, as_of=void.position).allowed


def test_a_void_cannot_itself_be_voided(led: LedgerSystem) -> None:
    person(led, "AS", "S1")
    grant = run(led, type="grant_system_access", person_id="AS", org_id="S1", system="course_audit", effective_at=EARLY)
    void = run(led, type="void_event", event_id=event_id(grant), reason="mistake")
    with pytest.raises(RuleViolation) as refused:
        run(led, type="void_event", event_id=event_id(void), reason="undo")
    assert refused.value.rule == "R15"


# --- R16 ----------------------------------------------------------------------------------------------------------


def test_a_teacher_asking_for_an_exam_year_that_is_not_kept_is_denied_with_r16(led: LedgerSystem) -> None:
    teacher(led, "T1")
    d = check(led, "T1", "S1", Report.INSTRUCTIONAL_PLANNING, year=2020, subject="AP-BIO")
    assert not d.allowed
    assert d.rules == ("R16",)
    assert d.role == "teacher"
