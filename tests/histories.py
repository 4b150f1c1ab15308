"""Random ledger histories and probes for property tests (Hypothesis strategies), and a fresh ledger per example.

A history is a small universe (districts D1, D2; schools S1, S2 in D1, S3 in D2, homeschool
H1; persons P1…P7, P9 never registered) and a list of steps: a preamble that registers most
of it (run as one batch), then a body of 20–60 random commands, each with a clock advance
(recorded time never decreases, ties included) and an effective time that may be now,
backdated, ahead, or exactly on a calendar boundary (Aug 1 and Jul 31 in New York, Aug 1 in
UTC, release days).

Commands are generated before they run, so some fields are references resolved at run time
(`resolve`): the code presented to `redeem_access_code` (`CodeRef`), the event a `void_event`
names (`EventRef`), who acts for an organization (`ActorRef`), years relative to the
effective time (`RelYear`), and whole commands that follow up on a fact appended earlier
(`FollowUp`: withdraw it, remove it, lift it, revoke or redeem a code issued…). Refusals are
expected (a random history breaks write-time rules often) and are skipped.

Probes (`probes(executed)`) are drawn after the history ran: most are about the persons,
organizations, years and effective times it appended, the rest are random.

    with fresh_ledger("sqlite", clock) as system:
        executed = execute(system, clock, history)
        questions = data.draw(probes(executed))
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from hypothesis import strategies as st

from bootstrap import open_ledger
from ledger.access.vocabulary import Level, Report
from ledger.commands import parse_command
from ledger.errors import LedgerError
from projections.system import LedgerSystem
from storage.outcomes import Outcome
from tests.conftest import CALENDAR, FAST_HASHER, PG_URL, Clock, require_postgres

NY = ZoneInfo("America/New_York")

DISTRICTS = ("D1", "D2")
SCHOOLS: dict[str, str | None] = {"S1": "D1", "S2": "D1", "S3": "D2", "H1": None}
HOMESCHOOLS = frozenset({"H1"})
PEOPLE = ("P1", "P2", "P3", "P4", "P5", "P6")
LATE_PERSON = "P7"  # registered (or not) by the body
UNKNOWN_PERSON = "P9"  # never registered
UNKNOWN_ORG = "X9"
ORGS = (*SCHOOLS, *DISTRICTS)
SUBJECTS = ("AP-BIO", "AP-CHEM")
SECTIONS = {"AP-BIO": ("BIO-1", "BIO-2"), "AP-CHEM": ("CHEM-1",)}
ALL_SECTIONS = tuple(s for group in SECTIONS.values() for s in group)
SYSTEMS = ("registration_ordering", "course_audit")
YEARS = tuple(range(2020, 2027))  # exam, school and access years used by commands
START = datetime(2021, 3, 1, 12, tzinfo=UTC)  # the clock when a history starts
EARLY = "2019-01-01"
WRONG_CODE = "WRONG-CODE-0000"


def ny(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=NY).astimezone(UTC)


def boundaries() -> list[datetime]:
    """Instants where annual windows change, and their neighbours on the other side."""
    out: list[datetime] = []
    for y in range(2019, 2029):
        aug1 = ny(y, 8, 1)
        out += [aug1, aug1 - timedelta(microseconds=1), aug1 - timedelta(minutes=1), datetime(y, 8, 1, 2, tzinfo=UTC)]
        for day in (6, 7, 8):  # release days drawn below
            start = ny(y, 7, day)
            out += [start, start - timedelta(microseconds=1)]
    return out


BOUNDARIES = boundaries()


@cache
def uniform(values: range | tuple[int, ...]) -> st.SearchStrategy[int]:
    """Draw from `values` without Hypothesis's lean towards the first ones (it still shrinks towards them).

    Generation favours small indices; a fixed shuffle spreads them over the values, so an
    instant is not nearly always in early January of the first year.
    """
    shuffled = list(values)
    random.Random(len(shuffled)).shuffle(shuffled)
    return st.sampled_from(tuple(shuffled))


@cache
def days(lo: int, hi: int) -> st.SearchStrategy[timedelta]:
    """A duration of lo..hi days, to the second."""
    return st.builds(lambda d, s: timedelta(days=d, seconds=s), uniform(range(lo, hi + 1)), uniform(range(86400)))


# --- references resolved when the history runs -----------------------------------------------


@dataclass(frozen=True)
class CodeRef:
    """The code to present: the latest one issued for (school, exam year) in this run, or a wrong one."""

    right: bool


@dataclass(frozen=True)
class ActorRef:
    """Whoever acts for the command's organization: its principal, or its (or its district's) superintendent.

    Resolved from the designations appended so far in this run (the latest wins), so most
    restrictions, removals and district additions are made by someone allowed to.
    """


@dataclass(frozen=True)
class EventRef:
    """The k-th event back from the last one recorded so far (modulo their number).

    Counting back keeps most voids on recent facts; voiding the preamble's registrations
    and terms too often would leave few persons with any access to compare.
    """

    k: int


# --- effective and probe times ----------------------------------------------------------------


@dataclass(frozen=True)
class When:
    """A time relative to the clock of the step: now, now + offset, or a fixed instant."""

    offset: timedelta | None = None
    fixed: datetime | None = None

    def resolve(self, now: datetime) -> datetime:
        if self.fixed is not None:
            return self.fixed
        return now + (self.offset or timedelta(0))


@cache
def whens() -> st.SearchStrategy[When | None]:
    """An effective time: None (= recorded_at) often, else backdated, ahead, or on a boundary."""
    return st.one_of(
        st.none(),
        st.none(),
        st.builds(When, offset=days(0, 500).map(lambda d: -d)),
        st.builds(When, offset=days(0, 60)),
        st.builds(When, fixed=st.sampled_from(BOUNDARIES)),
        st.builds(When, fixed=st.sampled_from([ny(2019, 1, 1), ny(2022, 3, 1)])),
    )


@cache
def instants() -> st.SearchStrategy[datetime]:
    """A valid-time instant for probes: a boundary, or anywhere in 2019–2028 (µs precision)."""
    return st.one_of(
        st.sampled_from(BOUNDARIES),
        st.builds(
            lambda y, d, us: datetime(y, 1, 1, tzinfo=UTC) + d + timedelta(microseconds=us),
            uniform(range(2019, 2029)),
            days(0, 364),
            st.sampled_from((0, 1, 999_999, 123_456)),
        ),
    )


# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelYear:
    """A year relative to the command's effective time: the school, exam or access year it falls in, plus `offset`.

    Absolute years drawn at random rarely fit the clock (a 2021 code issued in 2025 has long
    expired); these do, and still reach the next and the previous year.
    """

    offset: int = 0

    def resolve(self, name: str, t: datetime) -> int:
        local = t.astimezone(NY)
        if name == "access_year":  # Aug 1 of A through Jul 31 of A+1
            base = local.year - (1 if local.month < 8 else 0)
        else:  # exam or school year: the last one whose scores (July) may be out, which R3 asks for
            base = local.year - (1 if local.month < 7 else 0)
        return base + self.offset


@dataclass(frozen=True)
class FollowUp:
    """A command about a fact appended earlier in the run (the k-th back of its kind), else `fallback`.

    Random withdrawals, removals, lifts, revocations and redemptions almost never meet the fact
    they need; following up on one that exists makes them succeed often enough to matter.
    """

    kind: str
    k: int
    fallback: dict[str, Any]


@dataclass(frozen=True)
class Step:
    """One command of a history: advance the clock, then run `command` effective `when`."""

    command: dict[str, Any] | FollowUp
    when: When | None = None
    advance: timedelta = timedelta(0)
    project_after: bool = False  # catch the projection up after this step (incremental projection)
    batch: bool = False  # run in one batch with the batch steps next to it (the preamble: fewer transactions)


persons = st.sampled_from(PEOPLE)
persons_or_late = st.sampled_from((*PEOPLE, LATE_PERSON))
schools = st.sampled_from(("S1", "S1", "S2", "S3", "H1"))
orgs = st.sampled_from(ORGS)
districts = st.sampled_from(DISTRICTS)
years = st.one_of(st.builds(RelYear, offset=st.sampled_from((0, 0, 1, -1))), uniform(YEARS))
subjects = st.sampled_from(SUBJECTS)
systems = st.sampled_from(SYSTEMS)
acting = st.one_of(st.just(ActorRef()), st.just(ActorRef()), st.just(ActorRef()), persons)
right_codes = st.builds(CodeRef, right=st.sampled_from((True, True, True, True, False)))


def _cmd(type_: str, **fields: Any) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"type": st.just(type_), **fields})


def _assign_section() -> st.SearchStrategy[dict[str, Any]]:
    subject_section = subjects.flatmap(lambda s: st.tuples(st.just(s), st.sampled_from(SECTIONS[s])))
    return st.tuples(persons_or_late, schools, subject_section, years).map(
        lambda t: {
            "type": "assign_section",
            "person_id": t[0],
            "school_id": t[1],
            "subject": t[2][0],
            "section_id": t[2][1],
            "school_year": t[3],
        }
    )


def _release() -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(uniform(YEARS), st.sampled_from((6, 7, 8))).map(
        lambda t: {"type": "release_scores", "exam_year": t[0], "released_on": date(t[0], 7, t[1]).isoformat()}
    )


# kind of follow-up → the command types it follows up on
FOLLOWS = {
    "withdraw": ("authorize_course",),
    "assign": ("authorize_course",),
    "remove_system_access": ("grant_system_access",),
    "remove_district_user": ("add_district_user",),
    "lift": ("restrict_student_data",),
    "revoke": ("issue_access_code",),
    "reissue": ("issue_access_code",),
    "redeem": ("issue_access_code",),
    "end_affiliation": ("add_affiliation",),
    "remove_access": ("authorize_course", "grant_system_access", "redeem_access_code", "add_district_user"),
}


@cache
def body_commands() -> st.SearchStrategy[dict[str, Any] | FollowUp]:
    """One random command over the universe, or a follow-up on an earlier one."""
    teaching = {"person_id": persons_or_late, "school_id": schools, "subject": subjects, "school_year": years}
    grants = [  # authorize_course first: weighted below
        _cmd("authorize_course", **teaching),
        _cmd("grant_system_access", person_id=persons_or_late, org_id=orgs, system=systems),
        _cmd("redeem_access_code", school_id=schools, exam_year=years, person_id=persons_or_late, code=right_codes),
        _cmd(
            "add_district_user",
            person_id=persons_or_late,
            district_id=districts,
            access_year=years,
            requested_by=acting,
        ),
        _cmd("issue_access_code", school_id=schools, exam_year=years),
    ]
    undo = {
        "withdraw": _cmd("withdraw_course_authorization", **teaching),
        "assign": _assign_section(),
        "remove_system_access": _cmd("remove_system_access", person_id=persons_or_late, org_id=orgs, system=systems),
        "remove_district_user": _cmd(
            "remove_district_user", person_id=persons_or_late, district_id=districts, requested_by=acting
        ),
        "lift": _cmd(
            "lift_student_data_restriction",
            school_id=schools,
            teacher_id=st.none() | persons_or_late,
            requested_by=acting,
        ),
        "revoke": _cmd("revoke_access_code", school_id=schools, exam_year=years, reason=st.just("leaked")),
        "reissue": _cmd("issue_access_code", school_id=schools, exam_year=years),
        "redeem": _cmd(
            "redeem_access_code", school_id=schools, exam_year=years, person_id=persons_or_late, code=right_codes
        ),
        "end_affiliation": _cmd("end_affiliation", person_id=persons_or_late, org_id=orgs),
        "remove_access": _cmd("remove_access", person_id=persons_or_late, org_id=orgs, removed_by=acting),
    }
    follow_ups = {
        kind: st.builds(FollowUp, kind=st.just(kind), k=uniform(range(8)), fallback=fallback)
        for kind, fallback in undo.items()
    }
    others = [
        _release(),
        _cmd("register_person", person_id=st.just(LATE_PERSON), name=st.just("Late"), email=st.just("p7@x.org")),
        _cmd("add_affiliation", person_id=persons_or_late, org_id=orgs),
        _cmd("accept_terms", person_id=persons_or_late, terms_version=st.just("v2")),
        _cmd("designate_principal", school_id=schools, person_id=persons, exam_year=years),
        _cmd("designate_superintendent", district_id=districts, person_id=persons),
        _cmd("restrict_student_data", school_id=schools, teacher_id=st.none() | persons_or_late, requested_by=acting),
        _cmd("void_event", event_id=st.builds(EventRef, k=uniform(range(12))), reason=st.just("mistake")),
        _cmd("void_event", event_id=st.builds(EventRef, k=uniform(range(1000))), reason=st.just("mistake")),
    ]
    # Weights by repetition: grants (and follow-ups that complete them) are what makes access to compare.
    lively = [
        *[grants[0]] * 4,  # authorize_course
        *grants * 2,
        *[follow_ups["assign"]] * 3,
        *[follow_ups["redeem"]] * 3,
        *follow_ups.values(),
    ]
    return st.one_of(*lively, *others)


@cache
def advances() -> st.SearchStrategy[timedelta]:
    """How far the clock moves before a step: days mostly, else not at all (ties) or seconds."""
    return st.one_of(
        days(0, 120),
        days(0, 120),
        st.just(timedelta(0)),
        uniform(range(1, 3601)).map(lambda s: timedelta(seconds=s)),
    )


@st.composite
def preambles(draw: st.DrawFn) -> list[Step]:
    """Register the universe (mostly early), with random affiliations, terms, principals, superintendents, releases.

    P1–P4 are registered early and act as principals and superintendents; P5 and P6 may be
    registered later, and S2 may open later, so registration times matter too.
    """
    steps: list[Step] = []

    def at(text: str) -> When:
        return When(fixed=CALENDAR.parse_instant(text))

    for d in DISTRICTS:
        steps.append(Step({"type": "register_district", "district_id": d, "name": d}, at(EARLY)))
    opened = dict.fromkeys(SCHOOLS, EARLY)
    opened["S2"] = draw(st.sampled_from((EARLY, EARLY, "2022-09-01")))
    for s, district in SCHOOLS.items():
        command: dict[str, Any] = {
            "type": "register_school",
            "school_id": s,
            "name": s,
            "district_id": district,
            "homeschool": s in HOMESCHOOLS,
        }
        steps.append(Step(command, at(opened[s])))
    since = dict.fromkeys(PEOPLE, EARLY)
    for p in ("P5", "P6"):
        since[p] = draw(st.sampled_from((EARLY, EARLY, "2022-03-01", "2024-10-01")))
    for p in PEOPLE:
        steps.append(Step({"type": "register_person", "person_id": p, "name": p, "email": f"{p}@x.org"}, at(since[p])))
        terms = draw(st.sampled_from((EARLY, EARLY, EARLY, EARLY, "2023-01-01", None)))
        if terms is not None:
            steps.append(
                Step({"type": "accept_terms", "person_id": p, "terms_version": "v1"}, at(max(terms, since[p])))
            )
    org_since = {**opened, **dict.fromkeys(DISTRICTS, EARLY)}
    affiliations = set(draw(st.lists(st.tuples(persons, orgs), min_size=6, max_size=16, unique=True)))
    principals = st.sampled_from(("P1", "P2", "P3", "P4"))
    principal_of = {s: draw(principals) for s in SCHOOLS}
    affiliations |= {(p, s) for s, p in principal_of.items()}
    for p, org in sorted(affiliations):
        steps.append(
            Step({"type": "add_affiliation", "person_id": p, "org_id": org}, at(max(since[p], org_since[org])))
        )
    for s, principal in principal_of.items():
        for y in YEARS:
            command = {"type": "designate_principal", "school_id": s, "person_id": principal, "exam_year": y}
            steps.append(Step(command, at(opened[s])))
    for d in DISTRICTS:
        command = {"type": "designate_superintendent", "district_id": d, "person_id": draw(principals)}
        steps.append(Step(command, at(EARLY)))
    for y in draw(st.lists(uniform(YEARS), min_size=2, max_size=6, unique=True)):
        day = draw(st.sampled_from((6, 7, 8)))
        steps.append(Step({"type": "release_scores", "exam_year": y, "released_on": date(y, 7, day).isoformat()}))
    return [Step(st_.command, st_.when, batch=True) for st_ in steps]


@st.composite
def histories(draw: st.DrawFn, min_body: int = 20, max_body: int = 60) -> list[Step]:
    """A preamble and a body of random commands with clock advances and effective times."""
    steps = draw(preambles())
    n = draw(st.integers(min_body, max_body))
    for _ in range(n):
        steps.append(Step(draw(body_commands()), draw(whens()), draw(advances()), draw(st.integers(0, 9)) == 0))
    return steps


# --- running a history -----------------------------------------------------------------------------


@dataclass
class Executed:
    """What a history left behind: the commands appended (resolved, effective time included), event ids, codes."""

    event_ids: list[str] = field(default_factory=list)
    codes: dict[tuple[str, int], str] = field(default_factory=dict)
    principals: dict[str, str] = field(default_factory=dict)
    superintendents: dict[str, str] = field(default_factory=dict)
    commands: list[dict[str, Any]] = field(default_factory=list)
    effective: list[datetime] = field(default_factory=list)
    refused: int = 0

    def acting_for(self, org: str) -> str:
        if org in self.principals:
            return self.principals[org]
        district = SCHOOLS.get(org) or org
        return self.superintendents.get(district, UNKNOWN_PERSON)

    def of_types(self, types: tuple[str, ...]) -> list[dict[str, Any]]:
        return [c for c in self.commands if c["type"] in types]

    def remember(self, command: dict[str, Any], outcome: Outcome) -> None:
        command = {**command, "effective_at": outcome.events[-1].effective_at.isoformat()}
        self.commands.append(command)
        self.event_ids.extend(e.event_id for e in outcome.events)
        self.effective.extend(e.effective_at for e in outcome.events)
        kind = command["type"]
        if kind == "issue_access_code":
            self.codes[(command["school_id"], command["exam_year"])] = outcome.result["code"]
        elif kind == "designate_principal":
            self.principals[command["school_id"]] = command["person_id"]
        elif kind == "designate_superintendent":
            self.superintendents[command["district_id"]] = command["person_id"]


def follow_up(step: FollowUp, done: Executed) -> dict[str, Any]:
    """The concrete command a follow-up stands for (its fallback when nothing of its kind was appended)."""
    earlier = done.of_types(FOLLOWS[step.kind])
    if not earlier:
        return step.fallback
    c = earlier[-1 - step.k % len(earlier)]
    org = c.get("org_id") or c.get("school_id") or c.get("district_id")
    match step.kind:
        case "withdraw":
            keep = ("person_id", "school_id", "subject", "school_year")
            return {"type": "withdraw_course_authorization", **{k: c[k] for k in keep}}
        case "assign":
            sections = SECTIONS[c["subject"]]
            return {
                "type": "assign_section",
                "person_id": c["person_id"],
                "school_id": c["school_id"],
                "subject": c["subject"],
                "section_id": sections[step.k % len(sections)],
                "school_year": c["school_year"],
            }
        case "remove_system_access":
            return {"type": "remove_system_access", **{k: c[k] for k in ("person_id", "org_id", "system")}}
        case "remove_district_user":
            return {
                "type": "remove_district_user",
                "person_id": c["person_id"],
                "district_id": c["district_id"],
                "requested_by": ActorRef(),
            }
        case "lift":
            return {
                "type": "lift_student_data_restriction",
                "school_id": c["school_id"],
                "teacher_id": c.get("teacher_id"),
                "requested_by": ActorRef(),
            }
        case "revoke":
            return {
                "type": "revoke_access_code",
                "school_id": c["school_id"],
                "exam_year": c["exam_year"],
                "reason": "leaked",
            }
        case "reissue":
            return {"type": "issue_access_code", "school_id": c["school_id"], "exam_year": c["exam_year"]}
        case "redeem":
            affiliated = sorted({a["person_id"] for a in done.of_types(("add_affiliation",)) if a["org_id"] == org})
            person = affiliated[step.k % len(affiliated)] if affiliated else step.fallback["person_id"]
            return {
                "type": "redeem_access_code",
                "school_id": c["school_id"],
                "exam_year": c["exam_year"],
                "person_id": person,
                "code": CodeRef(right=step.k % 5 != 4),
            }
        case "end_affiliation":
            return {"type": "end_affiliation", "person_id": c["person_id"], "org_id": c["org_id"]}
        case _:
            return {"type": "remove_access", "person_id": c["person_id"], "org_id": org, "removed_by": ActorRef()}


def resolve(command: dict[str, Any] | FollowUp, done: Executed, t: datetime) -> dict[str, Any]:
    """Replace the references of a generated command by what this run recorded; `t` is its effective time."""
    out = dict(follow_up(command, done) if isinstance(command, FollowUp) else command)
    for name, value in out.items():
        if isinstance(value, RelYear):
            out[name] = value.resolve(name, t)
    if isinstance(out.get("code"), CodeRef):
        found = done.codes.get((out["school_id"], out["exam_year"]))
        out["code"] = found if out["code"].right and found else WRONG_CODE
    if isinstance(out.get("event_id"), EventRef):
        k = out["event_id"].k
        out["event_id"] = done.event_ids[-1 - k % len(done.event_ids)] if done.event_ids else str(uuid.UUID(int=0))
    for name in ("requested_by", "removed_by"):
        if isinstance(out.get(name), ActorRef):
            org = out.get("school_id") or out.get("district_id") or out.get("org_id")
            out[name] = done.acting_for(str(org))
    return out


def execute(system: LedgerSystem, clock: Clock, steps: list[Step], actor: str = "hypothesis") -> Executed:
    """Run the steps in order on `system`; refused commands are counted and skipped.

    Consecutive batch steps run as one `execute_batch` (all or nothing); if it is refused
    they run one by one instead, so a refusal still skips only itself.
    """
    done = Executed()
    i = 0
    while i < len(steps):
        j = i + 1
        while steps[i].batch and j < len(steps) and steps[j].batch:
            j += 1
        group = steps[i:j]
        if len(group) > 1 and _run_batch(system, clock, group, done, actor):
            i = j
            continue
        for step in group:
            _run_one(system, clock, step, done, actor)
        i = j
    return done


def _prepare(clock: Clock, step: Step, done: Executed) -> dict[str, Any]:
    clock.advance(seconds=step.advance.total_seconds())
    effective = step.when.resolve(clock()) if step.when is not None else None
    command = resolve(step.command, done, effective or clock())
    if effective is not None:
        command["effective_at"] = effective.isoformat()
    return command


def _run_batch(system: LedgerSystem, clock: Clock, group: list[Step], done: Executed, actor: str) -> bool:
    if any(step.advance or isinstance(step.command, FollowUp) for step in group):
        return False  # batch steps share one recorded_at and refer to nothing earlier
    commands = [_prepare(clock, step, done) for step in group]
    try:
        outcomes = system.service.execute_batch([parse_command(c) for c in commands], actor)
    except LedgerError:
        return False
    for command, outcome in zip(commands, outcomes, strict=True):
        done.remember(command, outcome)
    if any(step.project_after for step in group):
        system.runner.catch_up()
    return True


def _run_one(system: LedgerSystem, clock: Clock, step: Step, done: Executed, actor: str) -> None:
    command = _prepare(clock, step, done)
    try:
        outcome = system.service.execute(parse_command(command), actor)
    except LedgerError:
        done.refused += 1
    else:
        done.remember(command, outcome)
    if step.project_after:
        system.runner.catch_up()


@contextmanager
def fresh_ledger(store: str, clock: Clock, *, batch_size: int = 2000) -> Iterator[LedgerSystem]:
    """An empty ledger on `store` ("memory", "sqlite" or "postgres"), not following; removed afterwards.

    Usable inside a Hypothesis test body, where function-scoped fixtures would be shared by examples.
    """
    cleanup: list[Any] = []
    if store == "memory":
        url = "memory://"
    elif store == "sqlite":
        folder = tempfile.mkdtemp(prefix="ledger-prop-")
        cleanup.append(lambda: shutil.rmtree(folder, ignore_errors=True))
        url = f"sqlite:///{folder}/ledger.db"
    elif store == "postgres":
        require_postgres()
        schema = f"h_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')

        def drop() -> None:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

        cleanup.append(drop)
        sep = "&" if "?" in PG_URL else "?"
        url = f"{PG_URL}{sep}schema={schema}&pool_size=2&max_overflow=4"
    else:
        raise ValueError(store)
    try:
        system = open_ledger(
            url, calendar=CALENDAR, clock=clock, hasher=FAST_HASHER, follow=False, batch_size=batch_size
        )
        try:
            yield system
        finally:
            system.close()
    finally:
        for fn in cleanup:
            fn()


# --- probes ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Log:
    """What an `as_of` is resolved against: the last position, recorded_at by position, the voids' positions."""

    last: int
    recorded: list[datetime]  # recorded_at of positions 1..last
    voids: list[int]


