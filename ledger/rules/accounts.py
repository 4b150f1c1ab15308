"""R1 accounts, R2 terms of use, and affiliations (R10, R13): facts about the person."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ledger import events as ev
from ledger.rules.enders import latest_effective
from ledger.streams import PersonView, by_effective


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


@dataclass(frozen=True)
class NameAndEmail:
    person_id: str
    name: str | None  # None: never named
    email: str | None


def name_and_email_a_person_goes_by(known: Iterable[ev.LedgerEvent]) -> NameAndEmail | None:
    """The name and email of the latest registration or profile update in valid time that gives them (of two
    effective at the same instant, the one recorded last), among the person's facts still known; None while no
    registration of theirs is known (R1), so a voided registration names no one (R15).

    Read in valid time like every fact (order independence): a registration voided and recorded again with
    its original effective time leaves a later profile update's name in place. An update that gives no name
    or email leaves the earlier one."""
    facts = by_effective(e for e in known if isinstance(e, ev.PersonRegistered | ev.ProfileUpdated))
    if not any(isinstance(e, ev.PersonRegistered) for e in facts):
        return None
    name: str | None = None
    email: str | None = None
    for e in facts:
        name = e.name or name
        email = e.email or email
    return NameAndEmail(facts[-1].person_id, name, email)
