"""Who acts for an organization: its principal or superintendent at an instant (latest designation wins)."""

from __future__ import annotations

from datetime import datetime

from ledger import events as ev
from ledger.rules.enders import latest_effective
from ledger.streams import DistrictView, SchoolView


def principal_of(school: SchoolView, t: datetime) -> ev.PrincipalDesignated | None:
    """Who acts: the designation for the school with the latest effective time at or before t."""
    return latest_effective(school.principals, t)


def principal_designated_for_year(school: SchoolView, exam_year: int, t: datetime) -> ev.PrincipalDesignated | None:
    """Who acts: the latest designation for this exam year effective at or before t (codes are issued to them)."""
    return latest_effective((d for d in school.principals if d.exam_year == exam_year), t)


def superintendent_of(district: DistrictView, t: datetime) -> ev.SuperintendentDesignated | None:
    """Who acts: the district's latest superintendent designation effective at or before t."""
    return latest_effective(district.superintendents, t)


def person_is_principal_of(school: SchoolView, person_id: str, t: datetime) -> bool:
    """Whether `person_id` is the school's principal at t."""
    d = principal_of(school, t)
    return d is not None and d.person_id == person_id


def person_is_superintendent_of(district: DistrictView, person_id: str, t: datetime) -> bool:
    """Whether `person_id` is the district's superintendent at t."""
    d = superintendent_of(district, t)
    return d is not None and d.person_id == person_id