@dataclass(frozen=True)
class AsOf:
    """A transaction-time probe: latest (None), a position, a void's position (or the one before), or an instant."""

    kind: str  # "latest", "position", "void", "recorded", "instant"
    fraction: float = 1.0
    instant: datetime | None = None
    jitter: timedelta = timedelta(0)

    def resolve(self, log: Log) -> int | datetime | None:
        if self.kind == "position" or (self.kind == "void" and not log.voids):
            return round(self.fraction * (log.last + 1))  # may exceed the log by one: clamped
        if self.kind == "void":
            # R15: the void's own position already forgets its target; the one before still sees it
            return log.voids[min(len(log.voids) - 1, int(self.fraction * len(log.voids)))] - (
                self.jitter < timedelta(0)
            )
        if self.kind == "recorded" and log.recorded:
            # exactly when some event was recorded (ties at one recorded_at are common), give or take
            return log.recorded[min(len(log.recorded) - 1, int(self.fraction * len(log.recorded)))] + self.jitter
        if self.kind == "instant":
            return self.instant
        return None


@cache
def as_ofs() -> st.SearchStrategy[AsOf]:
    fractions = uniform(range(101)).map(lambda n: n / 100)
    jitters = st.sampled_from((timedelta(0), timedelta(0), timedelta(microseconds=-1), timedelta(microseconds=1)))
    return st.one_of(
        st.just(AsOf("latest")),
        st.just(AsOf("latest")),
        st.builds(AsOf, kind=st.just("position"), fraction=fractions),
        st.builds(AsOf, kind=st.just("void"), fraction=fractions, jitter=jitters),
        st.builds(AsOf, kind=st.just("recorded"), fraction=fractions, jitter=jitters),
        st.builds(AsOf, kind=st.just("instant"), instant=instants()),
    )


