"""The answers of the API as typed models (unknown fields are kept: the server may add some)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class EventReceipt(Answer):
    event_id: str
    type: str
    position: int
    recorded_at: str
    effective_at: str


class CommandResult(Answer):
    """A recorded command: its events, the position reached, and what the command returns (`result`)."""

    position: int
    recorded_at: str
    events: list[EventReceipt]
    result: dict[str, Any] = Field(default_factory=dict)
    replayed: bool = False  # the idempotency key had been used: this is the first result, nothing new was recorded


class BatchResult(Answer):
    position: int
    recorded_at: str
    results: list[CommandResult]


class CheckAnswer(Answer):
    allowed: bool
    role: str | None
    rules: list[str]
    reason: str
    evidence: list[str]
    position: int
    code: str | None = None


class OrganizationRights(Answer):
    org_id: str
    role: str | None
    roles: list[str]
    valid_from: str | None
    valid_to: str | None
    scopes: list[dict[str, Any]]
    sources: list[str]
    code: str | None = None
    reason: str | None = None
    rules: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)


class RightsAnswer(Answer):
    person_id: str
    at: str
    position: int
    terms_accepted: bool
    organizations: list[OrganizationRights]


class Grant(Answer):
    event_id: str
    type: str
    position: int


class AccessEntry(Answer):
    """Times in UTC (`valid_from`) and in the ledger's zone with offset (`valid_from_local`); grants by type and
    position; names as known at the answer's position (None if never named). Newer fields default for older servers."""

    person_id: str
    role: str
    valid_from: str
    valid_to: str | None
    sources: list[str]
    person_name: str | None = None
    via_org: str | None = None
    via_org_name: str | None = None
    valid_from_local: str | None = None
    valid_to_local: str | None = None
    grants: list[Grant] = Field(default_factory=list)


class AccessAnswer(Answer):
    org_id: str
    from_: str = Field(alias="from")
    to: str
    position: int
    entries: list[AccessEntry]
    clipped: bool = False


class TimelineAnswer(Answer):
    person_id: str
    position: int
    events: list[dict[str, Any]]
    intervals: list[dict[str, Any]]


class WindowsAnswer(Answer):
    org_id: str
    at: str
    position: int
    current_released_year: int | None
