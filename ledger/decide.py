"""Write-time rules: decide(command, facts) → events, or a typed refusal that records nothing.

Rules are judged at the command's `effective_at` against everything recorded so
far (SPEC §3). Where a command could break a rule at a later valid time already
recorded (a backdated redemption making six staff on a later day, a void that
resurrects a removed staff member), the check covers every valid time.

The clock, the id source and the slow code hashing are passed in: this module
does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ledger import access, rules
from ledger import commands as cmd
from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.errors import InvalidInput, LockedOut, NotFound, RuleViolation, StalePreparation, WrongCode
from ledger.streams import DistrictView, PersonView, SchoolView, Stream, World, evolve


@dataclass(frozen=True)
class LockoutPolicy:
    """R10: this many wrong codes within `window` lock the person out of redemption for `window`."""

    failures: int = 5
    window: timedelta = timedelta(minutes=15)


@dataclass
class Prepared:
    """Work done before the append lock is taken (slow hashing must not hold it)."""

    code: str | None = None  # issue_access_code: the new code, returned once
    code_digest: str | None = None
    # redeem_access_code: the issuance whose digest matched the code presented (None = no match),
    # and every issuance the code was compared with
    matched_code_event_id: str | None = None
    checked_code_event_ids: frozenset[str] = frozenset()


@dataclass
class Context:
    """What a decision may read: the clock, ids, the calendar and the streams known so far."""

    calendar: LedgerCalendar
    now: datetime  # the recorded_at of this append; effective_at defaults to it
    actor: str
    new_id: Callable[[], str]
    streams: dict[str, Stream]
    load: Callable[[str], Stream]
    locate: Callable[[str], str | None]  # event id → stream id, for voids
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)

    def stream(self, stream_id: str) -> Stream:
        found = self.streams.get(stream_id)
        if found is None:
            found = self.load(stream_id)
            self.streams[stream_id] = found
        return found

    def world(self, *stream_ids: str) -> World:
        for sid in stream_ids:
            self.stream(sid)
        return World(_LazyStreams(self))


class _LazyStreams(dict[str, Stream]):
    """A mapping that loads streams on first use, so rule functions can reach any aggregate."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self._ctx = ctx

    def get(self, key: str, default: Any = None) -> Any:
        return self._ctx.stream(key)

    def __getitem__(self, key: str) -> Stream:
        return self._ctx.stream(key)

    def items(self) -> Any:
        return self._ctx.streams.items()

    def __iter__(self) -> Iterator[str]:
        return iter(self._ctx.streams)


@dataclass
class Decided:
    """The events a command appends and what it returns to its caller."""

    events: list[ev.LedgerEvent]
    result: dict[str, Any] = field(default_factory=dict)


class _Builder:
    """Stamps the metadata every event carries and numbers events within their stream."""

    def __init__(self, ctx: Context, command: cmd.Command, effective_at: datetime) -> None:
        self.ctx = ctx
        self.command = command
        self.effective_at = effective_at
        self.events: list[ev.LedgerEvent] = []

    def add(self, cls: type[ev.LedgerEvent], stream_id: str, **fields: Any) -> ev.LedgerEvent:
        stream = self.ctx.stream(stream_id)
        pending = sum(1 for e in self.events if e.originator_id == stream_id)
        event = cls(
            originator_id=stream_id,
            originator_version=stream.version + 1 + pending,
            timestamp=self.ctx.now,
            event_id=self.ctx.new_id(),
            effective_at=self.effective_at,
            actor=self.ctx.actor,
            idempotency_key=self.command.idempotency_key,
            **fields,
        )
        self.events.append(event)
        return event


def effective_time(command: cmd.Command, calendar: LedgerCalendar, now: datetime) -> datetime:
    """The command's valid time: its `effective_at` in the ledger's zone, or now."""
    if command.effective_at is None:
        return now
    try:
        return calendar.parse_instant(command.effective_at)
    except ValueError as e:
        raise InvalidInput(f"effective_at is not an ISO-8601 instant or date: {e}", field="effective_at") from None


# --- shared checks ---------------------------------------------------------------------


def _iso(t: datetime) -> str:
    return t.isoformat()