@dataclass(frozen=True)
class CheckProbe:
    person_id: str
    org_id: str
    report: Report
    exam_year: int
    school_id: str | None
    subject: str | None
    section_id: str | None
    at: datetime | None
    as_of: AsOf


@dataclass(frozen=True)
class RightsProbe:
    person_id: str
    at: datetime | None
    as_of: AsOf


@dataclass(frozen=True)
class AccessProbe:
    org_id: str
    start: datetime
    length: timedelta
    level: Level
    as_of: AsOf


@dataclass(frozen=True)
class WindowsProbe:
    org_id: str
    at: datetime | None
    as_of: AsOf


@dataclass(frozen=True)
class TimelineProbe:
    person_id: str
    as_of: AsOf


Probe = CheckProbe | RightsProbe | AccessProbe | WindowsProbe | TimelineProbe

probe_persons = st.sampled_from((*PEOPLE, LATE_PERSON, UNKNOWN_PERSON))
probe_orgs = st.sampled_from((*ORGS, UNKNOWN_ORG))
probe_ats = st.none() | instants()


@st.composite
def check_probes(draw: st.DrawFn) -> CheckProbe:
    """A check; the school asked about is mostly the organization acted for (or one of its district's)."""
    org = draw(probe_orgs)
    same = org if org in SCHOOLS else draw(st.sampled_from(_schools_of(org)))
    school = draw(st.one_of(st.just(same), st.just(same), st.none(), st.sampled_from((*SCHOOLS, UNKNOWN_ORG))))
    return CheckProbe(
        person_id=draw(probe_persons),
        org_id=org,
        report=draw(st.sampled_from(list(Report))),
        exam_year=draw(uniform(range(2019, 2028))),
        school_id=school,
        subject=draw(st.none() | subjects),
        section_id=draw(st.none() | st.sampled_from(ALL_SECTIONS)),
        at=draw(probe_ats),
        as_of=draw(as_ofs()),
    )


