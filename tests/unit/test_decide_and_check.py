"""The write-time `decide` and the read-time `check`, called as pure functions: no ledger is opened.

A tiny harness (`Streams`) plays the writer's part: it parses commands, decides each one at a
clock and with ids it passes in, and folds the decided events into its streams; checks read a
`World` built from those streams. The world: district D1 with schools S1 and S2, principal PR of
S1 for 2025, scores of 2025 released on Jul 7. Checks are made at AT (mid-September 2025).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ledger import commands as cmd
from ledger.access.check import CheckRequest, Decision, check
from ledger.access.vocabulary import Report, Role
from ledger.calendar import LedgerCalendar
from ledger.decide import decide
from ledger.decide.core import Context, Prepared, Verdict
from ledger.errors import LedgerError, WrongCode
from ledger.streams import Stream, evolve, fold
from ledger.world import World

CALENDAR = LedgerCalendar()
EARLY = "2020-01-01"


def ny(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    """A wall-clock time in New York (the ledger's zone), as a UTC instant."""
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)


AT = ny(2025, 9, 15, 12)


class Streams:
    """Streams grown from empty by deciding commands, as the writer does, minus the store."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.streams: dict[str, Stream] = {}
        self._ids = itertools.count(1)
        self._issued: dict[str, str] = {}  # code → id of the issuance (the store keeps only digests)

    def decide(self, **data: Any) -> Verdict:
        """Decide one command at `now`; fold its events in only if it is not refused."""
        command = cmd.parse_command(data)
        ctx = Context(
            calendar=CALENDAR,
            now=self.now,
            actor="tester",
            new_id=lambda: f"E{next(self._ids)}",
            streams=dict(self.streams),
            load=lambda stream_id: fold(stream_id, []),
            locate=lambda event_id: None,
        )
        verdict = decide(command, ctx, self._prepared(command))
        for event in verdict.events:
            sid = event.originator_id
            self.streams[sid] = evolve(self.streams.get(sid) or Stream(sid), event)
        if isinstance(command, cmd.IssueAccessCode):
            self._issued[verdict.result["code"]] = verdict.result["code_event_id"]
        return verdict

    def _prepared(self, command: cmd.Command) -> Prepared:
        """What the service prepares outside its lock: a new code, or which issuance a code presented matches."""
        if isinstance(command, cmd.IssueAccessCode):
            n = len(self._issued) + 1
            return Prepared(code=f"CODE-{n}", code_digest=f"digest-{n}")
        if isinstance(command, cmd.RedeemAccessCode):
            return Prepared(
                matched_code_event_id=self._issued.get(command.code),
                checked_code_event_ids=frozenset(self._issued.values()),
            )
        return Prepared()

    def check(self, person_id: str, org_id: str, report: Report, at: datetime = AT, **kw: Any) -> Decision:
        kw.setdefault("school_id", org_id)
        request = CheckRequest(person_id=person_id, org_id=org_id, report=report, exam_year=2025, at=at, **kw)
        return check(World(dict(self.streams)), CALENDAR, request)

    def person(self, person_id: str, *orgs: str) -> None:
        """A registered person who accepted the terms, affiliated with `orgs`, all since EARLY."""
        email = f"{person_id}@example.org"
        self.decide(type="register_person", person_id=person_id, name=person_id, email=email, effective_at=EARLY)
        self.decide(type="accept_terms", person_id=person_id, terms_version="v1", effective_at=EARLY)
        for org in orgs:
            self.decide(type="add_affiliation", person_id=person_id, org_id=org, effective_at=EARLY)


@pytest.fixture
def world() -> Streams:
    w = Streams(now=ny(2025, 7, 8, 9))
    w.decide(type="register_district", district_id="D1", name="D1", effective_at=EARLY)
    for school in ("S1", "S2"):
        w.decide(type="register_school", school_id=school, name=school, district_id="D1", effective_at=EARLY)
    w.person("PR", "S1")
    w.decide(type="designate_principal", school_id="S1", person_id="PR", exam_year=2025, effective_at=EARLY)
    w.decide(type="release_scores", exam_year=2025, released_on="2025-07-07")
    return w


def issue_code(world: Streams) -> str:
    """S1's 2025 code, issued to its principal on Jul 8."""
    world.now = ny(2025, 7, 8, 9)
    code = world.decide(type="issue_access_code", school_id="S1", exam_year=2025).result["code"]
    assert isinstance(code, str)
    return code


def redeem(world: Streams, person_id: str, code: str) -> Verdict:
    world.now = ny(2025, 7, 9, 9)
    return world.decide(type="redeem_access_code", school_id="S1", exam_year=2025, person_id=person_id, code=code)


