"""Every fact the ledger records, one frozen dataclass per event (docs/rules.md#commands-and-events).

Events are stored through the eventsourcing library: `originator_id` is the
stream (aggregate) the event belongs to, `originator_version` its place in that
stream, `timestamp` the ledger's `recorded_at` (stamped under the append lock, so
it never decreases along the position). The ledger position is the library's
notification id and is not part of the stored state.

Module path and class names are the library's topics: renaming them breaks the
decoding of stored events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, ClassVar

# The person a restriction is about is its teacher (None: every teacher of the school).
_PERSON_FIELD = {"StudentDataRestricted": "teacher_id", "StudentDataRestrictionLifted": "teacher_id"}


def subject_of(event_type: str, field: Callable[[str], Any]) -> tuple[str | None, str | None]:
    """(person, organization) an event is about, from its type and its fields by name (None when it has
    no such field): a decoded event's attributes or the raw JSON's keys.

    The organization is the first of `org_id`, `school_id`, `district_id` the event has
    (a school's registration is about the school, not its district). A void is about
    whatever its target is about: the fact index fills that in.
    """
    person = field(_PERSON_FIELD.get(event_type, "person_id"))
    org = field("org_id") or field("school_id") or field("district_id")
    return person, org


# Stream (aggregate) ids are readable text: auditors read them in the database.
CALENDAR_STREAM = "calendar"


def person_stream(person_id: str) -> str:
    """Stream id of a person's aggregate."""
    return f"person:{person_id}"


def school_stream(school_id: str) -> str:
    """Stream id of a school's aggregate."""
    return f"school:{school_id}"


def district_stream(district_id: str) -> str:
    """Stream id of a district's aggregate."""
    return f"district:{district_id}"


def parse_stream_id(stream_id: str) -> tuple[str, str]:
    """The aggregate kind and id a stream id names: ("school", "S-1") for "school:S-1", ("calendar", "") for the calendar."""
    kind, _, aggregate_id = stream_id.partition(":")
    return kind, aggregate_id


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerEvent:
    """Fields every event carries; `timestamp` is `recorded_at`."""

    originator_id: str
    originator_version: int
    timestamp: datetime
    event_id: str
    effective_at: datetime
    actor: str
    idempotency_key: str | None = None

    # Names of the metadata fields, excluded from `data()`.
    META: ClassVar[frozenset[str]] = frozenset(
        {
            "originator_id",
            "originator_version",
            "timestamp",
            "event_id",
            "effective_at",
            "actor",
            "idempotency_key",
        }
    )

    @property
    def type(self) -> str:
        """The event's name (`AccessCodeRedeemed`), as answers and the feed show it."""
        return type(self).__name__

    @property
    def recorded_at(self) -> datetime:
        """Transaction time: when the ledger appended this event."""
        return self.timestamp

    def data(self) -> dict[str, Any]:
        """The event's own fields as answers and the feed name them, JSON-ready."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in self.META:
                continue
            value = getattr(self, f.name)
            if isinstance(value, datetime | date):
                value = value.isoformat()
            out[f.name] = value
        return out

    def about_person(self) -> str | None:
        """The person this event is about, if any (used to index facts by person)."""
        return subject_of(self.type, self._field)[0]

    def about_org(self) -> str | None:
        """The organization this event is about, if any (used to index facts by organization)."""
        return subject_of(self.type, self._field)[1]

    def _field(self, name: str) -> Any:
        return getattr(self, name, None)


# --- organizations and people -------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class DistrictRegistered(LedgerEvent):
    district_id: str
    name: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SchoolRegistered(LedgerEvent):
    school_id: str
    name: str
    district_id: str | None = None
    homeschool: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class PersonRegistered(LedgerEvent):
    person_id: str
    name: str
    email: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ProfileUpdated(LedgerEvent):
    person_id: str
    name: str | None = None
    email: str | None = None
    title: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AffiliationAdded(LedgerEvent):
    person_id: str
    org_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AffiliationEnded(LedgerEvent):
    person_id: str
    org_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TermsAccepted(LedgerEvent):
    person_id: str
    terms_version: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PrincipalDesignated(LedgerEvent):
    school_id: str
    person_id: str
    exam_year: int


@dataclass(frozen=True, kw_only=True, slots=True)
class SuperintendentDesignated(LedgerEvent):
    district_id: str
    person_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ScoresReleased(LedgerEvent):
    exam_year: int
    released_on: date


# --- teaching -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class CourseAuthorized(LedgerEvent):
    person_id: str
    school_id: str
    subject: str
    school_year: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CourseAuthorizationWithdrawn(LedgerEvent):
    person_id: str
    school_id: str
    subject: str
    school_year: int


@dataclass(frozen=True, kw_only=True, slots=True)
class SectionAssigned(LedgerEvent):
    person_id: str
    school_id: str
    subject: str
    section_id: str
    school_year: int


# --- administrators -----------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class SystemAccessGranted(LedgerEvent):
    person_id: str
    org_id: str
    system: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SystemAccessRemoved(LedgerEvent):
    person_id: str
    org_id: str
    system: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AccessCodeIssued(LedgerEvent):
    """The code itself is never stored: only its salted, slow digest."""

    school_id: str
    exam_year: int
    principal_id: str
    code_digest: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AccessCodeRevoked(LedgerEvent):
    """`code_event_id` names the code in force when the revocation was recorded, for auditors; in valid time a
    revocation ends whichever code of its school and exam year is in force at its effective time (R8)."""

    school_id: str
    exam_year: int
    reason: str
    code_event_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AccessCodeRedeemed(LedgerEvent):
    """`code_event_id` names the issuance whose code was redeemed."""

    school_id: str
    exam_year: int
    person_id: str
    staff: bool
    code_event_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AccessCodeRedemptionFailed(LedgerEvent):
    """A wrong code was presented (R10): recorded for auditors and for the lockout, never the code."""

    school_id: str
    exam_year: int
    person_id: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DistrictAccessAdded(LedgerEvent):
    person_id: str
    district_id: str
    access_year: int
    requested_by: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DistrictAccessRemoved(LedgerEvent):
    person_id: str
    district_id: str
    requested_by: str


@dataclass(frozen=True, kw_only=True, slots=True)
class StudentDataRestricted(LedgerEvent):
    """`teacher_id` None restricts every teacher of the school."""

    school_id: str
    teacher_id: str | None = None
    requested_by: str


@dataclass(frozen=True, kw_only=True, slots=True)
class StudentDataRestrictionLifted(LedgerEvent):
    school_id: str
    teacher_id: str | None = None
    requested_by: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AccessRemoved(LedgerEvent):
    person_id: str
    org_id: str
    removed_by: str


@dataclass(frozen=True, kw_only=True, slots=True)
class EventVoided(LedgerEvent):
    """Voids `voided_event_id` (named `event_id` in commands and the feed); stored in the voided event's stream."""

    voided_event_id: str
    reason: str

    def data(self) -> dict[str, Any]:
        return {"event_id": self.voided_event_id, "reason": self.reason}


EVENT_TYPES: dict[str, type[LedgerEvent]] = {
    cls.__name__: cls
    for cls in (
        DistrictRegistered,
        SchoolRegistered,
        PersonRegistered,
        ProfileUpdated,
        AffiliationAdded,
        AffiliationEnded,
        TermsAccepted,
        PrincipalDesignated,
        SuperintendentDesignated,
        ScoresReleased,
        CourseAuthorized,
        CourseAuthorizationWithdrawn,
        SectionAssigned,
        SystemAccessGranted,
        SystemAccessRemoved,
        AccessCodeIssued,
        AccessCodeRevoked,
        AccessCodeRedeemed,
        AccessCodeRedemptionFailed,
        DistrictAccessAdded,
        DistrictAccessRemoved,
        StudentDataRestricted,
        StudentDataRestrictionLifted,
        AccessRemoved,
        EventVoided,
    )
}


@dataclass(frozen=True, slots=True)
class Recorded:
    """An event with its ledger position (the library's notification id)."""

    event: LedgerEvent
    position: int