def _schools_of(district: str) -> list[str | None]:
    """The schools of a district, or [None] when it has none (or is not a district)."""
    return [s for s, d in SCHOOLS.items() if d == district] or [None]


def _org_of(command: dict[str, Any]) -> str | None:

    return command.get("org_id") or command.get("school_id") or command.get("district_id")


def _year_of(command: dict[str, Any]) -> int | None:
    return command.get("school_year") or command.get("exam_year") or command.get("access_year")


# Commands that give, end or narrow access: what focused probes ask about.
FOCUS = frozenset(
    {
        "authorize_course",
        "withdraw_course_authorization",
        "assign_section",
        "grant_system_access",
        "remove_system_access",
        "redeem_access_code",
        "add_district_user",
        "remove_district_user",
        "restrict_student_data",
        "lift_student_data_restriction",
        "remove_access",
    }
)


teaching = [Report.INSTRUCTIONAL_PLANNING, Report.SUBJECT_SCORE_ROSTER]
GRANTS = ("authorize_course", "assign_section", "grant_system_access", "redeem_access_code", "add_district_user")


def focus(done: Executed) -> list[dict[str, Any]]:
    return done.of_types(tuple(FOCUS)) or done.commands


def releases_of(done: Executed) -> list[datetime]:
    return sorted(CALENDAR.parse_instant(c["released_on"]) for c in done.commands if c["type"] == "release_scores")