def registered_person(world: World, person_id: str, t: datetime, field_name: str = "person_id") -> PersonView:
    """R1: the person must be registered, and registered at the command's valid time."""
    person = world.person(person_id)
    if not person.registrations:
        raise NotFound(f"unknown person {person_id} ({field_name})", code="unknown_person", rule="R1")
    if rules.person_is_registered(person, t) is None:
        first = person.registrations[0].effective_at
        raise RuleViolation(
            f"person {person_id} ({field_name}) is registered only from {_iso(first)}, after {_iso(t)}",
            code="not_registered_yet",
            rule="R1",
        )
    return person


def registered_school(world: World, school_id: str, t: datetime, field_name: str = "school_id") -> SchoolView:
    """The school must be registered at the command's valid time."""
    school = world.school(school_id)
    if school.registration is None:
        raise NotFound(f"unknown school {school_id} ({field_name})", code="unknown_school")
    if school.registration.effective_at > t:
        raise RuleViolation(
            f"school {school_id} is registered only from {_iso(school.registration.effective_at)}",
            code="not_registered_yet",
        )
    return school


def registered_district(world: World, district_id: str, t: datetime, field_name: str = "district_id") -> DistrictView:
    """The district must be registered at the command's valid time."""
    district = world.district(district_id)
    if district.registration is None:
        raise NotFound(f"unknown district {district_id} ({field_name})", code="unknown_district")
    if district.registration.effective_at > t:
        raise RuleViolation(
            f"district {district_id} is registered only from {_iso(district.registration.effective_at)}",
            code="not_registered_yet",
        )
    return district


def registered_org(world: World, org_id: str, t: datetime, field_name: str = "org_id") -> SchoolView | DistrictView:
    """A school or a district registered at the command's valid time."""
    org = world.org(org_id)
    if org is None:
        raise NotFound(f"unknown organization {org_id} ({field_name})", code="unknown_organization")
    if isinstance(org, SchoolView):
        return registered_school(world, org_id, t, field_name)
    return registered_district(world, org_id, t, field_name)


def org_id_is_free(world: World, org_id: str) -> None:
    """Schools and districts share one id space (affiliations and removals name either)."""
    if world.org(org_id) is not None:
        raise RuleViolation(f"organization {org_id} is already registered", code="already_registered")


def must_be_principal(school: SchoolView, person_id: str, t: datetime, rule: str, what: str) -> None:
    """Only the school's designated principal at t may do `what`."""
    if not rules.person_is_principal_of(school, person_id, t):
        current = rules.principal_of(school, t)
        who = current.person_id if current else "nobody"
        raise RuleViolation(
            f"only the principal of {school.school_id} may {what}; at {_iso(t)} that is {who}, not {person_id}",
            code="not_principal",
            rule=rule,
        )


def must_be_superintendent(district: DistrictView, person_id: str, t: datetime, rule: str, what: str) -> None:
    """Only the district's designated superintendent at t may do `what`."""
    if not rules.person_is_superintendent_of(district, person_id, t):
        current = rules.superintendent_of(district, t)
        who = current.person_id if current else "nobody"
        raise RuleViolation(
            f"only the superintendent of {district.district_id} may {what}; at {_iso(t)} that is {who}, not {person_id}",
            code="not_superintendent",
            rule=rule,
        )


# --- decisions ---------------------------------------------------------------------------


def decide(command: cmd.Command, ctx: Context, prepared: Prepared | None = None) -> Decided:
    """Decide one command against the streams in `ctx`: the events to append, or a refusal."""
    t = effective_time(command, ctx.calendar, ctx.now)
    b = _Builder(ctx, command, t)
    handler = _HANDLERS.get(type(command))
    if handler is None:  # pragma: no cover - every command model has a handler
        raise InvalidInput(f"unknown command {type(command).__name__}", field="type")
    result = handler(command, ctx, b, t, prepared or Prepared())
    return Decided(b.events, result or {})


Handler = Callable[[Any, Context, _Builder, datetime, Prepared], dict[str, Any] | None]
_HANDLERS: dict[type[cmd.Command], Handler] = {}


def _handles(command_type: type[cmd.Command]) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[command_type] = fn
        return fn

    return register


