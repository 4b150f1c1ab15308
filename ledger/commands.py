"""Every command (docs/rules.md#commands-and-events) as a validated pydantic model (a discriminated union on `type`).

Validation here is about shape (malformed ids, dates, years → HTTP 422 naming the
field); everything that depends on what the ledger already knows is judged in
`ledger.decide`.
"""

from __future__ import annotations

import functools
import re
import typing
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)

from ledger.calendar import MAX_YEAR, MIN_YEAR
from ledger.errors import FieldError

# Characters a screen does not show as themselves: C0/C1 controls (NUL, escape, newline…),
# line and paragraph separators, lone surrogates, and the bidirectional marks, embeddings,
# overrides and isolates that can make a name display reversed or as another name.
_UNSHOWN = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def refuse_unshown_characters(value: str) -> str:
    """Names, ids and free text hold no control or bidirectional-formatting character (shown raw, they mislead)."""
    found = _UNSHOWN.search(value)
    if found is not None:
        raise ValueError(f"holds the control or bidirectional-formatting character U+{ord(found.group()):04X}")
    return value


Shown = AfterValidator(refuse_unshown_characters)
Id = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500), Shown]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), Shown
]
Year = Annotated[int, Field(ge=MIN_YEAR, le=MAX_YEAR, description="a four-digit year")]
System = Literal["registration_ordering", "course_audit"]


_STREAM_FIELDS = (
    ("person_id", ("person",)),
    ("teacher_id", ("person",)),
    ("requested_by", ("person",)),
    ("removed_by", ("person",)),
    ("school_id", ("school",)),
    ("district_id", ("district",)),
    ("org_id", ("school", "district")),
)


@functools.cache
def _stream_fields(command_type: type[BaseModel]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The fields of a command type that name streams, with their stream id prefixes (once per type)."""
    return tuple(
        (name, tuple(f"{kind}:" for kind in kinds))
        for name, kinds in _STREAM_FIELDS
        if name in command_type.model_fields
    )


def parse_iso_instant(value: str) -> datetime:
    """Check that `value` is an ISO-8601 instant or date (its zone is applied later)."""
    text = value.strip()
    if len(text) == 10:
        date.fromisoformat(text)
        return datetime.fromisoformat(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Command(BaseModel):
    """Fields every command may carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    effective_at: str | None = Field(
        default=None,
        description=(
            "Valid time: when the fact holds. ISO-8601 instant (with offset) or date; a date or a "
            "time without offset is read in the ledger's zone. Defaults to recorded_at."
        ),
        examples=["2025-07-01T09:00:00-04:00"],
    )
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=200), Shown] | None = Field(
        default=None,
        description="A repeated command with the same key returns the first result and appends nothing.",
    )

    @field_validator("effective_at")
    @classmethod
    def _effective_at_is_iso(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parse_iso_instant(value)
        except ValueError as e:
            raise ValueError(f"not an ISO-8601 instant or date: {e}") from None
        return value.strip()

    # Fields holding secrets: never echoed, logged or hashed into idempotency records.
    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset()

    def streams(self) -> list[str]:
        """The aggregate streams this command names (read together before deciding a batch)."""
        fields = self.__dict__  # (not getattr: a missing field costs pydantic an exception)
        return [
            prefix + value
            for name, prefixes in _stream_fields(type(self))
            if isinstance(value := fields.get(name), str)
            for prefix in prefixes
        ]

    def body_for_idempotency(self) -> dict[str, Any]:
        """The command as compared for idempotency: without the key and without secrets."""
        return self.model_dump(mode="json", exclude={"idempotency_key", *self.SECRET_FIELDS})


def _example(**fields: Any) -> ConfigDict:
    return ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [fields]})


class RegisterDistrict(Command):
    model_config = _example(type="register_district", district_id="D-100", name="Lakeside Unified")
    type: Literal["register_district"]
    district_id: Id
    name: Text