def focused_ats(done: Executed, command: dict[str, Any] | None = None) -> st.SearchStrategy[datetime | None]:
    """Valid times where answers change: near an effective time or a release day, or anywhere.

    For a command about a school or exam year, the release of that year is the anchor: a
    teacher authorized for school year Y is one from the release of Y to the release of Y+1.
    """
    jitter = st.one_of(st.sampled_from((timedelta(0), timedelta(microseconds=-1))), days(0, 400), days(0, 400))
    anchors = list(done.effective)
    releases = {c["exam_year"]: CALENDAR.parse_instant(c["released_on"]) for c in done.of_types(("release_scores",))}
    if command is not None:
        anchors = [CALENDAR.parse_instant(command["effective_at"])]
        year = _year_of(command)
        if year in releases:
            anchors.append(releases[year])
    near = st.builds(lambda t, d: t + d, st.sampled_from(anchors), jitter)
    if releases:
        after_release = st.builds(lambda t, d: t + d, st.sampled_from(sorted(releases.values())), jitter)
        return st.one_of(near, near, after_release, probe_ats)
    return st.one_of(near, near, probe_ats)


@st.composite
def focused_checks(draw: st.DrawFn, done: Executed) -> CheckProbe:
    """A check about the person and organization of a command that was appended (random checks rarely are)."""
    granted = done.of_types(GRANTS)
    from_granted = bool(granted) and draw(st.integers(0, 2)) != 0
    c = draw(st.sampled_from(granted if from_granted else focus(done)))
    person = c.get("person_id") or c.get("teacher_id") or draw(probe_persons)
    org = _org_of(c) or draw(probe_orgs)
    if org in SCHOOLS and draw(st.integers(0, 3)) == 0:
        org = SCHOOLS[org] or org  # as the school's district: district admins see it
    school = org if org in SCHOOLS else draw(st.sampled_from(_schools_of(org)))
    year = _year_of(c)
    released = sorted({r["exam_year"] for r in done.commands if r["type"] == "release_scores"})
    if released and (not year or not draw(st.integers(0, 3))):
        year = draw(st.sampled_from(released))  # a kept year, if `at` is late enough
    elif year:
        year += draw(st.sampled_from((0, 0, 0, 1, -1)))
    else:
        year = draw(uniform(range(2019, 2028)))
    return CheckProbe(
        person_id=person,
        org_id=org,
        report=draw(st.sampled_from(teaching if c.get("subject") and draw(st.integers(0, 2)) else list(Report))),
        exam_year=year,
        school_id=school if draw(st.integers(0, 7)) else draw(st.none() | st.sampled_from(tuple(SCHOOLS))),
        subject=c.get("subject") or draw(st.none() | subjects),
        section_id=c.get("section_id") or draw(st.none() | st.sampled_from(ALL_SECTIONS)),
        at=draw(focused_ats(done, c)),
        as_of=draw(st.one_of(st.just(AsOf("latest")), as_ofs())),  # latest often: the fact is known by then
    )


