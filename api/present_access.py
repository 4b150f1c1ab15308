"""Who-had-access for people: the API's JSON, the CSV (console download, `ledger replay --csv`) and the
command line's text, times in the ledger's zone with their offset.

CSV and text list the intervals by person, then start; each names the person and the organization
acted for, and each grant by its event type and log position beside its event id.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from api import models
from projections.answers import AccessAnswer, AccessEntry

ACCESS_CSV_HEADER = [
    "person_id",
    "person_name",
    "role",
    "valid_from",
    "valid_to",
    "via_org",
    "via_org_name",
    "school_id",
    "grants",
    "sources",
]


def local(t: datetime, zone: tzinfo) -> str:
    """An instant in the ledger's zone, with its offset: 2025-07-02T09:30:00-04:00."""
    return t.astimezone(zone).isoformat()


def local_or_none(t: datetime | None, zone: tzinfo) -> str | None:
    return None if t is None else local(t, zone)


def _utc(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def access_result(answer: AccessAnswer, zone: tzinfo) -> models.AccessResult:
    """The API's answer: UTC instants as before, the same instants in the ledger's zone beside them."""
    return models.AccessResult(
        org_id=answer.org_id,
        org_name=answer.org_name,
        from_=answer.start.isoformat(),
        to=answer.end.isoformat(),
        from_local=local(answer.start, zone),
        to_local=local(answer.end, zone),
        zone=str(zone),
        clipped=answer.clipped,
        level=answer.level.value,
        position=answer.position,
        entries=[
            models.AccessEntryOut(
                person_id=e.person_id,
                person_name=e.person_name,
                role=e.role.value,
                valid_from=e.valid_from.isoformat(),
                valid_to=_utc(e.valid_to),
                valid_from_local=local(e.valid_from, zone),
                valid_to_local=local_or_none(e.valid_to, zone),
                sources=list(e.sources),
                grants=[models.GrantOut(event_id=g.event_id, type=g.type, position=g.position) for g in e.grants],
                school_id=e.school_id,
                via_org=e.via_org,
                via_org_name=e.via_org_name,
            )
            for e in answer.entries
        ],
    )


def grants_text(e: AccessEntry) -> str:
    """`AccessCodeRedeemed #143; PrincipalDesignated #12`: each grant by type and log position."""
    return "; ".join(str(g) for g in e.grants)


def access_csv_rows(answer: AccessAnswer, zone: tzinfo) -> list[list[str]]:
    """Who-had-access as CSV rows under ACCESS_CSV_HEADER, by person then start; an open interval's end is empty."""
    return [
        [
            e.person_id,
            e.person_name or "",
            e.role.value,
            local(e.valid_from, zone),
            local_or_none(e.valid_to, zone) or "",
            e.via_org,
            e.via_org_name or "",
            e.school_id or "",
            grants_text(e),
            " ".join(e.sources),
        ]
        for e in answer.by_person()
    ]


def _named(identifier: str, name: str | None) -> str:
    return f"{identifier} {name}" if name else identifier


def access_text(answer: AccessAnswer, zone: tzinfo) -> list[str]:
    """Who-had-access as lines of text, by person then start: who, as what, for whom, when, through which grant."""
    count = len(answer.entries)
    shown = f"cut to [{local(answer.start, zone)}, {local(answer.end, zone)})" if answer.clipped else "shown whole"
    lines = [f"{count} interval{'' if count == 1 else 's'}, times in {zone}, intervals {shown}."]
    for e in answer.by_person():
        school = f" (school {e.school_id})" if e.school_id and e.school_id != e.via_org else ""
        lines.append("")
        lines.append(
            f"{_named(e.person_id, e.person_name)}: {e.role.value} for {_named(e.via_org, e.via_org_name)}{school}"
        )
        lines.append(f"  from  {local(e.valid_from, zone)}")
        lines.append(f"  until {local_or_none(e.valid_to, zone) or '(open)'}")
        for g in e.grants:
            lines.append(f"  grant {g} (event {g.event_id})")
    return lines