class RegisterSchool(Command):
    model_config = _example(type="register_school", school_id="S-110", name="Lakeside High", district_id="D-100")
    type: Literal["register_school"]
    school_id: Id
    name: Text
    district_id: Id | None = None
    homeschool: bool = False


class RegisterPerson(Command):
    model_config = _example(type="register_person", person_id="P-1001", name="Ada Byron", email="ada@example.org")
    type: Literal["register_person"]
    person_id: Id
    name: Text
    email: Email


class UpdateProfile(Command):
    model_config = _example(type="update_profile", person_id="P-1001", title="AP Coordinator")
    type: Literal["update_profile"]
    person_id: Id
    name: Text | None = None
    email: Email | None = None
    title: Text | None = None

    @model_validator(mode="after")
    def _something_changes(self) -> UpdateProfile:
        if self.name is None and self.email is None and self.title is None:
            raise FieldError("name", "give at least one of name, email, title")
        return self


class AddAffiliation(Command):
    model_config = _example(type="add_affiliation", person_id="P-1001", org_id="S-110")
    type: Literal["add_affiliation"]
    person_id: Id
    org_id: Id


class EndAffiliation(Command):
    model_config = _example(type="end_affiliation", person_id="P-1001", org_id="S-110")
    type: Literal["end_affiliation"]
    person_id: Id
    org_id: Id


class AcceptTerms(Command):
    model_config = _example(type="accept_terms", person_id="P-1001", terms_version="2025-01")
    type: Literal["accept_terms"]
    person_id: Id
    terms_version: Annotated[str, StringConstraints(min_length=1, max_length=32), Shown]


class DesignatePrincipal(Command):
    model_config = _example(type="designate_principal", school_id="S-110", person_id="P-2001", exam_year=2025)
    type: Literal["designate_principal"]
    school_id: Id
    person_id: Id
    exam_year: Year


class DesignateSuperintendent(Command):
    model_config = _example(type="designate_superintendent", district_id="D-100", person_id="P-3001")
    type: Literal["designate_superintendent"]
    district_id: Id
    person_id: Id


class ReleaseScores(Command):
    model_config = _example(type="release_scores", exam_year=2025, released_on="2025-07-07")
    type: Literal["release_scores"]
    exam_year: Year
    released_on: date

    @model_validator(mode="after")
    def _released_in_exam_year(self) -> ReleaseScores:
        if self.released_on.year != self.exam_year:
            raise FieldError("released_on", "must fall in the exam year (scores for Y are released in Y)")
        return self


class AuthorizeCourse(Command):
    model_config = _example(
        type="authorize_course", person_id="P-1001", school_id="S-110", subject="AP-BIO", school_year=2025
    )
    type: Literal["authorize_course"]
    person_id: Id
    school_id: Id
    subject: Id
    school_year: Year


class WithdrawCourseAuthorization(Command):
    model_config = _example(
        type="withdraw_course_authorization", person_id="P-1001", school_id="S-110", subject="AP-BIO", school_year=2025
    )
    type: Literal["withdraw_course_authorization"]
    person_id: Id
    school_id: Id
    subject: Id
    school_year: Year


class AssignSection(Command):
    model_config = _example(
        type="assign_section",
        person_id="P-1001",
        school_id="S-110",
        subject="AP-BIO",
        section_id="BIO-1",
        school_year=2025,
    )
    type: Literal["assign_section"]
    person_id: Id
    school_id: Id
    subject: Id
    section_id: Id
    school_year: Year


class GrantSystemAccess(Command):
    model_config = _example(type="grant_system_access", person_id="P-2002", org_id="S-110", system="course_audit")
    type: Literal["grant_system_access"]
    person_id: Id
    org_id: Id
    system: System


class RemoveSystemAccess(Command):
    model_config = _example(type="remove_system_access", person_id="P-2002", org_id="S-110", system="course_audit")
    type: Literal["remove_system_access"]
    person_id: Id
    org_id: Id
    system: System


