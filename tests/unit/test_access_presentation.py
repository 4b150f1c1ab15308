"""Who-had-access as CSV and text: a header, rows by person then start, instants in the ledger's zone with the
offset of their day (EDT in July, EST in January), grants by type and position, an open end left empty."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from api.present_access import ACCESS_CSV_HEADER, access_csv_rows, access_result, access_text
from ledger.access.vocabulary import Level, Role
from ledger.calendar import LedgerCalendar
from projections.answers import AccessAnswer, AccessEntry, Grant

ZONE = LedgerCalendar().zone
JULY = datetime(2025, 7, 2, 13, 30, tzinfo=UTC)  # 09:30 EDT
JANUARY = datetime(2026, 1, 15, 14, 0, tzinfo=UTC)  # 09:00 EST
REDEEMED = Grant("e-143", "AccessCodeRedeemed", 143)


def entry(person: str, name: str | None, start: datetime, end: datetime | None, *grants: Grant) -> AccessEntry:
    return AccessEntry(
        person,
        Role.SCHOOL_ADMIN,
        start,
        end,
        tuple(g.event_id for g in grants),
        "S-110",
        "S-110",
        name,
        "Lakeside High",
        grants,
    )


ANSWER = AccessAnswer(
    "S-110",
    datetime(2025, 7, 1, 4, tzinfo=UTC),
    datetime(2026, 8, 1, 4, tzinfo=UTC),
    Level.STUDENT,
    200,
    (  # as the query lists them: by start
        entry("P-2", "Bo Chen", JULY, JANUARY, REDEEMED),
        entry("P-1", None, JULY, None, Grant("e-12", "PrincipalDesignated", 12)),
        entry("P-2", "Bo Chen", JANUARY, None, Grant("e-150", "AccessCodeIssued", 150), REDEEMED),
    ),
    "Lakeside High",
)


def parsed(rows: list[list[str]]) -> list[dict[str, str]]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ACCESS_CSV_HEADER)
    writer.writerows(rows)
    return list(csv.DictReader(io.StringIO(buffer.getvalue())))


def test_csv_rows_go_by_person_then_start_with_names_grants_and_local_times_with_their_offsets() -> None:
    rows = parsed(access_csv_rows(ANSWER, ZONE))
    assert [(r["person_id"], r["valid_from"]) for r in rows] == [
        ("P-1", "2025-07-02T09:30:00-04:00"),
        ("P-2", "2025-07-02T09:30:00-04:00"),
        ("P-2", "2026-01-15T09:00:00-05:00"),
    ]
    assert [r["valid_to"] for r in rows] == ["", "2026-01-15T09:00:00-05:00", ""]
    assert datetime.fromisoformat(rows[1]["valid_to"]) == JANUARY  # the same instant, shown in the zone
    assert [r["person_name"] for r in rows] == ["", "Bo Chen", "Bo Chen"]  # unnamed: the id alone
    assert rows[2]["grants"] == "AccessCodeIssued #150; AccessCodeRedeemed #143"
    assert rows[2]["sources"] == "e-150 e-143"
    assert {(r["via_org"], r["via_org_name"]) for r in rows} == {("S-110", "Lakeside High")}


def test_the_text_says_who_for_whom_when_and_through_which_grant_in_the_same_order() -> None:
    lines = access_text(ANSWER, ZONE)
    assert lines[0] == "3 intervals, times in America/New_York, intervals shown whole."
    people = [line for line in lines if line and not line.startswith(" ")][1:]
    assert people == [
        "P-1: school_admin for S-110 Lakeside High",
        "P-2 Bo Chen: school_admin for S-110 Lakeside High",
        "P-2 Bo Chen: school_admin for S-110 Lakeside High",
    ]
    text = "\n".join(lines)
    assert text.index("until (open)") < text.index("P-2 Bo Chen")  # P-1's open interval comes first
    assert "  from  2026-01-15T09:00:00-05:00" in lines
    assert "  grant AccessCodeRedeemed #143 (event e-143)" in lines


def test_the_json_keeps_utc_fields_and_adds_the_zone_local_ones() -> None:
    body = access_result(ANSWER, ZONE).model_dump(by_alias=True)
    first = body["entries"][0]
    assert (first["valid_from"], first["valid_from_local"]) == (JULY.isoformat(), "2025-07-02T09:30:00-04:00")
    assert (first["valid_to"], first["valid_to_local"]) == (JANUARY.isoformat(), "2026-01-15T09:00:00-05:00")
    assert first["grants"] == [{"event_id": "e-143", "type": "AccessCodeRedeemed", "position": 143}]
    assert body["entries"][1]["valid_to_local"] is None
    assert (body["zone"], body["clipped"], body["from_local"]) == (
        "America/New_York",
        False,
        "2025-07-01T00:00:00-04:00",
    )