def refusal(world: Streams, **data: Any) -> LedgerError:
    """Why `decide` refuses a command: it raises, so there is no Verdict and no event to fold in."""
    with pytest.raises(LedgerError) as caught:
        world.decide(**data)
    return caught.value


def test_a_check_about_an_unknown_person_is_denied_by_r1(world: Streams) -> None:
    d = world.check("NOBODY", "S1", Report.SCORE_SUMMARY)
    assert (d.allowed, d.rules, d.role, d.code) == (False, ("R1",), None, "unknown_person")


def test_a_teacher_authorized_for_the_year_sees_the_instructional_planning_report_of_their_school(
    world: Streams,
) -> None:
    world.person("T1", "S1")
    auth = world.decide(
        type="authorize_course",
        person_id="T1",
        school_id="S1",
        subject="AP-BIO",
        school_year=2025,
        effective_at="2024-08-15",
    )
    d = world.check("T1", "S1", Report.INSTRUCTIONAL_PLANNING, subject="AP-BIO")
    assert (d.allowed, d.role, d.rules) == (True, Role.TEACHER, ("R3", "R4", "R16"))
    assert auth.events[0].event_id in d.evidence


def test_a_teacher_acting_for_their_school_is_denied_another_schools_report_by_r13(world: Streams) -> None:
    world.person("T1", "S1")
    world.decide(
        type="authorize_course",
        person_id="T1",
        school_id="S1",
        subject="AP-BIO",
        school_year=2025,
        effective_at="2024-08-15",
    )
    d = world.check("T1", "S1", Report.INSTRUCTIONAL_PLANNING, school_id="S2", subject="AP-BIO")
    assert (d.allowed, d.rules, d.code) == (False, ("R13",), "other_organization")


def test_a_staff_member_who_redeems_the_principals_code_is_school_admin_by_r8(world: Streams) -> None:
    world.person("AC", "S1")
    redeemed = redeem(world, "AC", issue_code(world))
    assert [type(e).__name__ for e in redeemed.events] == ["AccessCodeRedeemed"]
    assert redeemed.result["staff"] is True
    d = world.check("AC", "S1", Report.STUDENT_DATAFILE)
    assert (d.allowed, d.role, d.rules[0]) == (True, Role.SCHOOL_ADMIN, "R8")
    assert redeemed.events[0].event_id in d.evidence


def test_a_removal_ends_code_access_at_its_effective_time_and_not_a_microsecond_before(world: Streams) -> None:
    world.person("AC", "S1")
    redeem(world, "AC", issue_code(world))
    world.now = ny(2025, 10, 5)
    removal = world.decide(
        type="remove_access", person_id="AC", org_id="S1", removed_by="PR", effective_at="2025-10-01"
    )
    just_before = world.check("AC", "S1", Report.STUDENT_DATAFILE, at=ny(2025, 9, 30, 23, 59, 59, 999999))
    assert (just_before.allowed, just_before.role) == (True, Role.SCHOOL_ADMIN)
    at_removal = world.check("AC", "S1", Report.STUDENT_DATAFILE, at=ny(2025, 10, 1))
    assert (at_removal.allowed, at_removal.rules) == (False, ("R14",))
    assert removal.events[0].event_id in at_removal.evidence


def test_a_sixth_staff_redemption_is_refused_by_r9_and_grants_nothing(world: Streams) -> None:
    code = issue_code(world)
    for n in range(1, 7):
        world.person(f"ST{n}", "S1")
    for n in range(1, 6):
        assert redeem(world, f"ST{n}", code).result["staff"] is True
    error = refusal(world, type="redeem_access_code", school_id="S1", exam_year=2025, person_id="ST6", code=code)
    assert (error.rule, error.code) == ("R9", "five_staff_limit")
    assert not world.check("ST6", "S1", Report.STUDENT_DATAFILE).allowed


def test_the_principal_redeeming_their_own_code_takes_no_staff_place(world: Streams) -> None:
    code = issue_code(world)
    for n in range(1, 6):
        world.person(f"ST{n}", "S1")
        redeem(world, f"ST{n}", code)
    assert redeem(world, "PR", code).result["staff"] is False


def test_a_wrong_code_is_refused_by_r10_and_grants_nothing(world: Streams) -> None:
    world.person("AC", "S1")
    right = issue_code(world)
    error = refusal(world, type="redeem_access_code", school_id="S1", exam_year=2025, person_id="AC", code="X" + right)
    assert isinstance(error, WrongCode)
    assert (error.rule, error.code) == ("R10", "wrong_code")
    assert not world.check("AC", "S1", Report.STUDENT_DATAFILE).allowed
