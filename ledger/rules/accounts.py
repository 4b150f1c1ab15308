"""R1 accounts, R2 terms of use, and affiliations (R10, R13): facts about the person."""

from __future__ import annotations

from datetime import datetime

from ledger import events as ev
from ledger.rules.enders import latest_effective
from ledger.streams import PersonView


def person_is_registered(person: PersonView, t: datetime) -> ev.PersonRegistered | None:
    """R1: only a registered person can hold access; registration holds from its effective time."""
    for reg in person.registrations:
        if reg.effective_at <= t:
            return reg
    return None


def person_has_accepted_terms(person: PersonView, t: datetime) -> ev.TermsAccepted | None:
    """R2: the latest acceptance of the terms of use effective at or before t."""
    return latest_effective(person.terms, t)


def person_is_affiliated_with(person: PersonView, org_id: str, t: datetime) -> ev.AffiliationAdded | None:
    """R10/R13: the affiliation with `org_id` in force at t, if any."""
    current: ev.AffiliationAdded | None = None
    for e in person.affiliation_events:
        if e.org_id != org_id or e.effective_at > t:
            continue
        current = e if isinstance(e, ev.AffiliationAdded) else None
    return current
