"""What the person page says about one person, in words: terms accepted when, why no access, which report settles it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from api.console.display import Formatter
from api.console.refs import PageRefs
from ledger import events as ev
from ledger.access.check import Decision
from ledger.access.vocabulary import Report, Role
from projections.queries import KnownInterval
from projections.source import FactRecord


@dataclass(frozen=True)
class Acceptance:
    effective_at: datetime
    recorded_at: datetime
    terms_version: str
    event_id: str


def terms_acceptance(records: Iterable[FactRecord], t: datetime, position: int) -> Acceptance | None:
    """The acceptance of the terms in force at valid time t, as known at `position` (R2): the latest effective by t."""
    accepted = [
        r.event
        for r in records
        if isinstance(r.event, ev.TermsAccepted) and r.known_at(position) and r.event.effective_at <= t
    ]
    if not accepted:
        return None
    e = max(accepted, key=lambda e: e.effective_at)
    assert isinstance(e, ev.TermsAccepted)
    return Acceptance(e.effective_at, e.recorded_at, e.terms_version, e.event_id)


def no_access_text(why: Decision, records: dict[str, ev.LedgerEvent], refs: PageRefs, fmt: Formatter) -> str:
    """Why no role is held, in words: a removal says when it took effect, who removed, and when it was recorded."""
    last = records.get(why.evidence[-1]) if why.evidence else None
    if isinstance(last, ev.AccessRemoved):
        return (
            f"removed effective {fmt.text(last.effective_at)} by {refs.who(last.removed_by, last)}, "
            f"recorded {fmt.text(last.recorded_at)}"
        )
    if isinstance(last, ev.DistrictAccessRemoved):
        return (
            f"district access removed effective {fmt.text(last.effective_at)} by "
            f"{refs.who(last.requested_by, last)}, recorded {fmt.text(last.recorded_at)}"
        )
    return why.reason


def settling_report(org_is_school: bool, roles: Iterable[Role]) -> Report:
    """The report whose answer settles "could they see it": student-level data for anyone who was an
    administrator there, the district summary for a district, the planning report for a teacher."""
    if not org_is_school:
        return Report.DISTRICT_SCORE_SUMMARY
    if any(role is not Role.TEACHER for role in roles):
        return Report.STUDENT_SCORE_REPORT
    return Report.INSTRUCTIONAL_PLANNING


def roles_ever(intervals: Iterable[KnownInterval], org_id: str) -> list[Role]:
    """Every role the ledger has ever derived for the person at the organization."""
    return [i.role for i in intervals if i.org_id == org_id]


def teacher_subject(records: Iterable[FactRecord], school_id: str) -> str | None:
    """The subject of the person's latest course authorization at the school (what a teacher's check names)."""
    found = [r.event for r in records if isinstance(r.event, ev.CourseAuthorized) and r.event.school_id == school_id]
    return max(found, key=lambda e: e.effective_at).subject if found else None
