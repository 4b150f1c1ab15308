"""Request and response models of the HTTP API, named by role."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ledger.commands import AnyCommand


class ErrorDetail(BaseModel):
    code: str = Field(examples=["five_staff_limit"])
    message: str
    rule: str | None = Field(default=None, examples=["R9"])
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class EventReceiptOut(BaseModel):
    event_id: str
    type: str
    position: int
    recorded_at: str
    effective_at: str


HEX = "^[0-9a-f]{64}$"


class SignedHead(BaseModel):
    """A signed tree head: Ed25519 over the sorted, spaceless JSON of log_id, root_hash, timestamp, tree_size."""

    log_id: str = Field(pattern=HEX, description="hex SHA-256 of the raw public key")
    tree_size: int
    root_hash: str = Field(pattern=HEX)
    timestamp: int = Field(description="milliseconds since the Unix epoch, when it was signed")
    signature: str = Field(description="Ed25519 signature, base64")


class ReceiptLeaf(BaseModel):
    position: int
    leaf_hash: str = Field(pattern=HEX)


class Receipt(BaseModel):
    """Keep it: `head` lets you check later that the log still holds these leaves (see SECURITY.md)."""

    head: SignedHead
    leaves: list[ReceiptLeaf]


class PublicKey(BaseModel):
    algorithm: str = Field(examples=["ed25519"])
    public_key: str = Field(description="the raw 32-byte public key, base64")
    log_id: str = Field(pattern=HEX, description="the SHA-256 of the raw public key: the log_id of the heads it signs")


class LogKey(PublicKey):
    """The key new heads are signed with; after a rotation, the earlier keys whose heads still verify."""

    previous_keys: list[PublicKey] = Field(
        default_factory=list,
        description="earlier keys (rotated out): check an older head with the one its log_id names",
    )


class InclusionProof(BaseModel):
    event_id: str
    position: int
    leaf_index: int
    tree_size: int
    entry: str = Field(description="the entry bytes the leaf hashes, base64")
    leaf_hash: str = Field(pattern=HEX)
    audit_path: list[str]
    head: SignedHead


class ConsistencyProof(BaseModel):
    first: int
    second: int
    proof: list[str]
    first_head: SignedHead
    second_head: SignedHead


class CommandAccepted(BaseModel):
    position: int
    recorded_at: str
    events: list[EventReceiptOut]
    result: dict[str, Any]
    receipt: Receipt


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    commands: list[AnyCommand] = Field(min_length=1)


class BatchAccepted(BaseModel):
    position: int
    recorded_at: str
    results: list[CommandAccepted]
    receipt: Receipt


class CheckResult(BaseModel):
    allowed: bool
    role: str | None
    rules: list[str]
    reason: str
    evidence: list[str]
    position: int
    code: str = Field(description="machine-readable reason, e.g. allowed, terms_not_accepted")


class OrganizationRights(BaseModel):
    org_id: str
    role: str | None
    roles: list[str]
    valid_from: str | None
    valid_to: str | None
    scopes: list[dict[str, Any]]
    sources: list[str]
    code: str | None = Field(
        default=None, description="where no role is held: why, as a check would say (e.g. access_removed)"
    )
    reason: str | None = Field(default=None, description="where no role is held: why, in words")
    rules: list[str] = Field(default_factory=list, description="where no role is held: the rules that decide it")
    evidence: list[str] = Field(default_factory=list, description="where no role is held: the events it rests on")


class RightsResult(BaseModel):
    person_id: str
    at: str
    position: int
    registered: bool
    terms_accepted: bool
    organizations: list[OrganizationRights]


class LedgerEventOut(BaseModel):
    event_id: str
    type: str
    position: int
    recorded_at: str
    effective_at: str
    actor: str
    idempotency_key: str | None = None
    data: dict[str, Any]


class TimelineEvent(LedgerEventOut):
    voided_at_position: int | None = None


class TimelineInterval(BaseModel):
    org_id: str
    role: str
    valid_from: str
    valid_to: str | None
    known_from: str
    known_to: str | None
    known_from_position: int
    known_to_position: int | None
    sources: list[str]


class TimelineResult(BaseModel):
    person_id: str
    position: int
    events: list[TimelineEvent]
    intervals: list[TimelineInterval]


class GrantOut(BaseModel):
    event_id: str
    type: str = Field(description="the event's type, e.g. AccessCodeRedeemed")
    position: int = Field(description="the event's position in the log")


class AccessEntryOut(BaseModel):
    person_id: str
    person_name: str | None = Field(default=None, description="as known at `position`; null if never named")
    role: str
    valid_from: str = Field(description="UTC")
    valid_to: str | None = Field(description="UTC; null while open")
    valid_from_local: str = Field(description="valid_from in the ledger's zone, with its offset")
    valid_to_local: str | None = Field(description="valid_to in the ledger's zone, with its offset; null while open")
    sources: list[str] = Field(description="the grant's event ids")
    grants: list[GrantOut] = Field(description="the sources with their type and log position, in the same order")
    school_id: str | None = None
    via_org: str = Field(description="the organization acted for")
    via_org_name: str | None = None


class AccessResult(BaseModel):
    org_id: str
    org_name: str | None = None
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    from_local: str = Field(description="from in the ledger's zone, with its offset")
    to_local: str = Field(description="to in the ledger's zone, with its offset")
    zone: str = Field(description="the ledger's zone (IANA name)")
    clipped: bool = Field(description="true: intervals cut to [from, to); false: shown whole")
    level: str
    position: int
    entries: list[AccessEntryOut]

    model_config = ConfigDict(populate_by_name=True)


class WindowsResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    org_id: str
    at: str
    position: int
    current_released_year: int | None


class EventsPage(BaseModel):
    events: list[LedgerEventOut]
    next_after: int


class CheckpointOut(BaseModel):
    """An integrity checkpoint: the chain value at a position, and when it was verified. Keep it outside
    the database and pass it back to verify (`checkpoint_position`, `checkpoint_chain`)."""

    position: int
    chain: str = Field(description="SHA-256 chain value at `position`, 64 hex digits", pattern="^[0-9a-f]{64}$")
    created_at: str


class CheckpointsPage(BaseModel):
    checkpoints: list[CheckpointOut]
    next_after: int


class VerifyResult(BaseModel):
    ok: bool
    checked: int
    position: int
    first_bad_position: int | None
    full: bool = True
    from_position: int = 0
    problem: str | None = None
    checkpoints_compared: int = 0
    checkpoint: CheckpointOut | None = Field(
        default=None, description="after a success: the checkpoint at the verified end, to keep outside the database"
    )
    tree_size: int = Field(0, description="the size of the Merkle tree verified")
    root_hash: str = Field("", description="its root, recomputed from the stored events")
    head: SignedHead | None = Field(default=None, description="POST /v1/checkpoints: the signed head recorded")


class HealthResult(BaseModel):
    ok: bool
    position: int
    projected_position: int | None = None
    process: int | None = Field(None, description="id of the answering process (several workers answer one port)")


class ReplicaOut(BaseModel):
    url: str = Field(description="the read replica's URL, without a password")
    position: int | None = Field(description="the projections' position replayed on it; null when unreachable")
    lag: int | None = Field(description="positions the primary's projections are ahead of it")


class WarmingOut(BaseModel):
    done: bool = Field(description="warming has finished (or stopped at the cache's limit)")
    loaded: int = Field(description="streams held in memory so far, of those warming set out to load")
    of: int | None = Field(description="streams in the fact index; null until they are listed")
    full: bool = Field(description="warming stopped at the cache's size limit: the rest load on first use")
    error: str | None = Field(None, description="why warming stopped early, if it did")


class ReadyResult(BaseModel):
    ready: bool
    position: int = Field(description="the position reads answer at")
    log_position: int | None = Field(description="the log's last position; null when the store did not answer")
    lag: int | None = Field(description="positions between the two")
    max_lag: int
    problems: list[str]
    replica: ReplicaOut | None = None
    warming: WarmingOut | None = Field(
        None, description="the query cache's warming after start (reported; it does not make the process unready)"
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses, all with the API's error shape."""
    return {status: {"model": ErrorResponse} for status in statuses}


