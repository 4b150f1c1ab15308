"""What a page shows beside an id: an event's type and position, a person's or organization's name.

Time-ordered event ids all begin alike, so an event is shown as `AccessCodeRedeemed #143`
(its full id in the link's title). One `PageRefs` per request remembers what it looked up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ledger import events as ev
from ledger.rules.designations import person_is_principal_of, person_is_superintendent_of
from ledger.streams import DistrictView, SchoolView
from projections.queries import Queries

PERSON_FIELDS = frozenset({"person_id", "removed_by", "requested_by", "principal_id", "teacher_id"})
ORG_FIELDS = frozenset({"org_id", "school_id", "district_id"})


@dataclass(frozen=True)
class EventRef:
    type: str
    position: int

    @property
    def label(self) -> str:
        return f"{self.type} #{self.position}"


class PageRefs:
    """Lookups for one page, each made once."""

    def __init__(self, queries: Queries) -> None:
        self.queries = queries
        self._events: dict[str, EventRef | None] = {}
        self._people: dict[str, str | None] | None = None
        self._orgs: dict[str, SchoolView | DistrictView | None] = {}

    def event(self, event_id: str) -> EventRef | None:
        if event_id not in self._events:
            record = self.queries.record(event_id)
            self._events[event_id] = None if record is None else EventRef(record.event.type, record.position)
        return self._events[event_id]

    def person_name(self, person_id: str) -> str | None:
        if self._people is None:
            k = self.queries.position(None)
            self._people = {e.person_id: e.name for e in self.queries.people.entries(k)}
        return self._people.get(person_id)

    def _org(self, org_id: str) -> SchoolView | DistrictView | None:
        if org_id not in self._orgs:
            world = self.queries.world(self.queries.org_streams(org_id), self.queries.position(None))
            self._orgs[org_id] = world.org(org_id)
        return self._orgs[org_id]

    def org_name(self, org_id: str) -> str | None:
        org = self._org(org_id)
        registration = org.registration if org is not None else None
        return registration.name if registration is not None else None

    def name_of(self, some_id: str) -> str | None:
        """The name of a person, else of an organization, with this id."""
        return self.person_name(some_id) or self.org_name(some_id)

    def acting_as(self, person_id: str, org_id: str | None, t: datetime) -> str | None:
        """`principal of S-110` or `superintendent of D-1` when the person held that office at t."""
        org = self._org(org_id) if org_id else None
        if isinstance(org, SchoolView) and person_is_principal_of(org, person_id, t):
            return f"principal of {org_id}"
        if isinstance(org, SchoolView) and org.district_id:
            district = self._org(org.district_id)
            if isinstance(district, DistrictView) and person_is_superintendent_of(district, person_id, t):
                return f"superintendent of {org.district_id}"
        if isinstance(org, DistrictView) and person_is_superintendent_of(org, person_id, t):
            return f"superintendent of {org_id}"
        return None

    def who(self, person_id: str, event: ev.LedgerEvent | None = None) -> str:
        """`P-2001 (Dana Ortiz, principal of S-110)`: the id, the name, and the office held when the event took effect."""
        details = [d for d in (self.person_name(person_id),) if d]
        if event is not None:
            office = self.acting_as(person_id, event.about_org(), event.effective_at)
            if office:
                details.append(office)
        return f"{person_id} ({', '.join(details)})" if details else person_id

    def field_text(self, name: str, value: str, event: ev.LedgerEvent | None = None) -> str:
        """A field's value with the name behind it: `removed_by P-2001 (Dana Ortiz, principal of S-110)`."""
        if name in PERSON_FIELDS:
            acting = event if name in ("removed_by", "requested_by", "principal_id") else None
            return self.who(value, acting)
        if name.endswith("event_id"):
            ref = self.event(value)
            return ref.label if ref is not None else value
        if name in ORG_FIELDS:
            org_name = self.org_name(value)
            return f"{value} ({org_name})" if org_name else value
        return value
