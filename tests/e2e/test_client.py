"""ledger_client against a real `ledger serve` process: typed answers, idempotency keys, read-your-writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from ledger_client import LedgerApiError, LedgerClient, Positions
from tests.e2e.servers import Server, serve

pytestmark = pytest.mark.slow

SCHOOL, DISTRICT, PRINCIPAL, COUNSELOR, TEACHER = "S-110", "D-100", "P-2001", "P-4002", "P-3001"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("client")
    with serve(f"sqlite:///{tmp}/ledger.db", tmp) as running:
        yield running


def client_for(server: Server, role: str, positions: Positions | None = None) -> LedgerClient:
    return LedgerClient(server.url, server.keys[role], positions=positions)


def school(suffix: str) -> list[dict[str, Any]]:
    """A district, a school, a principal, a counselor and a teacher; 2025 released."""
    past = "2024-08-01"
    commands: list[dict[str, Any]] = [
        {"type": "register_district", "district_id": DISTRICT + suffix, "name": "Lakeside", "effective_at": past},
        {
            "type": "register_school",
            "school_id": SCHOOL + suffix,
            "name": "Lakeside High",
            "district_id": DISTRICT + suffix,
            "effective_at": past,
        },
    ]
    for pid in (PRINCIPAL, COUNSELOR, TEACHER):
        commands += [
            {
                "type": "register_person",
                "person_id": pid + suffix,
                "name": pid,
                "email": "x@y.org",
                "effective_at": past,
            },
            {"type": "add_affiliation", "person_id": pid + suffix, "org_id": SCHOOL + suffix, "effective_at": past},
            {"type": "accept_terms", "person_id": pid + suffix, "terms_version": "v1", "effective_at": past},
        ]
    return [
        *commands,
        {
            "type": "designate_principal",
            "school_id": SCHOOL + suffix,
            "person_id": PRINCIPAL + suffix,
            "exam_year": 2025,
            "effective_at": "2024-09-01",
        },
        {
            "type": "release_scores",
            "exam_year": 2025,
            "released_on": "2025-07-07",
            "effective_at": "2025-07-07",
            "idempotency_key": "release-2025",  # the same release in every test's school: replayed after the first
        },
    ]


def test_a_write_is_seen_by_the_next_read_of_another_key_sharing_the_positions(server: Server) -> None:
    shared = Positions()
    with client_for(server, "registrar", shared) as registrar, client_for(server, "portal", shared) as portal:
        registrar.batch(school("-a"))
        code = registrar.command("issue_access_code", school_id="S-110-a", exam_year=2025, effective_at="2025-07-01")
        redeemed = registrar.command(
            "redeem_access_code",
            school_id="S-110-a",
            exam_year=2025,
            person_id="P-4002-a",
            code=code.result["code"],
            effective_at="2025-07-02",
        )
        answer = portal.check(
            "P-4002-a",
            org_id="S-110-a",
            report="student_datafile",
            exam_year=2025,
            school_id="S-110-a",
            at="2025-07-08",
        )
    assert shared.value == redeemed.position
    assert answer.allowed is True
    assert answer.role == "school_admin"
    assert answer.position >= redeemed.position
    assert redeemed.events[0].event_id in answer.evidence


def test_a_command_resent_with_its_key_is_replayed_and_records_nothing(server: Server) -> None:
    with client_for(server, "registrar") as registrar:
        registrar.batch(school("-b"))
        fields = {"person_id": "P-4002-b", "org_id": "S-110-b", "effective_at": "2025-07-05"}
        first = registrar.command("end_affiliation", idempotency_key="leaves-b", **fields)
        again = registrar.command("end_affiliation", idempotency_key="leaves-b", **fields)
        other = registrar.command("update_profile", person_id="P-4002-b", title="Counselor")
        twice = registrar.command("update_profile", person_id="P-4002-b", title="Counselor")
    assert (first.replayed, again.replayed) == (False, True)
    assert again.position == first.position
    assert again.events == first.events
    assert twice.position > other.position  # generated keys: two calls are two commands
    assert httpx.get(f"{server.url}/healthz").json()["position"] == twice.position


def test_support_previews_a_batch_and_nothing_is_recorded(server: Server) -> None:
    before = httpx.get(f"{server.url}/healthz").json()["position"]
    with client_for(server, "support") as support:
        preview = support.preview_batch(school("-p"))
    assert preview["dry_run"] is True
    assert preview["position"] == before
    assert "DistrictRegistered" in [e["type"] for e in preview["events"]]
    assert len(preview["results"]) == len(school("-p"))
    assert httpx.get(f"{server.url}/healthz").json()["position"] == before


def test_typed_reads_of_rights_access_windows_and_timeline(server: Server) -> None:
    shared = Positions()
    with client_for(server, "registrar", shared) as registrar, client_for(server, "support", shared) as support:
        registrar.batch(school("-c"))
        registrar.command(
            "authorize_course",
            person_id="P-3001-c",
            school_id="S-110-c",
            subject="AP-BIO",
            school_year=2025,
            effective_at="2024-09-15",
        )
        rights = support.rights("P-4002-c", at="2025-07-08")
        access = support.who_had_access("S-110-c", "2025-07-01", "2025-08-01", level="aggregate")
        clipped = support.who_had_access("S-110-c", "2025-07-01", "2025-08-01", level="aggregate", clip=True)
        windows = support.windows("S-110-c", at="2025-07-08")
        timeline = support.timeline("P-3001-c")
    (counselor_at_school,) = rights.organizations
    assert counselor_at_school.role is None
    assert counselor_at_school.rules == ["R3"]
    assert counselor_at_school.reason
    assert "P-3001-c" in {e.person_id for e in access.entries}
    teacher = next(e for e in clipped.entries if e.person_id == "P-3001-c")
    assert clipped.clipped
    assert teacher.valid_to_local == "2025-08-01T00:00:00-04:00"
    assert teacher.person_name == "P-3001"  # the name registered (the id without its suffix)
    assert [g.type for g in teacher.grants] == ["CourseAuthorized"]
    assert access.from_.startswith("2025-07-01")
    assert windows.current_released_year == 2025
    assert [e["type"] for e in timeline.events][-1] == "CourseAuthorized"


def test_a_refused_command_raises_the_error_naming_its_field(server: Server) -> None:
    with client_for(server, "registrar") as registrar, pytest.raises(LedgerApiError) as refused:
        registrar.command("register_person", person_id="P-9", name="Nine", email="not-an-email")
    assert (refused.value.status, refused.value.code, refused.value.field) == (422, "invalid_input", "email")


def test_a_key_without_the_role_gets_403(server: Server) -> None:
    with client_for(server, "portal") as portal, pytest.raises(LedgerApiError) as refused:
        portal.timeline("P-4002-a")
    assert refused.value.status == 403


def test_a_command_takes_dates_as_python_values(server: Server) -> None:
    with client_for(server, "registrar") as registrar:
        done = registrar.command(
            "register_district", district_id="D-dates", name="Dates", effective_at=date(2024, 8, 1)
        )
    assert done.events[0].effective_at.startswith("2024-08-01")
