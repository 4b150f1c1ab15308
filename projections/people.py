"""Find a person by id, name or email: a directory of every registered person's name and email.

Kept in memory and brought up to date from the fact index on each search (only the
registrations, profile updates and voids recorded since, through a small partial index);
a void of such a fact rebuilds it, so a voided name or email is never found.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from ledger import events as ev
from ledger.rules.accounts import NameAndEmail, name_and_email_a_person_goes_by
from projections.source import FactRecord, FactSource

PersonEntry = NameAndEmail  # a directory entry is the name and email the person goes by


def matches(entry: PersonEntry, query: str) -> bool:
    """Case-insensitive prefix of the id, the email, the whole name or any word of the name."""
    q = query.casefold()
    name = (entry.name or "").casefold()
    return (
        entry.person_id.casefold().startswith(q)
        or (entry.email or "").casefold().startswith(q)
        or name.startswith(q)
        or any(word.startswith(q) for word in name.split())
    )


class PeopleDirectory:
    """Every person known at the source's position, with the name and email they go by."""

    def __init__(self, source: FactSource) -> None:
        self.source = source
        self._position = 0
        self._records: dict[str, list[FactRecord]] = {}
        self._lock = threading.Lock()

    def entries(self, upto: int) -> list[PersonEntry]:
        """The directory at `upto` (the position the caller reads at), sorted by id."""
        with self._lock:
            if upto < self._position:  # an earlier position than held (a rebuilt index): start over
                self._position, self._records = 0, {}
            if upto > self._position:
                fresh = self.source.directory_records(self._position, upto)
                if any(isinstance(r.event, ev.EventVoided) for r in fresh):
                    fresh = self.source.directory_records(0, upto)  # a void retracts an earlier fact
                    self._records = {}
                for r in fresh:
                    if not isinstance(r.event, ev.EventVoided):
                        self._records.setdefault(r.event.originator_id, []).append(r)
                self._position = upto
            found = (_entry(records, upto) for records in self._records.values())
            return sorted((e for e in found if e is not None), key=lambda e: e.person_id)


def _entry(records: list[FactRecord], upto: int) -> PersonEntry | None:
    """The person's name and email at `upto`; None while no registration of theirs is known."""
    return person_entry(r.event for r in records if r.known_at(upto))


def person_entry(events: Iterable[ev.LedgerEvent]) -> PersonEntry | None:
    """The name and email a person's known events give; None without a known registration."""
    return name_and_email_a_person_goes_by(events)


def search(entries: list[PersonEntry], query: str, limit: int) -> list[PersonEntry]:
    """The first `limit` entries (by id) that match `query`; exact id matches first."""
    q = query.strip()
    if not q:
        return []
    found = [e for e in entries if matches(e, q)]
    found.sort(key=lambda e: (e.person_id.casefold() != q.casefold(), e.person_id))
    return found[:limit]