class IntervalOut(BaseModel):
    valid_from: str
    valid_to: str | None
    sources: list[str]


class AccessChange(BaseModel):
    person_id: str
    org_id: str
    role: str
    change: str = Field(
        description="starts, ends, starts earlier, starts later, ends earlier, ends later or moves",
        examples=["ends earlier"],
    )
    before: IntervalOut | None
    after: IntervalOut | None


class CommandPreview(BaseModel):
    """What a command would record and change; nothing is appended and no idempotency key is used."""

    dry_run: bool = True
    position: int = Field(description="the log's last position the command was decided against")
    recorded_at: str
    events: list[LedgerEventOut] = Field(description="the events it would record, at the positions they would take")
    result: dict[str, Any]
    replayed: bool = Field(description="its idempotency key was answered before: the first result stands")
    access_changes: list[AccessChange]
    persons_compared: list[str]
    every_teacher_affected: bool = Field(description="a score release: teacher access changes everywhere")


class BatchPreview(BaseModel):
    """What a batch would record and change, decided as the batch would be; nothing is appended and no
    idempotency key is used."""

    dry_run: bool = True
    position: int = Field(description="the log's last position the batch was decided against")
    recorded_at: str
    events: list[LedgerEventOut] = Field(
        description="every event the batch would record, in order, at the positions they would take"
    )
    results: list[dict[str, Any]] = Field(description="each command's result, in the batch's order")
    replayed: list[bool] = Field(description="per command: its idempotency key was answered before")
    access_changes: list[AccessChange] = Field(description="the access changes of the whole batch")
    persons_compared: list[str]
    every_teacher_affected: bool = Field(description="a score release: teacher access changes everywhere")


class PersonFound(BaseModel):
    person_id: str
    name: str | None
    email: str | None


class PeopleResult(BaseModel):
    query: str
    position: int
    people: list[PersonFound]
