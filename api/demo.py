"""A small, realistic demo history (one district, three schools, a dozen teachers over three school years).

Every command carries the instant at which the ledger is to have learned it, so
the demo has a real transaction-time history: the loader runs the service with a
scripted clock (the HTTP API never lets a client set `recorded_at`). Among the
stories it tells:

- P-4002, a counselor, redeemed Lakeside High's 2025 code on Jul 2, 2025; the
  principal removed her with effect from Jul 5, but the ledger only learned it on
  Jul 20. As of Jul 8 the ledger said she could see student data on Jul 8; by all
  we know now, she could not.
- P-1005 is a department chair and AP Biology teacher who also redeemed the code:
  school-admin access supersedes her teacher access (R12).
- P-1004 did not renew for 2024-25: teacher access ends with the 2025 release (R3).
- Northshore's principal restricted student data for P-1008 (R6).
- An authorization entered for the wrong school was voided (R15).
- P-1010 never accepted the terms of use (R2); P-1011 teaches under the state
  homeschool organization (R5).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.calendar import LedgerCalendar

DISTRICT = "D-100"
SCHOOLS = {"S-110": "Lakeside High School", "S-120": "Northshore High School", "S-130": "Harbor Academy"}
HOMESCHOOL = "S-900"
PRINCIPALS = {"S-110": "P-2001", "S-120": "P-2002", "S-130": "P-2003"}
SUPERINTENDENT = "P-3001"
RELEASES = {2023: "2023-07-10", 2024: "2024-07-08", 2025: "2025-07-07"}

# teacher → (school, subject, section prefix, school years authorized)
TEACHERS: dict[str, tuple[str, str, str, tuple[int, ...]]] = {
    "P-1001": ("S-110", "AP-BIO", "BIO", (2023, 2024, 2025)),
    "P-1002": ("S-110", "AP-CALC-AB", "CALC", (2023, 2024, 2025)),
    "P-1003": ("S-110", "AP-CHEM", "CHEM", (2024, 2025)),
    "P-1004": ("S-110", "AP-USH", "USH", (2023, 2024)),
    "P-1005": ("S-110", "AP-ENV", "ENV", (2023, 2024, 2025)),
    "P-1006": ("S-120", "AP-BIO", "BIO", (2023, 2024, 2025)),
    "P-1007": ("S-120", "AP-LANG", "LANG", (2024, 2025)),
    "P-1008": ("S-120", "AP-PSYCH", "PSY", (2023, 2024, 2025)),
    "P-1009": ("S-130", "AP-PHYS-1", "PHY", (2023, 2024, 2025)),
    "P-1010": ("S-130", "AP-STAT", "STAT", (2024, 2025)),
    "P-1011": (HOMESCHOOL, "AP-CSP", "CSP", (2025,)),
    "P-1012": ("S-130", "AP-GOV", "GOV", (2023,)),
}
NAMES = {
    "P-1001": "Avery Brooks",
    "P-1002": "Jordan Kim",
    "P-1003": "Priya Natarajan",
    "P-1004": "Marcus Bell",
    "P-1005": "Elena Ruiz",
    "P-1006": "Sam Okafor",
    "P-1007": "Hannah Lee",
    "P-1008": "Diego Alvarez",
    "P-1009": "Grace Chen",
    "P-1010": "Tom Walsh",
    "P-1011": "Ruth Adler",
    "P-1012": "Omar Haddad",
    "P-2001": "Linda Park",
    "P-2002": "Robert Diaz",
    "P-2003": "Keisha Moore",
    "P-3001": "Dana Whitfield",
    "P-3002": "Victor Osei",
    "P-4001": "Nina Patel",
    "P-4002": "Claire Dubois",
    "P-4003": "Ahmed Rahman",
}


@dataclass(frozen=True)
class Step:
    recorded: str  # when the ledger learns it (ISO date or instant, ledger zone)
    command: dict[str, Any]


def steps() -> list[Step]:
    """The demo history, in the order the ledger learns it."""
    out: list[Step] = []

    def add(recorded: str, **command: Any) -> None:
        out.append(Step(recorded, command))

    start = "2022-08-01"
    add(
        start,
        type="register_district",
        district_id=DISTRICT,
        name="Lakeside Unified School District",
        effective_at=start,
    )
    for sid, name in SCHOOLS.items():
        add(start, type="register_school", school_id=sid, name=name, district_id=DISTRICT, effective_at=start)
    add(
        start,
        type="register_school",
        school_id=HOMESCHOOL,
        name="State Homeschool Organization",
        homeschool=True,
        effective_at=start,
    )
    for pid, name in NAMES.items():
        email = name.lower().replace(" ", ".") + "@lakeside.example.org"
        add(start, type="register_person", person_id=pid, name=name, email=email, effective_at=start)
    # Affiliations and terms.
    for pid, (sid, *_rest) in TEACHERS.items():
        add("2022-08-15", type="add_affiliation", person_id=pid, org_id=sid, effective_at="2022-08-15")
    for sid, pid in PRINCIPALS.items():
        add("2022-08-15", type="add_affiliation", person_id=pid, org_id=sid, effective_at="2022-08-15")
    for pid in (SUPERINTENDENT, "P-3002"):
        add("2022-08-15", type="add_affiliation", person_id=pid, org_id=DISTRICT, effective_at="2022-08-15")
    add("2022-08-15", type="add_affiliation", person_id="P-4001", org_id="S-110", effective_at="2022-08-15")
    add("2022-08-15", type="add_affiliation", person_id="P-4002", org_id="S-110", effective_at="2022-08-15")
    add("2022-08-15", type="add_affiliation", person_id="P-4003", org_id="S-120", effective_at="2022-08-15")
    for pid in NAMES:
        if pid != "P-1010":
            add("2022-09-01", type="accept_terms", person_id=pid, terms_version="2022-08", effective_at="2022-09-01")
    add(start, type="designate_superintendent", district_id=DISTRICT, person_id=SUPERINTENDENT, effective_at=start)
    add(
        "2022-09-05",
        type="grant_system_access",
        person_id="P-4003",
        org_id="S-120",
        system="course_audit",
        effective_at="2022-09-05",
    )

    for year in (2023, 2024, 2025):
        fall = f"{year - 1}-09-20"
        for pid, (sid, subject, prefix, years) in TEACHERS.items():
            if year in years:
                add(
                    fall,
                    type="authorize_course",
                    person_id=pid,
                    school_id=sid,
                    subject=subject,
                    school_year=year,
                    effective_at=fall,
                )
                add(
                    fall,
                    type="assign_section",
                    person_id=pid,
                    school_id=sid,
                    subject=subject,
                    section_id=f"{prefix}-{year}-1",
                    school_year=year,
                    effective_at=fall,
                )
        for sid, pid in PRINCIPALS.items():
            add(
                f"{year - 1}-10-01",
                type="designate_principal",
                school_id=sid,
                person_id=pid,
                exam_year=year,
                effective_at=f"{year - 1}-10-01",
            )
        add(
            f"{year - 1}-08-01",
            type="add_district_user",
            person_id="P-3002",
            district_id=DISTRICT,
            access_year=year - 1,
            requested_by=SUPERINTENDENT,
            effective_at=f"{year - 1}-08-01",
        )
        add(
            RELEASES[year],
            type="release_scores",
            exam_year=year,
            released_on=RELEASES[year],
            effective_at=RELEASES[year],
        )

    # A mistaken authorization, voided a week later (its event id is filled in by the loader).
    add(
        "2024-10-01",
        type="authorize_course",
        person_id="P-1003",
        school_id="S-130",
        subject="AP-CHEM",
        school_year=2025,
        effective_at="2024-10-01",
        _label="mistake",
    )
    add("2024-10-08", type="void_event", event_id="@mistake", reason="entered for the wrong school")
    # Lakeside's 2025 code, shared with staff.
    add(
        "2025-07-01",
        type="issue_access_code",
        school_id="S-110",
        exam_year=2025,
        effective_at="2025-07-01",
        _label="code",
    )
    for pid, day in (
        ("P-1005", "2025-07-01T10:00:00"),
        ("P-4001", "2025-07-01T11:00:00"),
        ("P-4002", "2025-07-02T09:30:00"),
    ):
        add(
            day,
            type="redeem_access_code",
            school_id="S-110",
            exam_year=2025,
            person_id=pid,
            code="@code",
            effective_at=day,
        )
    add(
        "2025-07-02",
        type="add_district_user",
        person_id="P-3002",
        district_id=DISTRICT,
        access_year=2025,
        requested_by=SUPERINTENDENT,
        effective_at="2025-07-02",
    )
    # The late removal: effective Jul 5, learned Jul 20.
    add(
        "2025-07-20T14:00:00",
        type="remove_access",
        person_id="P-4002",
        org_id="S-110",
        removed_by="P-2001",
        effective_at="2025-07-05",
    )
    add(
        "2025-09-15",
        type="restrict_student_data",
        school_id="S-120",
        teacher_id="P-1008",
        requested_by="P-2002",
        effective_at="2025-09-15",
    )
    add(
        "2025-09-20",
        type="authorize_course",
        person_id="P-1001",
        school_id="S-110",
        subject="AP-BIO",
        school_year=2026,
        effective_at="2025-09-20",
    )
    return out


def resolved(steps_: list[Step], calendar: LedgerCalendar) -> Iterator[tuple[datetime, int, dict[str, Any]]]:
    """(recorded instant, index, command) in the order the ledger learns them (labels left for the loader)."""
    timed = [(calendar.parse_instant(step.recorded), n, step.command) for n, step in enumerate(steps_)]
    # Stable: steps recorded at the same instant keep the order they were written in.
    yield from sorted(timed, key=lambda item: item[0])