def probes(done: Executed | None = None) -> st.SearchStrategy[list[Probe]]:
    """A mix of questions: mostly checks, and rights, who had access, windows and timelines.

    Given what a history left behind, most questions are about its persons, organizations
    and effective times; the rest are random (unknown persons and organizations included).
    """
    checks: st.SearchStrategy[CheckProbe] = check_probes()
    people, places, ats, as_of = probe_persons, probe_orgs, probe_ats, as_ofs()
    if done is not None and done.commands:
        checks = st.one_of(focused_checks(done), focused_checks(done), check_probes())
        granted = done.of_types(GRANTS) or focus(done)
        granted_people = sorted({c["person_id"] for c in granted if c.get("person_id")})
        granted_orgs = sorted({o for c in granted if (o := _org_of(c))})
        if granted_people:
            people = st.one_of(st.sampled_from(granted_people), st.sampled_from(granted_people), probe_persons)
        if granted_orgs:
            places = st.one_of(st.sampled_from(granted_orgs), st.sampled_from(granted_orgs), probe_orgs)
        ats = focused_ats(done)
        as_of = st.one_of(st.just(AsOf("latest")), as_ofs())
    return st.tuples(
        st.lists(checks, min_size=6, max_size=16),
        st.lists(st.builds(RightsProbe, person_id=people, at=ats, as_of=as_of), max_size=3),
        st.lists(
            st.builds(
                AccessProbe,
                org_id=places,
                start=st.one_of(ats.filter(lambda t: t is not None), instants()),
                length=days(0, 3 * 365) | st.just(timedelta(microseconds=1)),
                level=st.sampled_from(list(Level)),
                as_of=as_of,
            ),
            max_size=4,
        ),
        st.lists(st.builds(WindowsProbe, org_id=places, at=ats, as_of=as_of), max_size=3),
        st.lists(st.builds(TimelineProbe, person_id=people, as_of=as_of), max_size=2),
    ).map(lambda groups: [p for group in groups for p in group])


def examples_from_env(local: int, ci: int) -> int:
    """Example count: LEDGER_PROPERTY_EXAMPLES if set, else `ci` under CI=true, else `local`."""
    if "LEDGER_PROPERTY_EXAMPLES" in os.environ:
        return int(os.environ["LEDGER_PROPERTY_EXAMPLES"])
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    return ci if in_ci else local
