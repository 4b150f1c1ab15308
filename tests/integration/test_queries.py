"""The questions the ledger answers, on every store: who had access, timeline, rights and windows.

One school year in district D1 (schools S1, S2): scores of 2024 and 2025 released on
Jul 8, 2024 and Jul 7, 2025; at S1 teachers T1 and T2 (AP-BIO, section B1, school year
2025) and T3 (school year 2024 only), staff member AS holding the 2025 code from Jul 9,
district user DU added for access year 2025. Student data of T2 is restricted from
Sep 1, 2025, and AS's removal, effective Oct 1, is recorded late, on Oct 15.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.access.rights import OrgRights
from ledger.access.vocabulary import Level, Report
from projections.answers import AccessEntry
from projections.system import LedgerSystem
from storage.outcomes import Outcome
from tests.conftest import Clock, ny, run

EARLY = "2020-01-01"
RELEASE_2025 = datetime(2025, 7, 7, 4, tzinfo=UTC)  # start of Jul 7 in New York
AUG_1_2025 = datetime(2025, 8, 1, 4, tzinfo=UTC)
AUG_1_2026 = datetime(2026, 8, 1, 4, tzinfo=UTC)
SEP_1_2025 = datetime(2025, 9, 1, 4, tzinfo=UTC)
OCT_1_2025 = datetime(2025, 10, 1, 4, tzinfo=UTC)


def eid(outcome: Outcome, type_: str | None = None) -> str:
    return next(e.event_id for e in outcome.events if type_ is None or e.type == type_)


@dataclass
class Year:
    """Event ids and positions of the scenario, for expected sources and known intervals."""

    t1_auth: str
    t1_section: str
    t2_auth: str
    t2_section: str
    code: str
    redemption: str
    redemption_position: int
    redeemed_at: datetime
    addition: str
    removal: str | None = None
    removal_position: int | None = None
    removal_recorded_at: datetime | None = None

    def before_removal(self) -> int:
        """The last position before the late removal was recorded."""
        assert self.removal_position is not None, "scenario(late_removal=False) records no removal"
        return self.removal_position - 1


def person(led: LedgerSystem, pid: str, org: str) -> None:
    run(led, type="register_person", person_id=pid, name=pid, email=f"{pid}@x.org", effective_at=EARLY)
    run(led, type="accept_terms", person_id=pid, terms_version="v1", effective_at=EARLY)
    run(led, type="add_affiliation", person_id=pid, org_id=org, effective_at=EARLY)


def teacher(led: LedgerSystem, pid: str, year: int) -> tuple[str, str]:
    person(led, pid, "S1")
    auth = run(
        led,
        type="authorize_course",
        person_id=pid,
        school_id="S1",
        subject="AP-BIO",
        school_year=year,
        effective_at=f"{year - 1}-08-15",
    )
    section = run(
        led,
        type="assign_section",
        person_id=pid,
        school_id="S1",
        subject="AP-BIO",
        section_id="B1",
        school_year=year,
        effective_at=f"{year - 1}-08-20",
    )
    return eid(auth), eid(section)


def scenario(led: LedgerSystem, clock: Clock, *, late_removal: bool = True) -> Year:
    clock.set("2025-06-01")
    run(led, type="register_district", district_id="D1", name="Lakeside Unified", effective_at=EARLY)
    for s, name in (("S1", "Lakeside High"), ("S2", "Hillcrest High")):
        run(led, type="register_school", school_id=s, name=name, district_id="D1", effective_at=EARLY)
    person(led, "PR", "S1")
    person(led, "SU", "D1")
    run(led, type="designate_principal", school_id="S1", person_id="PR", exam_year=2025, effective_at=EARLY)
    run(led, type="designate_superintendent", district_id="D1", person_id="SU", effective_at=EARLY)
    run(led, type="release_scores", exam_year=2024, released_on="2024-07-08")
    run(led, type="release_scores", exam_year=2025, released_on="2025-07-07")
    t1_auth, t1_section = teacher(led, "T1", 2025)
    t2_auth, t2_section = teacher(led, "T2", 2025)
    teacher(led, "T3", 2024)
    person(led, "AS", "S1")
    person(led, "DU", "D1")
    clock.set("2025-07-08T10:00:00")
    code = run(led, type="issue_access_code", school_id="S1", exam_year=2025)
    clock.set("2025-07-09T09:00:00")
    redeemed = run(
        led, type="redeem_access_code", school_id="S1", exam_year=2025, person_id="AS", code=code.result["code"]
    )
    clock.set("2025-07-15")
    addition = run(led, type="add_district_user", person_id="DU", district_id="D1", access_year=2025, requested_by="SU")
    clock.set("2025-08-20")
    run(
        led, type="restrict_student_data", school_id="S1", teacher_id="T2", requested_by="PR", effective_at="2025-09-01"
    )
    year = Year(
        t1_auth,
        t1_section,
        t2_auth,
        t2_section,
        eid(code, "AccessCodeIssued"),
        eid(redeemed),
        redeemed.position,
        redeemed.recorded_at,
        eid(addition),
    )
    if late_removal:
        clock.set("2025-10-15T12:00:00")
        removal = run(
            led, type="remove_access", person_id="AS", org_id="S1", removed_by="PR", effective_at="2025-10-01"
        )
        year.removal, year.removal_position, year.removal_recorded_at = (
            eid(removal),
            removal.position,
            removal.recorded_at,
        )
    led.runner.catch_up()
    return year


def entries(
    led: LedgerSystem, org: str, start: datetime, end: datetime, level: Level, as_of: Any = None
) -> dict[tuple[str, str], AccessEntry]:
    answer = led.queries.who_had_access(org, start, end, level, as_of=as_of)
    return {(e.person_id, e.via_org): e for e in answer.entries}


# --- who had access ---------------------------------------------------------------------------


def test_who_had_student_level_access_to_a_school_lists_each_grant_with_its_interval_and_source(
    ledger: LedgerSystem, clock: Clock
) -> None:
    y = scenario(ledger, clock, late_removal=False)
    found = entries(ledger, "S1", AUG_1_2025, ny(2025, 12, 1), Level.STUDENT)

    assert set(found) == {("T1", "S1"), ("T2", "S1"), ("AS", "S1"), ("DU", "D1")}
    t1 = found[("T1", "S1")]
    assert (t1.role, t1.valid_from, t1.valid_to) == ("teacher", RELEASE_2025, None)
    assert {y.t1_auth, y.t1_section} <= set(t1.sources)
    as_ = found[("AS", "S1")]
    assert (as_.role, as_.valid_from, as_.valid_to) == ("school_admin", y.redeemed_at, AUG_1_2026)
    assert y.redemption in as_.sources
    du = found[("DU", "D1")]
    assert (du.role, du.valid_from, du.valid_to) == ("district_admin", AUG_1_2025, AUG_1_2026)
    assert du.sources == (y.addition,)


def test_a_restricted_teacher_has_student_level_access_until_the_restriction_and_aggregate_access_throughout(
    ledger: LedgerSystem, clock: Clock
) -> None:
    scenario(ledger, clock, late_removal=False)
    student = entries(ledger, "S1", AUG_1_2025, ny(2025, 12, 1), Level.STUDENT)
    t2 = student[("T2", "S1")]
    assert (t2.valid_from, t2.valid_to) == (RELEASE_2025, SEP_1_2025)

    october = (ny(2025, 10, 1), ny(2025, 11, 1))
    assert ("T2", "S1") not in entries(ledger, "S1", *october, Level.STUDENT)
    aggregate = entries(ledger, "S1", *october, Level.AGGREGATE)
    assert (aggregate[("T2", "S1")].valid_from, aggregate[("T2", "S1")].valid_to) == (RELEASE_2025, None)
    assert ("T1", "S1") in entries(ledger, "S1", *october, Level.STUDENT)


def test_a_teacher_without_a_current_year_authorization_had_access_only_until_the_next_release(
    ledger: LedgerSystem, clock: Clock
) -> None:
    scenario(ledger, clock)
    t3 = entries(ledger, "S1", ny(2025, 1, 1), ny(2025, 12, 1), Level.AGGREGATE)[("T3", "S1")]
    assert (t3.valid_from, t3.valid_to) == (datetime(2024, 7, 8, 4, tzinfo=UTC), RELEASE_2025)
    assert ("T3", "S1") not in entries(ledger, "S1", AUG_1_2025, ny(2025, 12, 1), Level.AGGREGATE)


def test_who_had_access_to_a_district_covers_its_schools_and_its_district_users(
    ledger: LedgerSystem, clock: Clock
) -> None:
    scenario(ledger, clock, late_removal=False)
    found = entries(ledger, "D1", AUG_1_2025, ny(2025, 12, 1), Level.STUDENT)
    assert {p for p, _ in found} == {"T1", "T2", "AS", "DU"}
    assert found[("DU", "D1")].role == "district_admin"
    assert found[("AS", "S1")].role == "school_admin"


def test_who_had_access_before_a_district_window_opens_leaves_the_district_user_out(
    ledger: LedgerSystem, clock: Clock
) -> None:
    scenario(ledger, clock, late_removal=False)
    assert ("DU", "D1") not in entries(ledger, "S1", ny(2025, 7, 15), AUG_1_2025, Level.STUDENT)


def test_who_had_access_as_known_before_a_late_removal_differs_from_what_is_known_now(
    ledger: LedgerSystem, clock: Clock
) -> None:
    y = scenario(ledger, clock)
    window = (AUG_1_2025, ny(2025, 12, 1))
    then = entries(ledger, "S1", *window, Level.STUDENT, as_of=y.before_removal())[("AS", "S1")]
    now = entries(ledger, "S1", *window, Level.STUDENT)[("AS", "S1")]
    assert then.valid_to == AUG_1_2026
    assert now.valid_to == OCT_1_2025
    assert ("AS", "S1") not in entries(ledger, "S1", ny(2025, 10, 2), ny(2025, 12, 1), Level.STUDENT)


def test_who_had_access_to_an_unknown_organization_is_an_error_not_an_empty_list(
    ledger: LedgerSystem, clock: Clock
) -> None:
    scenario(ledger, clock)
    from projections.answers import UnknownOrganization

    with pytest.raises(UnknownOrganization):
        ledger.queries.who_had_access("NOPE", AUG_1_2025, AUG_1_2026, Level.STUDENT)


# --- timeline --------------------------------------------------------------------------------------


def test_a_late_removal_gives_an_interval_known_until_its_position_and_a_shorter_one_known_after(
    ledger: LedgerSystem, clock: Clock
) -> None:
    y = scenario(ledger, clock)
    timeline = ledger.queries.timeline("AS")
    s1 = sorted((i for i in timeline.intervals if i.org_id == "S1"), key=lambda i: i.known_from_position)

    assert len(s1) == 2
    before, after = s1
    assert (before.role, before.valid_from, before.valid_to) == ("school_admin", y.redeemed_at, AUG_1_2026)
    assert (before.known_from_position, before.known_to_position) == (y.redemption_position, y.removal_position)
    assert (before.known_from, before.known_to) == (y.redeemed_at, y.removal_recorded_at)
    assert (after.role, after.valid_from, after.valid_to) == ("school_admin", y.redeemed_at, OCT_1_2025)
    assert (after.known_from_position, after.known_to_position) == (y.removal_position, None)
    assert after.known_from == y.removal_recorded_at
    assert after.known_to is None
    assert y.redemption in after.sources


def test_the_timeline_lists_the_events_about_the_person_with_both_times(ledger: LedgerSystem, clock: Clock) -> None:
    y = scenario(ledger, clock)
    timeline = ledger.queries.timeline("AS")
    by_id = {r.event.event_id: r for r in timeline.records}
    assert y.removal is not None
    removal = by_id[y.removal]
    assert removal.event.type == "AccessRemoved"
    assert removal.event.effective_at == OCT_1_2025
    assert removal.event.recorded_at == y.removal_recorded_at
    assert y.redemption in by_id
    positions = [r.position for r in timeline.records]
    assert positions == sorted(positions)


def test_a_timeline_as_of_before_the_removal_shows_only_what_was_known_then(ledger: LedgerSystem, clock: Clock) -> None:
    y = scenario(ledger, clock)
    timeline = ledger.queries.timeline("AS", as_of=y.before_removal())
    assert y.removal not in {r.event.event_id for r in timeline.records}
    (only,) = [i for i in timeline.intervals if i.org_id == "S1"]
    assert only.valid_to == AUG_1_2026
    assert only.known_to is None


# --- rights ---------------------------------------------------------------------------------------------


def org_rights(led: LedgerSystem, pid: str, org: str, at: datetime, as_of: Any = None) -> OrgRights:
    (found,) = [o for o in led.queries.rights(pid, at=at, as_of=as_of).rights.organizations if o.org_id == org]
    return found


def test_rights_of_a_code_holder_give_the_validity_interval_and_the_school_wide_scope(
    ledger: LedgerSystem, clock: Clock
) -> None:
    y = scenario(ledger, clock)
    now = org_rights(ledger, "AS", "S1", ny(2025, 9, 15))
    assert now.role == "school_admin"
    assert (now.valid_from, now.valid_to) == (y.redeemed_at, OCT_1_2025)
    scopes: tuple[dict[str, Any], ...] = now.scopes
    (scope,) = scopes
    assert scope["schools"] == ["S1"]
    assert scope["exam_years"] == [2025, 2024]
    assert set(scope["reports"]) == {r.value for r in Report} - {"district_score_summary"}
    assert set(scope["levels"]) == {"student", "aggregate"}
    assert y.redemption in now.sources

    known_then = org_rights(ledger, "AS", "S1", ny(2025, 9, 15), as_of=y.before_removal())
    assert known_then.valid_to == AUG_1_2026


def test_rights_of_a_teacher_name_subject_sections_and_reports_and_a_restriction_narrows_them(
    ledger: LedgerSystem, clock: Clock
) -> None:
    y = scenario(ledger, clock)
    t1 = org_rights(ledger, "T1", "S1", ny(2025, 9, 15))
    assert t1.role == "teacher"
    assert (t1.valid_from, t1.valid_to) == (RELEASE_2025, None)
    scopes_2025: list[dict[str, Any]] = [s for s in t1.scopes if s["exam_year"] == 2025]
    (scope,) = scopes_2025
    assert scope["subject"] == "AP-BIO"
    assert scope["sections"] == ["B1"]
    assert set(scope["reports"]) == {"instructional_planning", "subject_score_roster"}
    assert y.t1_auth in t1.sources

    t2 = org_rights(ledger, "T2", "S1", ny(2025, 9, 15))
    (restricted,) = [s for s in t2.scopes if s["exam_year"] == 2025]
    assert restricted["restricted"] is True
    assert restricted["reports"] == ["instructional_planning"]
    assert restricted["levels"] == ["aggregate"]


def test_rights_of_a_district_user_cover_every_school_of_the_district_for_the_access_year(
    ledger: LedgerSystem, clock: Clock
) -> None:
    y = scenario(ledger, clock)
    du = org_rights(ledger, "DU", "D1", ny(2025, 9, 15))
    assert du.role == "district_admin"
    assert (du.valid_from, du.valid_to) == (AUG_1_2025, AUG_1_2026)
    scopes: tuple[dict[str, Any], ...] = du.scopes
    (scope,) = scopes
    assert scope["schools"] == ["S1", "S2"]
    assert "district_score_summary" in scope["reports"]
    assert du.sources == (y.addition,)


def test_rights_before_any_grant_list_the_affiliation_without_a_role(ledger: LedgerSystem, clock: Clock) -> None:
    scenario(ledger, clock)
    early = org_rights(ledger, "AS", "S1", ny(2025, 7, 1))
    assert early.role is None
    assert early.valid_from is None


# --- windows ----------------------------------------------------------------------------------------------


def test_school_windows_show_the_current_year_the_code_with_its_staff_places_and_who_must_renew(
    ledger: LedgerSystem, clock: Clock
) -> None:
    y = scenario(ledger, clock)
    body = ledger.queries.windows("S1", at=ny(2025, 9, 15)).body
    assert body["current_released_year"] == 2025
    (code,) = body["codes"]
    assert code["exam_year"] == 2025
    assert code["code_event_id"] == y.code
    assert code["valid_to"] == AUG_1_2026.isoformat()
    assert code["revoked"] is False
    assert code["valid_at"] is True
    assert (code["staff_places_used"], code["staff_places_free"]) == (1, 4)
    assert code["staff"] == ["AS"]
    teachers = {t["person_id"]: t for t in body["teachers"]}
    assert teachers["T1"]["holds_current_year"] is True
    assert teachers["T1"]["renewal_due"] is False
    assert teachers["T3"]["renewal_due"] is True
    assert teachers["T3"]["authorizations"] == [{"school_year": 2024, "subjects": ["AP-BIO"]}]


def test_a_removal_frees_the_staff_place_from_its_effective_time(ledger: LedgerSystem, clock: Clock) -> None:
    scenario(ledger, clock)
    (code,) = ledger.queries.windows("S1", at=ny(2025, 10, 2)).body["codes"]
    assert (code["staff_places_used"], code["staff_places_free"]) == (0, 5)


def test_before_the_release_the_teacher_authorized_for_the_last_released_year_does_not_need_to_renew(
    ledger: LedgerSystem, clock: Clock
) -> None:
    scenario(ledger, clock)
    body = ledger.queries.windows("S1", at=ny(2025, 7, 1)).body
    assert body["current_released_year"] == 2024
    teachers = {t["person_id"]: t for t in body["teachers"]}
    assert teachers["T3"]["renewal_due"] is False
    assert teachers["T1"]["renewal_due"] is True  # authorized for 2025 only, while 2024 is current


def test_district_windows_show_each_users_access_year_and_window(ledger: LedgerSystem, clock: Clock) -> None:
    y = scenario(ledger, clock)
    body = ledger.queries.windows("D1", at=ny(2025, 9, 15)).body
    assert body["current_released_year"] == 2025
    assert body["current_access_year"] == 2025
    (du,) = body["users"]
    assert du["person_id"] == "DU"
    assert du["access_year"] == 2025
    assert du["valid_from"] == AUG_1_2025.isoformat()
    assert du["valid_to"] == AUG_1_2026.isoformat()
    assert du["active"] is True
    assert du["source"] == y.addition
    before = ledger.queries.windows("D1", at=ny(2025, 7, 20)).body
    assert before["users"][0]["active"] is False
    assert before["current_access_year"] == 2024
