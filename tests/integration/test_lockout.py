"""R10 lockout: repeated wrong access codes lock a person out of redemption for a while.

Five wrong codes from one person within 15 minutes lock that person out for 15
minutes after the fifth: every redemption they try is refused with `LockedOut`
(HTTP 429 with Retry-After), even with the right code, and a refused attempt is
not recorded (so it neither tests the code nor extends the lockout). Each wrong
code is appended as an `AccessCodeRedemptionFailed` event that auditors see in
the feed; neither the event nor anything else stored holds the code presented.

Runs on memory, SQLite and PostgreSQL with a settable clock (the lockout is judged
on transaction time, `recorded_at`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from api.bootstrap import create_app
from api.settings import Settings
from bootstrap import open_ledger
from ledger.calendar import LedgerCalendar
from ledger.commands import parse_command
from ledger.errors import LockedOut, WrongCode
from ledger.rules.codes import LockoutPolicy
from projections.system import LedgerSystem
from storage.audit import feed
from storage.outcomes import Outcome
from tests.conftest import CALENDAR, FAST_HASHER, Clock

START = "2025-07-02T14:00:00Z"
WRONG = ["AAAA-BBBB-CCC2", "DDDD-EEEE-FFF3", "GGGG-HHHH-JJJ4", "KKKK-MMMM-NNN5", "PPPP-QQQQ-RRR6", "SSSS-TTTT-UUU7"]


def world_commands() -> list[dict[str, Any]]:
    """School S1 (principal PR) and S2 (principal PR2), persons A and B affiliated with both, 2025 released."""
    past = "2024-08-01"
    cmds: list[dict[str, Any]] = [
        {"type": "register_district", "district_id": "D1", "name": "District", "effective_at": past},
        {"type": "register_school", "school_id": "S1", "name": "School One", "district_id": "D1", "effective_at": past},
        {"type": "register_school", "school_id": "S2", "name": "School Two", "district_id": "D1", "effective_at": past},
    ]
    for pid in ("PR", "PR2", "A", "B"):
        cmds.append(
            {
                "type": "register_person",
                "person_id": pid,
                "name": pid,
                "email": f"{pid.lower()}@x.org",
                "effective_at": past,
            }
        )
        cmds.append({"type": "accept_terms", "person_id": pid, "terms_version": "v1", "effective_at": past})
        for school in ("S1", "S2"):
            cmds.append({"type": "add_affiliation", "person_id": pid, "org_id": school, "effective_at": past})
    cmds += [
        {"type": "designate_principal", "school_id": "S1", "person_id": "PR", "exam_year": 2025, "effective_at": past},
        {"type": "designate_principal", "school_id": "S2", "person_id": "PR2", "exam_year": 2025, "effective_at": past},
        {"type": "release_scores", "exam_year": 2025, "released_on": "2025-07-01", "effective_at": "2025-07-01"},
        {"type": "issue_access_code", "school_id": "S1", "exam_year": 2025, "effective_at": "2025-07-01"},
        {"type": "issue_access_code", "school_id": "S2", "exam_year": 2025, "effective_at": "2025-07-01"},
    ]
    return cmds


class World:
    def __init__(self, ledger: LedgerSystem, clock: Clock) -> None:
        self.ledger, self.clock = ledger, clock
        clock.set(START)
        outcomes = ledger.service.execute_batch([parse_command(c) for c in world_commands()], "registrar")
        self.codes = {"S1": outcomes[-2].result["code"], "S2": outcomes[-1].result["code"]}

    def redeem(self, person: str, code: str, school: str = "S1") -> Outcome:
        command = {
            "type": "redeem_access_code",
            "school_id": school,
            "exam_year": 2025,
            "person_id": person,
            "code": code,
        }
        return self.ledger.service.execute(parse_command(command), "registrar")

    def fail(self, person: str, n: int, *, every_minutes: float = 1, school: str = "S1") -> None:
        """`n` wrong codes, `every_minutes` apart (the clock ends at the last one)."""
        for i in range(n):
            if i:
                self.clock.advance(minutes=every_minutes)
            with pytest.raises(WrongCode):
                self.redeem(person, WRONG[i % len(WRONG)], school)

    def position(self) -> int:
        return self.ledger.service.recorder.last_position()

    def locked(self, person: str, code: str | None = None, school: str = "S1") -> LockedOut:
        before = self.position()
        with pytest.raises(LockedOut) as caught:
            self.redeem(person, code or self.codes[school], school)
        assert self.position() == before, "a locked-out attempt recorded something"
        return caught.value


@pytest.fixture
def world(ledger: LedgerSystem, clock: Clock) -> World:
    return World(ledger, clock)


def test_five_wrong_codes_within_fifteen_minutes_lock_the_person_out_even_with_the_right_code(world: World) -> None:
    world.fail("A", 5, every_minutes=3)  # 12 minutes from first to fifth

    error = world.locked("A")  # the right code

    assert (error.code, error.rule) == ("locked_out", "R10")
    assert 14 * 60 < error.retry_after_seconds <= 15 * 60 + 1


def test_four_wrong_codes_do_not_lock(world: World) -> None:
    world.fail("A", 4)
    assert world.redeem("A", world.codes["S1"]).events[0].type == "AccessCodeRedeemed"


def test_the_right_code_works_again_once_fifteen_minutes_have_passed_since_the_fifth_failure(world: World) -> None:
    world.fail("A", 5)
    world.clock.advance(minutes=15, seconds=-1)
    world.locked("A")

    world.clock.advance(seconds=1)
    outcome = world.redeem("A", world.codes["S1"])

    assert outcome.events[0].type == "AccessCodeRedeemed"


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(world: World) -> None:
    world.fail("A", 5, every_minutes=4)  # 16 minutes from first to fifth
    assert world.redeem("A", world.codes["S1"]).events[0].type == "AccessCodeRedeemed"


def test_the_window_slides_the_last_five_failures_decide(world: World) -> None:
    world.fail("A", 5, every_minutes=4)  # not locked: 16 minutes apart
    world.clock.advance(minutes=1)
    world.fail("A", 1)  # the last five now span 13 minutes
    world.locked("A")


def test_attempts_while_locked_are_not_recorded_and_do_not_extend_the_lockout(world: World) -> None:
    world.fail("A", 5)
    for minutes in (1, 4, 5, 4):  # 1, 5, 10 and 14 minutes after the fifth failure
        world.clock.advance(minutes=minutes)
        world.locked("A", code=WRONG[0])  # a wrong code while locked: refused unchecked, nothing recorded
    world.clock.advance(minutes=1)  # 15 minutes after the fifth failure
    assert world.redeem("A", world.codes["S1"]).events[0].type == "AccessCodeRedeemed"


def test_a_locked_person_is_locked_out_of_every_school(world: World) -> None:
    world.fail("A", 5)
    world.locked("A", school="S2")


def test_another_person_is_not_locked(world: World) -> None:
    world.fail("A", 5)
    world.locked("A")
    assert world.redeem("B", world.codes["S1"]).events[0].type == "AccessCodeRedeemed"


def test_each_failure_is_an_event_auditors_see_and_no_stored_byte_holds_a_code(world: World) -> None:
    start = world.position()
    world.fail("A", 5)
    world.locked("A")
    world.redeem("B", world.codes["S1"])
    service = world.ledger.service

    events, _ = feed(service.recorder, service.mapper, start, 100)
    failures = [e for e in events if e["type"] == "AccessCodeRedemptionFailed"]
    everything = orjson.dumps(feed(service.recorder, service.mapper, 0, 1000)[0])
    raw = b"".join(r.stored.state for r in service.recorder.read_rows(0, 1000))

    assert len(failures) == 5
    assert all(
        {k: f["data"][k] for k in ("person_id", "school_id", "exam_year")}
        == {"person_id": "A", "school_id": "S1", "exam_year": 2025}
        for f in failures
    )
    assert [f["actor"] for f in failures] == ["registrar"] * 5
    for code in [*WRONG[:5], world.codes["S1"], world.codes["S2"]]:
        for form in (code, code.replace("-", "")):
            assert form.encode() not in everything
            assert form.encode() not in raw


def test_the_lockout_policy_is_a_setting(clock: Clock) -> None:
    strict = open_ledger(
        "memory://",
        calendar=CALENDAR,
        clock=clock,
        hasher=FAST_HASHER,
        follow=False,
        lockout=LockoutPolicy(failures=2, window=timedelta(minutes=60)),
    )
    try:
        world = World(strict, clock)
        world.fail("A", 2, every_minutes=50)
        world.clock.advance(minutes=59)
        world.locked("A")
    finally:
        strict.close()


# --- over HTTP: 409 for each wrong code, then 429 with Retry-After ------------------------------------------

REGISTRAR, AUDITOR = "registrar-secret-lockout-0123456789abcdef", "auditor-secret-lockout-0123456789abcdef"


@pytest.fixture
def http(store_url: str, clock: Clock) -> Iterator[TestClient]:
    settings = Settings(
        database_url=store_url,
        api_keys=f"reg:registrar:{REGISTRAR},aud:auditor:{AUDITOR}",
        code_hash_time_cost=1,
        code_hash_memory_kib=64,
    )

    def system(settings: Settings, calendar: LedgerCalendar) -> LedgerSystem:
        return open_ledger(settings.database_url, calendar=calendar, clock=clock, hasher=FAST_HASHER, follow=True)

    with TestClient(create_app(settings, system_factory=system, announce=lambda _: None)) as client:
        yield client


def test_over_http_wrong_codes_answer_409_then_the_person_gets_429_with_retry_after(
    http: TestClient, clock: Clock
) -> None:
    registrar = {"Authorization": f"Bearer {REGISTRAR}"}
    clock.set(START)
    created = http.post("/v1/commands/batch", json={"commands": world_commands()}, headers=registrar)
    assert created.status_code == 201, created.text
    code = created.json()["results"][-2]["result"]["code"]

    def redeem(person: str, presented: str) -> Any:
        body = {
            "type": "redeem_access_code",
            "school_id": "S1",
            "exam_year": 2025,
            "person_id": person,
            "code": presented,
        }
        return http.post("/v1/commands", json=body, headers=registrar)

    wrong = []
    for attempt in WRONG[:5]:
        clock.advance(minutes=2)
        wrong.append(redeem("A", attempt))
    locked = redeem("A", code)
    other = redeem("B", code)
    feed_page = http.get("/v1/events", params={"limit": 1000}, headers={"Authorization": f"Bearer {AUDITOR}"})

    assert [(r.status_code, r.json()["error"]["code"], r.json()["error"]["rule"]) for r in wrong] == [
        (409, "wrong_code", "R10")
    ] * 5
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "locked_out"
    assert locked.json()["error"]["rule"] == "R10"
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60 + 1
    assert other.status_code == 201
    assert feed_page.status_code == 200
    types = [e["type"] for e in feed_page.json()["events"]]
    assert types.count("AccessCodeRedemptionFailed") == 5
    for response in (*wrong, locked, other, feed_page):
        for form in (code, *WRONG[:5]):
            assert form not in response.text