class IssueAccessCode(Command):
    model_config = _example(type="issue_access_code", school_id="S-110", exam_year=2025)
    type: Literal["issue_access_code"]
    school_id: Id
    exam_year: Year


class RevokeAccessCode(Command):
    model_config = _example(type="revoke_access_code", school_id="S-110", exam_year=2025, reason="leaked")
    type: Literal["revoke_access_code"]
    school_id: Id
    exam_year: Year
    reason: Text


class RedeemAccessCode(Command):
    model_config = _example(
        type="redeem_access_code", school_id="S-110", exam_year=2025, person_id="P-1002", code="ABCD-EFGH-JKLM"
    )
    type: Literal["redeem_access_code"]
    school_id: Id
    exam_year: Year
    person_id: Id
    code: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The access code as emailed to the principal; never stored or logged."
    )
    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset({"code"})

    def __repr__(self) -> str:  # keep the code out of tracebacks and logs
        return (
            f"RedeemAccessCode(school_id={self.school_id!r}, exam_year={self.exam_year}, person_id={self.person_id!r})"
        )

    __str__ = __repr__


class AddDistrictUser(Command):
    model_config = _example(
        type="add_district_user", person_id="P-3002", district_id="D-100", access_year=2025, requested_by="P-3001"
    )
    type: Literal["add_district_user"]
    person_id: Id
    district_id: Id
    access_year: Year
    requested_by: Id


class RemoveDistrictUser(Command):
    model_config = _example(type="remove_district_user", person_id="P-3002", district_id="D-100", requested_by="P-3001")
    type: Literal["remove_district_user"]
    person_id: Id
    district_id: Id
    requested_by: Id


class RestrictStudentData(Command):
    model_config = _example(type="restrict_student_data", school_id="S-110", requested_by="P-2001")
    type: Literal["restrict_student_data"]
    school_id: Id
    teacher_id: Id | None = Field(default=None, description="omit to restrict every teacher of the school")
    requested_by: Id


class LiftStudentDataRestriction(Command):
    model_config = _example(type="lift_student_data_restriction", school_id="S-110", requested_by="P-2001")
    type: Literal["lift_student_data_restriction"]
    school_id: Id
    teacher_id: Id | None = None
    requested_by: Id


class RemoveAccess(Command):
    model_config = _example(type="remove_access", person_id="P-1002", org_id="S-110", removed_by="P-2001")
    type: Literal["remove_access"]
    person_id: Id
    org_id: Id
    removed_by: Id


class VoidEvent(Command):
    model_config = _example(type="void_event", event_id="0f8c7c1e-5a55-4c2e-9a4e-1b2c3d4e5f60", reason="entered twice")
    type: Literal["void_event"]
    event_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Shown]
    reason: Text


AnyCommand = Annotated[
    RegisterDistrict
    | RegisterSchool
    | RegisterPerson
    | UpdateProfile
    | AddAffiliation
    | EndAffiliation
    | AcceptTerms
    | DesignatePrincipal
    | DesignateSuperintendent
    | ReleaseScores
    | AuthorizeCourse
    | WithdrawCourseAuthorization
    | AssignSection
    | GrantSystemAccess
    | RemoveSystemAccess
    | IssueAccessCode
    | RevokeAccessCode
    | RedeemAccessCode
    | AddDistrictUser
    | RemoveDistrictUser
    | RestrictStudentData
    | LiftStudentDataRestriction
    | RemoveAccess
    | VoidEvent,
    Field(discriminator="type"),
]

COMMAND_ADAPTER: TypeAdapter[AnyCommand] = TypeAdapter(AnyCommand)


def parse_command(data: Any) -> Command:
    """Validate one command from JSON-like data (raises pydantic.ValidationError)."""
    return COMMAND_ADAPTER.validate_python(data)


COMMAND_TYPES: frozenset[str] = frozenset(
    typing.get_args(m.model_fields["type"].annotation)[0] for m in typing.get_args(typing.get_args(AnyCommand)[0])
)