@_handles(cmd.RegisterDistrict)
def _register_district(c: cmd.RegisterDistrict, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world(ev.district_stream(c.district_id), ev.school_stream(c.district_id))
    org_id_is_free(world, c.district_id)
    b.add(ev.DistrictRegistered, ev.district_stream(c.district_id), district_id=c.district_id, name=c.name)


@_handles(cmd.RegisterSchool)
def _register_school(c: cmd.RegisterSchool, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world(ev.school_stream(c.school_id), ev.district_stream(c.school_id))
    org_id_is_free(world, c.school_id)
    if c.district_id is not None:
        registered_district(world, c.district_id, t)
    b.add(
        ev.SchoolRegistered,
        ev.school_stream(c.school_id),
        school_id=c.school_id,
        name=c.name,
        district_id=c.district_id,
        homeschool=c.homeschool,
    )


@_handles(cmd.RegisterPerson)
def _register_person(c: cmd.RegisterPerson, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world(ev.person_stream(c.person_id))
    if world.person(c.person_id).registrations:
        raise RuleViolation(f"person {c.person_id} is already registered", code="already_registered", rule="R1")
    b.add(ev.PersonRegistered, ev.person_stream(c.person_id), person_id=c.person_id, name=c.name, email=c.email)


@_handles(cmd.UpdateProfile)
def _update_profile(c: cmd.UpdateProfile, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    registered_person(ctx.world(), c.person_id, t)
    b.add(
        ev.ProfileUpdated,
        ev.person_stream(c.person_id),
        person_id=c.person_id,
        name=c.name,
        email=c.email,
        title=c.title,
    )


@_handles(cmd.AddAffiliation)
def _add_affiliation(c: cmd.AddAffiliation, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    registered_org(world, c.org_id, t)
    if rules.person_is_affiliated_with(person, c.org_id, t) is not None:
        raise RuleViolation(f"{c.person_id} is already affiliated with {c.org_id}", code="already_affiliated")
    b.add(ev.AffiliationAdded, ev.person_stream(c.person_id), person_id=c.person_id, org_id=c.org_id)


@_handles(cmd.EndAffiliation)
def _end_affiliation(c: cmd.EndAffiliation, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    if rules.person_is_affiliated_with(person, c.org_id, t) is None:
        raise RuleViolation(f"{c.person_id} is not affiliated with {c.org_id} at {_iso(t)}", code="not_affiliated")
    b.add(ev.AffiliationEnded, ev.person_stream(c.person_id), person_id=c.person_id, org_id=c.org_id)


@_handles(cmd.AcceptTerms)
def _accept_terms(c: cmd.AcceptTerms, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    registered_person(ctx.world(), c.person_id, t)
    b.add(ev.TermsAccepted, ev.person_stream(c.person_id), person_id=c.person_id, terms_version=c.terms_version)


@_handles(cmd.DesignatePrincipal)
def _designate_principal(c: cmd.DesignatePrincipal, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    registered_school(world, c.school_id, t)
    registered_person(world, c.person_id, t)
    b.add(
        ev.PrincipalDesignated,
        ev.school_stream(c.school_id),
        school_id=c.school_id,
        person_id=c.person_id,
        exam_year=c.exam_year,
    )


@_handles(cmd.DesignateSuperintendent)
def _designate_superintendent(
    c: cmd.DesignateSuperintendent, ctx: Context, b: _Builder, t: datetime, p: Prepared
) -> None:
    world = ctx.world()
    registered_district(world, c.district_id, t)
    registered_person(world, c.person_id, t)
    b.add(
        ev.SuperintendentDesignated, ev.district_stream(c.district_id), district_id=c.district_id, person_id=c.person_id
    )


@_handles(cmd.ReleaseScores)
def _release_scores(c: cmd.ReleaseScores, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world(ev.CALENDAR_STREAM)
    existing = rules.release_of_year(world.calendar(), c.exam_year)
    if existing is not None:
        raise RuleViolation(
            f"scores of {c.exam_year} were already released on {existing.released_on} (void that event to correct it)",
            code="already_released",
            rule="R3",
        )
    b.add(ev.ScoresReleased, ev.CALENDAR_STREAM, exam_year=c.exam_year, released_on=c.released_on)


@_handles(cmd.AuthorizeCourse)
def _authorize_course(c: cmd.AuthorizeCourse, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    school = registered_school(world, c.school_id, t)
    if rules.held_authorizations(person, school, c.school_year, t, c.subject):
        raise RuleViolation(
            f"{c.person_id} already holds {c.subject} at {c.school_id} for school year {c.school_year}",
            code="already_authorized",
            rule="R3",
        )
    b.add(
        ev.CourseAuthorized,
        ev.person_stream(c.person_id),
        person_id=c.person_id,
        school_id=c.school_id,
        subject=c.subject,
        school_year=c.school_year,
    )


@_handles(cmd.WithdrawCourseAuthorization)
def _withdraw_course(c: cmd.WithdrawCourseAuthorization, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    school = registered_school(world, c.school_id, t)
    if not rules.held_authorizations(person, school, c.school_year, t, c.subject):
        raise RuleViolation(
            f"{c.person_id} holds no {c.subject} authorization at {c.school_id} for school year {c.school_year} at {_iso(t)}",
            code="authorization_not_found",
            rule="R3",
        )
    b.add(
        ev.CourseAuthorizationWithdrawn,
        ev.person_stream(c.person_id),
        person_id=c.person_id,
        school_id=c.school_id,
        subject=c.subject,
        school_year=c.school_year,
    )


@_handles(cmd.AssignSection)
def _assign_section(c: cmd.AssignSection, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    school = registered_school(world, c.school_id, t)
    assigned = rules.sections_assigned(person, school, c.school_year, c.subject, t)
    if any(s.section_id == c.section_id for s in assigned):
        raise RuleViolation(
            f"section {c.section_id} ({c.subject}, {c.school_year}) is already assigned to {c.person_id}",
            code="already_assigned",
            rule="R4",
        )
    b.add(
        ev.SectionAssigned,
        ev.person_stream(c.person_id),
        person_id=c.person_id,
        school_id=c.school_id,
        subject=c.subject,
        section_id=c.section_id,
        school_year=c.school_year,
    )


def _org_removals(org: SchoolView | DistrictView, person_id: str) -> list[ev.AccessRemoved]:
    return org.removals_of(person_id)


@_handles(cmd.GrantSystemAccess)
def _grant_system_access(c: cmd.GrantSystemAccess, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    org = registered_org(world, c.org_id, t)
    if rules.held_system_grants(person, c.org_id, _org_removals(org, c.person_id), t, c.system):
        raise RuleViolation(
            f"{c.person_id} already has {c.system} access at {c.org_id}", code="already_granted", rule="R7"
        )
    b.add(
        ev.SystemAccessGranted, ev.person_stream(c.person_id), person_id=c.person_id, org_id=c.org_id, system=c.system
    )


@_handles(cmd.RemoveSystemAccess)
def _remove_system_access(c: cmd.RemoveSystemAccess, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    org = registered_org(world, c.org_id, t)
    if not rules.held_system_grants(person, c.org_id, _org_removals(org, c.person_id), t, c.system):
        raise RuleViolation(
            f"{c.person_id} has no {c.system} access at {c.org_id} at {_iso(t)}",
            code="system_access_not_found",
            rule="R7",
        )
    b.add(
        ev.SystemAccessRemoved, ev.person_stream(c.person_id), person_id=c.person_id, org_id=c.org_id, system=c.system
    )


@_handles(cmd.IssueAccessCode)
def _issue_access_code(c: cmd.IssueAccessCode, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> dict[str, Any]:
    world = ctx.world()
    school = registered_school(world, c.school_id, t)
    principal = rules.principal_designated_for_year(school, c.exam_year, t)
    if principal is None:
        raise RuleViolation(
            f"no principal is designated for {c.school_id} and exam year {c.exam_year}: the code is issued to them",
            code="no_principal_designated",
            rule="R8",
        )
    if p.code is None or p.code_digest is None:  # pragma: no cover - the service always prepares it
        raise InvalidInput("the code must be prepared before the append", field="code")
    stream = ev.school_stream(c.school_id)
    for life in rules.codes_valid_at(school, c.exam_year, ctx.calendar, t):
        b.add(
            ev.AccessCodeRevoked,
            stream,
            school_id=c.school_id,
            exam_year=c.exam_year,
            reason="reissued",
            code_event_id=life.issued.event_id,
        )
    issued = b.add(
        ev.AccessCodeIssued,
        stream,
        school_id=c.school_id,
        exam_year=c.exam_year,
        principal_id=principal.person_id,
        code_digest=p.code_digest,
    )
    return {
        "code": p.code,
        "school_id": c.school_id,
        "exam_year": c.exam_year,
        "principal_id": principal.person_id,
        "code_event_id": issued.event_id,
        "valid_from": _iso(t),
        "valid_to": _iso(ctx.calendar.code_expiry(c.exam_year)),
    }


@_handles(cmd.RevokeAccessCode)
def _revoke_access_code(c: cmd.RevokeAccessCode, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    school = registered_school(world, c.school_id, t)
    valid = rules.codes_valid_at(school, c.exam_year, ctx.calendar, t)
    if not valid:
        raise RuleViolation(
            f"{c.school_id} has no valid code for exam year {c.exam_year} at {_iso(t)}",
            code="code_not_found",
            rule="R8",
        )
    for life in valid:
        b.add(
            ev.AccessCodeRevoked,
            ev.school_stream(c.school_id),
            school_id=c.school_id,
            exam_year=c.exam_year,
            reason=c.reason,
            code_event_id=life.issued.event_id,
        )


def lockout_until(person: PersonView, policy: LockoutPolicy) -> datetime | None:
    """R10: when the person's redemption lockout ends, if `policy.failures` wrong codes fell within one window."""
    failures = sorted(f.recorded_at for f in person.failed_redemptions)
    if len(failures) < policy.failures:
        return None
    last = failures[-policy.failures :]
    if last[-1] - last[0] >= policy.window:
        return None
    return last[-1] + policy.window


def redemption_refusal(school: SchoolView, exam_year: int, cal: LedgerCalendar, t: datetime) -> RuleViolation | None:
    """R10: why no code of this school and exam year can be redeemed at t, if none is valid."""
    if rules.codes_valid_at(school, exam_year, cal, t):
        return None
    latest = rules.latest_code(school, exam_year)
    if latest is None or latest.effective_at > t:
        return RuleViolation(
            f"no access code was issued for {school.school_id} and exam year {exam_year}",
            code="code_not_found",
            rule="R10",
        )
    life = rules.code_life(school, latest, cal)
    if life.revoked_by is not None and life.revoked_by.effective_at <= t:
        return RuleViolation(
            f"the access code of {school.school_id} for {exam_year} was revoked ({life.revoked_by.reason})",
            code="code_revoked",
            rule="R10",
        )
    return RuleViolation(
        f"the access code of {school.school_id} for {exam_year} expired at {_iso(life.end)} (end of Jul 31, {exam_year + 1})",
        code="code_expired",
        rule="R10",
    )


@_handles(cmd.RedeemAccessCode)
def _redeem_access_code(c: cmd.RedeemAccessCode, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> dict[str, Any]:
    world = ctx.world()
    person = registered_person(world, c.person_id, t)
    school = registered_school(world, c.school_id, t)
    until = lockout_until(person, ctx.lockout)
    if until is not None and ctx.now < until:
        raise LockedOut(
            f"too many wrong access codes: {c.person_id} may try again at {_iso(until)}",
            retry_after_seconds=max(1, int((until - ctx.now).total_seconds()) + 1),
        )
    if rules.person_is_affiliated_with(person, c.school_id, t) is None:
        raise RuleViolation(
            f"{c.person_id} is not affiliated with {c.school_id} at {_iso(t)}", code="not_affiliated", rule="R10"
        )
    refusal = redemption_refusal(school, c.exam_year, ctx.calendar, t)
    if refusal is not None:
        raise refusal
    valid = {life.issued.event_id: life for life in rules.codes_valid_at(school, c.exam_year, ctx.calendar, t)}
    if p.matched_code_event_id is None:
        if not set(valid) <= p.checked_code_event_ids:
            raise StalePreparation("a code was issued while the one presented was being checked")
        raise WrongCode(f"wrong access code for {c.school_id} and exam year {c.exam_year}", rule="R10")
    life = valid.get(p.matched_code_event_id)
    if life is None:  # matched a code that was revoked or reissued meanwhile
        raise RuleViolation(
            f"the access code presented for {c.school_id} was revoked or reissued", code="code_revoked", rule="R10"
        )
    code = life.issued
    if any(
        r.person_id == c.person_id
        and r.code_event_id == code.event_id
        and rules.redemption_is_held(r, school, ctx.calendar, t)
        for r in school.redemptions
    ):
        raise RuleViolation(f"{c.person_id} already holds access through this code", code="already_redeemed", rule="R8")
    principal = rules.principal_of(school, t)
    staff = c.person_id != code.principal_id and (principal is None or principal.person_id != c.person_id)
    redeemed = b.add(
        ev.AccessCodeRedeemed,
        ev.school_stream(c.school_id),
        school_id=c.school_id,
        exam_year=c.exam_year,
        person_id=c.person_id,
        staff=staff,
        code_event_id=code.event_id,
    )
    if staff:
        after = SchoolView(evolve(school.stream, redeemed), school.school_id)
        ok, when = rules.code_has_a_free_staff_place(after, code.event_id, ctx.calendar)
        if not ok:
            moment = f" at {_iso(when)}" if when else ""
            raise RuleViolation(
                f"five staff already hold access through the code of {c.school_id} for {c.exam_year}{moment}; "
                "a principal's removal frees a place",
                code="five_staff_limit",
                rule="R9",
            )
    return {"staff": staff, "code_event_id": code.event_id, "valid_to": _iso(life.end)}


def failed_redemption(c: cmd.RedeemAccessCode, ctx: Context, reason: str) -> ev.AccessCodeRedemptionFailed:
    """R10: the audit record of a wrong code (never the code), appended to the person's stream."""
    b = _Builder(ctx, c, ctx.now)
    event = b.add(
        ev.AccessCodeRedemptionFailed,
        ev.person_stream(c.person_id),
        school_id=c.school_id,
        exam_year=c.exam_year,
        person_id=c.person_id,
        reason=reason,
    )
    assert isinstance(event, ev.AccessCodeRedemptionFailed)
    return event


@_handles(cmd.AddDistrictUser)
def _add_district_user(c: cmd.AddDistrictUser, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    district = registered_district(world, c.district_id, t)
    registered_person(world, c.requested_by, t, "requested_by")
    must_be_superintendent(district, c.requested_by, t, "R11", "add district users")
    registered_person(world, c.person_id, t)
    for a in rules.pending_district_additions(district, c.person_id, ctx.calendar, t):
        if a.access_year == c.access_year:
            raise RuleViolation(
                f"{c.person_id} is already a district user of {c.district_id} for access year {c.access_year}",
                code="already_added",
                rule="R11",
            )
    b.add(
        ev.DistrictAccessAdded,
        ev.district_stream(c.district_id),
        person_id=c.person_id,
        district_id=c.district_id,
        access_year=c.access_year,
        requested_by=c.requested_by,
    )


@_handles(cmd.RemoveDistrictUser)
def _remove_district_user(c: cmd.RemoveDistrictUser, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    district = registered_district(world, c.district_id, t)
    registered_person(world, c.requested_by, t, "requested_by")
    must_be_superintendent(district, c.requested_by, t, "R11", "remove district users")
    registered_person(world, c.person_id, t)
    if not rules.pending_district_additions(district, c.person_id, ctx.calendar, t):
        raise RuleViolation(
            f"{c.person_id} has no district access at {c.district_id} at {_iso(t)}",
            code="district_access_not_found",
            rule="R11",
        )
    b.add(
        ev.DistrictAccessRemoved,
        ev.district_stream(c.district_id),
        person_id=c.person_id,
        district_id=c.district_id,
        requested_by=c.requested_by,
    )


@_handles(cmd.RestrictStudentData)
def _restrict(c: cmd.RestrictStudentData, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    school = registered_school(world, c.school_id, t)
    registered_person(world, c.requested_by, t, "requested_by")
    must_be_principal(school, c.requested_by, t, "R6", "restrict student data")
    if c.teacher_id is not None:
        registered_person(world, c.teacher_id, t, "teacher_id")
    if rules.active_restriction(school, c.teacher_id, t) is not None:
        scope = c.teacher_id or "all teachers"
        raise RuleViolation(
            f"student data at {c.school_id} is already restricted for {scope}", code="already_restricted", rule="R6"
        )
    b.add(
        ev.StudentDataRestricted,
        ev.school_stream(c.school_id),
        school_id=c.school_id,
        teacher_id=c.teacher_id,
        requested_by=c.requested_by,
    )


@_handles(cmd.LiftStudentDataRestriction)
def _lift(c: cmd.LiftStudentDataRestriction, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world()
    school = registered_school(world, c.school_id, t)
    registered_person(world, c.requested_by, t, "requested_by")
    must_be_principal(school, c.requested_by, t, "R6", "lift a restriction of student data")
    if rules.active_restriction(school, c.teacher_id, t) is None:
        scope = c.teacher_id or "all teachers"
        raise RuleViolation(
            f"student data at {c.school_id} is not restricted for {scope} at {_iso(t)}",
            code="restriction_not_found",
            rule="R6",
        )
    b.add(
        ev.StudentDataRestrictionLifted,
        ev.school_stream(c.school_id),
        school_id=c.school_id,
        teacher_id=c.teacher_id,
        requested_by=c.requested_by,
    )


def has_something_to_remove(
    world: World, cal: LedgerCalendar, person_id: str, org: SchoolView | DistrictView, t: datetime
) -> bool:
    """R14: whether the person holds any role or not-yet-ended grant at the organization at t."""
    org_id = org.school_id if isinstance(org, SchoolView) else org.district_id
    if access.grants_at(world, cal, person_id, org_id, t):
        return True
    person = world.person(person_id)
    if isinstance(org, SchoolView):
        removals = org.removals_of(person_id)
        if any(rules.authorization_is_held(a, person, removals, t) for a in person.authorizations_at_school(org_id)):
            return True
        if rules.held_system_grants(person, org_id, removals, t):
            return True
        return any(rules.redemption_is_held(r, org, cal, t) for r in org.redemptions_of(person_id))
    return bool(
        rules.pending_district_additions(org, person_id, cal, t)
        or rules.held_system_grants(person, org_id, org.removals_of(person_id), t)
    )


@_handles(cmd.RemoveAccess)
def _remove_access(c: cmd.RemoveAccess, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> None:
    world = ctx.world(ev.CALENDAR_STREAM)
    org = registered_org(world, c.org_id, t)
    registered_person(world, c.removed_by, t, "removed_by")
    registered_person(world, c.person_id, t)
    if isinstance(org, SchoolView):
        allowed = rules.person_is_principal_of(org, c.removed_by, t)
        if not allowed and org.district_id is not None:
            allowed = rules.person_is_superintendent_of(world.district(org.district_id), c.removed_by, t)
        stream = ev.school_stream(c.org_id)
        who = "the principal of the school or the superintendent of its district"
    else:
        allowed = rules.person_is_superintendent_of(org, c.removed_by, t)
        stream = ev.district_stream(c.org_id)
        who = "the superintendent of the district"
    if not allowed:
        raise RuleViolation(
            f"{c.removed_by} may not remove access at {c.org_id}: only {who} may",
            code="not_authorized_to_remove",
            rule="R14",
        )
    if not has_something_to_remove(world, ctx.calendar, c.person_id, org, t):
        raise RuleViolation(
            f"{c.person_id} holds no access at {c.org_id} at {_iso(t)}: nothing to remove",
            code="nothing_to_remove",
            rule="R14",
        )
    b.add(ev.AccessRemoved, stream, person_id=c.person_id, org_id=c.org_id, removed_by=c.removed_by)


@_handles(cmd.VoidEvent)
def _void_event(c: cmd.VoidEvent, ctx: Context, b: _Builder, t: datetime, p: Prepared) -> dict[str, Any]:
    stream_id = ctx.locate(c.event_id)
    if stream_id is None:
        raise NotFound(f"unknown event {c.event_id}", code="unknown_event", rule="R15")
    stream = ctx.stream(stream_id)
    target = stream.find(c.event_id)
    if target is None:
        if any(v.event_id == c.event_id for v in stream.voids):
            raise RuleViolation(
                "a void cannot itself be voided: record the fact again instead", code="cannot_void_a_void", rule="R15"
            )
        raise RuleViolation(f"event {c.event_id} is already voided", code="already_voided", rule="R15")
    void = b.add(ev.EventVoided, stream_id, voided_event_id=c.event_id, reason=c.reason)
    if stream_id.startswith("school:"):
        after = SchoolView(evolve(stream, void), stream_id.split(":", 1)[1])
        for code in after.codes:
            ok, when = rules.code_has_a_free_staff_place(after, code.event_id, ctx.calendar)
            if not ok:
                moment = f" at {_iso(when)}" if when else ""
                raise RuleViolation(
                    f"voiding {target.type} would let six staff hold one code{moment}",
                    code="five_staff_limit",
                    rule="R9",
                )
    return {"voided_event_id": c.event_id, "voided_type": target.type}
