"""What the queries answer: the answers of check, rights, who had access, timeline, windows and find people."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.access.check import Decision
from ledger.access.rights import Rights
from ledger.access.vocabulary import Level, Role
from projections.people import PersonEntry
from projections.source import FactRecord

AsOf = int | datetime | None


@dataclass(frozen=True)
class CheckAnswer:
    decision: Decision
    position: int
    unknown_orgs: frozenset[str] = frozenset()  # the organization or school named, not registered at `position`


@dataclass(frozen=True)
class RightsAnswer:
    rights: Rights
    at: datetime
    position: int


@dataclass(frozen=True)
class Grant:
    """An event an access interval rests on, as the log holds it: `AccessCodeRedeemed #143`."""

    event_id: str
    type: str
    position: int

    def __str__(self) -> str:
        return f"{self.type} #{self.position}"


@dataclass(frozen=True)
class AccessEntry:
    """One person's access interval through one organization; names as known at the answer's position."""

    person_id: str
    role: Role
    valid_from: datetime
    valid_to: datetime | None
    sources: tuple[str, ...]
    school_id: str | None
    via_org: str
    person_name: str | None = None  # None: never named, or the registration is no longer known
    via_org_name: str | None = None
    grants: tuple[Grant, ...] = ()  # the sources with their type and position, in the sources' order


@dataclass(frozen=True)
class AccessAnswer:
    org_id: str
    start: datetime
    end: datetime
    level: Level
    position: int
    entries: tuple[AccessEntry, ...]  # by start, then person
    org_name: str | None = None
    clipped: bool = False  # intervals cut to [start, end); otherwise whole

    def by_person(self) -> list[AccessEntry]:
        """The entries by person, then start, then the organization acted for (what an auditor reads down)."""
        return sorted(self.entries, key=lambda e: (e.person_id, e.valid_from, e.via_org))


@dataclass(frozen=True)
class KnownInterval:
    """A derived access interval with the transaction-time span during which the ledger held it."""

    org_id: str
    role: Role
    valid_from: datetime
    valid_to: datetime | None
    known_from: datetime
    known_to: datetime | None
    known_from_position: int
    known_to_position: int | None
    sources: tuple[str, ...]


@dataclass(frozen=True)
class TimelineAnswer:
    person_id: str
    position: int
    records: tuple[FactRecord, ...]
    recorded_at: dict[int, datetime]
    intervals: tuple[KnownInterval, ...]


@dataclass(frozen=True)
class WindowsAnswer:
    org_id: str
    at: datetime
    position: int
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PeopleAnswer:
    query: str
    position: int
    people: tuple[PersonEntry, ...]


class UnknownOrganization(LookupError):
    """The organization is not known to the ledger."""
