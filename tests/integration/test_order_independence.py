"""Answers about valid time do not depend on the order facts were recorded in (order independence).

A random history (`tests.histories`, short) is run once on memory to learn its facts: each
accepted command with its effective time made explicit, the code it presented named by the
issuance that produced it, the event it voids named by the command that appended it. The
facts are then recorded twice: on memory in the order generated, and on the store under test
in a second order where some facts arrive later, backdated, as real corrections do. Two
constraints are kept: a fact still comes after the facts it names (a code's issuance before its
redemption, an event before its void), and facts that replace one another (`replaces`)
effective at the same instant keep their recording order: the rules read such ties in recording
order (of two issuances effective at the same instant, the one recorded last is in force). Other
facts at one instant may swap (a grant and its ender: the ender wins either way). Facts refused
in either order are dropped from both until both orders accept the same facts.

As of the end of both logs, every check (allowed, role, rules, reason, evidence), rights, who
had access (intervals and sources) and windows (codes in force, their intervals, staff places)
must be equal, event ids compared by the fact that appended them. The first ledger's answers
are also compared with `tests.reference.valid_time`, a fold over the final events written
without the ledger's rule functions: the role of a person at each organization, the code of a
school and exam year in force, its valid interval and the staff holding it.

Examples: LEDGER_PROPERTY_EXAMPLES, else 300 under CI=true, else 15 (per store).
"""

from __future__ import annotations

import dataclasses
import heapq
import random
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger.access.vocabulary import Level, Report
from ledger.commands import parse_command
from ledger.errors import LedgerError
from ledger.events import AccessCodeIssued
from projections.system import LedgerSystem
from storage.outcomes import Outcome
from tests.conftest import CALENDAR, Clock
from tests.histories import (
    ALL_SECTIONS,
    GRANTS,
    LATE_PERSON,
    ORGS,
    PEOPLE,
    SCHOOLS,
    START,
    SUBJECTS,
    YEARS,
    AccessProbe,
    AsOf,
    CheckProbe,
    Executed,
    Probe,
    RightsProbe,
    Step,
    WindowsProbe,
    examples_from_env,
    fresh_ledger,
    histories,
    resolve,
)
from tests.reference.valid_time import ValidTimePicture

EXAMPLES = examples_from_env(local=15, ci=300)
STORES = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


# --- facts: accepted commands that can be recorded in any order -----------------------------------------


@dataclass(frozen=True)
class CodeOf:
    """The code returned by the issuance of fact `k` (codes are new on every run)."""

    k: int


@dataclass(frozen=True)
class EventOf:
    """The event of type `type` appended by fact `k` (event ids are new on every run)."""

    k: int
    type: str


@dataclass(frozen=True)
class Fact:
    command: dict[str, Any]  # resolved, effective_at explicit; CodeOf / EventOf where runs differ
    needs: tuple[int, ...]  # facts that must be recorded before this one
    effective_at: datetime


@dataclass
class Run:
    """One recording of facts on one ledger: what each accepted fact returned."""

    system: LedgerSystem
    outcomes: dict[int, Any] = field(default_factory=dict)

    def label(self) -> dict[str, str]:
        """Event id → the fact that appended it and the event's type: the same in every run."""
        return {e.event_id: f"{k}:{e.type}" for k, o in self.outcomes.items() for e in o.events}


def learn_facts(history: list[Step]) -> list[Fact]:
    """Run the history on memory; every accepted command becomes a fact (the preamble as one batch)."""
    clock = Clock(START)
    facts: list[Fact] = []
    done = Executed()
    issued_by_code: dict[str, int] = {}
    appended_by: dict[str, EventOf] = {}

    def prepare(step: Step) -> dict[str, Any]:
        clock.advance(seconds=step.advance.total_seconds())
        effective = step.when.resolve(clock()) if step.when is not None else None
        command = resolve(step.command, done, effective or clock())
        if effective is not None:
            command["effective_at"] = effective.isoformat()
        return command

    def learn(command: dict[str, Any], outcome: Outcome) -> None:
        done.remember(command, outcome)
        k = len(facts)
        needs: list[int] = []
        fact = dict(command, effective_at=outcome.events[-1].effective_at.isoformat())
        if fact["type"] == "redeem_access_code":
            fact["code"] = CodeOf(issued_by_code[command["code"]])
            needs.append(fact["code"].k)
        if fact["type"] == "void_event":
            fact["event_id"] = appended_by[command["event_id"]]
            needs.append(fact["event_id"].k)
        if fact["type"] == "issue_access_code":
            issued_by_code[outcome.result["code"]] = k
        for e in outcome.events:
            appended_by[e.event_id] = EventOf(k, e.type)
        facts.append(Fact(fact, tuple(needs), outcome.events[-1].effective_at))

    with fresh_ledger("memory", clock) as system:
        preamble = [step for step in history if step.batch]
        commands = [prepare(step) for step in preamble]
        try:
            outcomes = system.service.execute_batch([parse_command(c) for c in commands], "learn")
        except LedgerError:
            outcomes = []
            for command in commands:
                try:
                    learn(command, system.service.execute(parse_command(command), "learn"))
                except LedgerError:
                    continue
        for command, outcome in zip(commands, outcomes, strict=False):
            learn(command, outcome)
        for step in history[len(preamble) :]:
            command = prepare(step)
            try:
                outcome = system.service.execute(parse_command(command), "learn")
            except LedgerError:
                continue
            learn(command, outcome)
    return facts


def record(system: LedgerSystem, clock: Clock, facts: list[Fact], order: list[int]) -> Run:
    """Record the facts in `order`; refused ones are left out (the caller compares what both orders accepted).

    Facts go in batches (one transaction each) that end before a fact naming one of the
    same batch; a refused batch is recorded fact by fact instead.
    """
    run = Run(system)
    batch: list[int] = []
    for k in order:
        if any(n in batch for n in facts[k].needs):
            _record_batch(run, clock, facts, batch)
            batch = []
        batch.append(k)
    _record_batch(run, clock, facts, batch)
    system.runner.catch_up()
    return run


def _materialize(run: Run, fact: Fact) -> dict[str, Any] | None:
    """The fact's command for this run (its code and the event it names as this run recorded them), if possible."""
    command = dict(fact.command)
    if isinstance(command.get("code"), CodeOf):
        issued = run.outcomes.get(command["code"].k)
        if issued is None:
            return None
        command["code"] = issued.result["code"]
    if isinstance(command.get("event_id"), EventOf):
        target = command["event_id"]
        appended = run.outcomes.get(target.k)
        found = [e.event_id for e in appended.events if e.type == target.type] if appended else []
        if not found:
            return None
        command["event_id"] = found[0]
    return command


def _record_batch(run: Run, clock: Clock, facts: list[Fact], batch: list[int]) -> None:
    ready = [(k, c) for k in batch if (c := _materialize(run, facts[k])) is not None]
    if not ready:
        return
    clock.advance(minutes=1)
    if len(ready) > 1:
        try:
            outcomes = run.system.service.execute_batch([parse_command(c) for _, c in ready], "replay")
        except LedgerError:
            pass
        else:
            run.outcomes.update((k, o) for (k, _), o in zip(ready, outcomes, strict=True))
            return
    for k, command in ready:
        try:
            run.outcomes[k] = run.system.service.execute(parse_command(command), "replay")
        except LedgerError:
            continue


def replaces(command: dict[str, Any]) -> tuple[str, ...] | None:
    """The family of facts that replace one another, which the rules read in recording order at one instant.

    Issuances and revocations of one school's code of one year, restrictions and lifts of one
    scope, additions and ends of one affiliation, designations. Any other facts effective at
    the same instant may arrive in any order (an ender and a grant at one instant: the ender wins).
    """
    match command["type"]:
        case "issue_access_code" | "revoke_access_code":
            return ("code", command["school_id"], str(command["exam_year"]))
        case "restrict_student_data" | "lift_student_data_restriction":
            return ("restriction", command["school_id"], str(command.get("teacher_id")))
        case "add_affiliation" | "end_affiliation":
            return ("affiliation", command["person_id"], command["org_id"])
        case "designate_principal":
            return ("principal", command["school_id"])
        case "designate_superintendent":
            return ("superintendent", command["district_id"])
    return None


def arrival_order(facts: list[Fact], kept: list[int], delays: list[int]) -> list[int]:
    """The kept facts in order of arrival `index + delay`, keeping what a fact names and ties first."""
    after: dict[int, set[int]] = {k: set() for k in kept}
    indegree = dict.fromkeys(kept, 0)
    keep = set(kept)
    last_at: dict[tuple[datetime, tuple[str, ...]], int] = {}
    for k in kept:
        before = {n for n in facts[k].needs if n in keep}
        family = replaces(facts[k].command)
        if family is not None:
            tie = last_at.get((facts[k].effective_at, family))
            if tie is not None:
                before.add(tie)
            last_at[(facts[k].effective_at, family)] = k
        for b in before:
            after[b].add(k)
            indegree[k] += 1
    ready = [(k + delays[k], k) for k in kept if indegree[k] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        _, k = heapq.heappop(ready)
        order.append(k)
        for n in after[k]:
            indegree[n] -= 1
            if indegree[n] == 0:
                heapq.heappush(ready, (n + delays[n], n))
    assert len(order) == len(kept)
    return order


@dataclass
class TwoRecordings:
    first: Run
    second: Run
    accepted: list[int]


def record_both(store: str, facts: list[Fact], delays: list[int], stack: ExitStack) -> TwoRecordings | None:
    """Record the facts in both orders, dropping facts refused by either, until both accept the same ones.

    The orders are settled on memory; then the late order is recorded again on the store
    under test, and its answers are compared with the first order's on memory (the
    projection-vs-reference property test covers the stores' agreement on one log).
    """
    kept = list(range(len(facts)))
    for _ in range(4):
        late = arrival_order(facts, kept, delays)
        runs = []
        for order in (kept, late):
            clock = Clock(START)
            runs.append(record(stack.enter_context(fresh_ledger("memory", clock)), clock, facts, order))
        both = sorted(set(runs[0].outcomes) & set(runs[1].outcomes))
        if both != kept:
            kept = both
            continue
        if store != "memory":
            clock = Clock(START)
            runs[1] = record(stack.enter_context(fresh_ledger(store, clock)), clock, facts, late)
            assert sorted(runs[1].outcomes) == kept, "the store decided a fact otherwise than memory"
        return TwoRecordings(runs[0], runs[1], kept)
    return None


# --- answers ------------------------------------------------------------------------------------------------


def plain(value: Any, labels: dict[str, str]) -> Any:
    """An answer with event ids replaced by their facts, positions dropped, and id and grant lists sorted."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: plain(v, labels) for k, v in value.items() if k != "position"}
    if isinstance(value, list | tuple):
        items = [plain(v, labels) for v in value]
        if value and all(isinstance(v, str) and v in labels for v in value):
            return tuple(sorted(items))
        if items and all(isinstance(v, dict) and "event_id" in v for v in items):
            return tuple(sorted(items, key=lambda v: v["event_id"]))  # grants listed in recording order
        return tuple(items)
    if isinstance(value, str):
        return labels.get(value, value)
    return value


def outcome(fn: Any) -> tuple[Any, ...]:
    try:
        return ("answer", fn())
    except Exception as e:
        return ("error", type(e).__name__)


def ask(system: LedgerSystem, probe: Probe, at: datetime) -> tuple[Any, ...]:
    q = system.queries
    if isinstance(probe, CheckProbe):
        return outcome(
            lambda: q.check(
                person_id=probe.person_id,
                org_id=probe.org_id,
                report=probe.report,
                exam_year=probe.exam_year,
                school_id=probe.school_id,
                subject=probe.subject,
                section_id=probe.section_id,
                at=at,
            )
        )
    if isinstance(probe, RightsProbe):
        return outcome(lambda: q.rights(probe.person_id, at=at))
    if isinstance(probe, AccessProbe):
        return outcome(lambda: q.who_had_access(probe.org_id, probe.start, probe.start + probe.length, probe.level))
    assert isinstance(probe, WindowsProbe)
    return outcome(lambda: q.windows(probe.org_id, at=at))


def roles_in_rights(system: LedgerSystem, person_id: str, at: datetime) -> dict[str, str | None]:
    found = {o.org_id: o.role for o in system.queries.rights(person_id, at=at).rights.organizations}
    return {org: (str(found[org]) if found.get(org) else None) for org in ORGS}


def codes_in_windows(system: LedgerSystem, school_id: str, at: datetime) -> dict[int, Any]:
    """Per exam year: the codes valid at `at` with their staff places used, and every code's interval."""
    body = system.queries.windows(school_id, at=at).body
    out: dict[int, Any] = {}
    for c in body["codes"]:
        year = out.setdefault(c["exam_year"], {"valid": [], "intervals": {}})
        if c["valid_at"]:
            year["valid"].append((c["code_event_id"], c["staff_places_used"]))
        year["intervals"][c["code_event_id"]] = c["valid_to"]
    return out


def codes_in_reference(picture: ValidTimePicture, school_id: str, years: list[int], at: datetime) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for y in years:
        current = picture.code_in_force(school_id, y, at)
        valid = [(current.event_id, len(picture.staff_holding(school_id, y, at)))] if current else []
        intervals = {
            c.event_id: picture.code_end(c).isoformat()
            for c in picture.code_facts(school_id, y)
            if isinstance(c, AccessCodeIssued)
        }
        out[y] = {"valid": valid, "intervals": intervals}
    return out


def probe_at(probe: Probe, fallback: datetime) -> datetime:
    at = getattr(probe, "at", None)
    return at if at is not None else fallback


JITTERS = (
    timedelta(0),
    timedelta(0),
    timedelta(microseconds=-1),
    timedelta(microseconds=1),
    timedelta(hours=-5),
    timedelta(days=1),
    timedelta(days=-1),
    timedelta(days=20),
    timedelta(days=120),
    timedelta(days=400),
)
SOON = (timedelta(0), timedelta(microseconds=1), timedelta(hours=1), timedelta(days=1), timedelta(days=20))
LENGTHS = (timedelta(microseconds=1), timedelta(days=1), timedelta(days=30), timedelta(days=365))
LATEST = AsOf("latest")


def questions(facts: list[Fact], accepted: list[int], seed: int, count: int = 40) -> list[Probe]:
    """Probes about what the history appended: its persons, organizations, years, near its effective times.

    Built from a drawn seed rather than drawn one by one: Hypothesis spends far more time
    drawing many small values than the ledger spends answering them.
    """
    rng = random.Random(seed)
    commands = [facts[k].command for k in accepted]
    grants = [c for c in commands if c["type"] in GRANTS] or commands
    releases = {
        c["exam_year"]: CALENDAR.parse_instant(c["released_on"]) for c in commands if c["type"] == "release_scores"
    }
    anchors = [facts[k].effective_at for k in accepted] + list(releases.values())

    def near(c: dict[str, Any]) -> datetime:
        """Mostly just after the fact, or after the release of its year, else near any fact."""
        year = c.get("school_year") or c.get("exam_year")
        roll = rng.random()
        if roll < 0.6:
            return CALENDAR.parse_instant(c["effective_at"]) + rng.choice(SOON)
        if roll < 0.8 and year in releases:
            return releases[year] + rng.choice(SOON)
        return rng.choice(anchors) + rng.choice(JITTERS)

    out: list[Probe] = []
    for _ in range(count):
        c = rng.choice(grants if rng.random() < 0.7 else commands)
        person = c.get("person_id") or c.get("teacher_id") or rng.choice((*PEOPLE, LATE_PERSON))
        org = c.get("org_id") or c.get("school_id") or c.get("district_id") or rng.choice(ORGS)
        at = near(c)
        kind = rng.random()
        if kind < 0.5:
            acting = SCHOOLS.get(org) or org if org in SCHOOLS and rng.random() < 0.25 else org
            year = c.get("school_year") or c.get("exam_year")
            released = [y for y, day in releases.items() if day <= at]
            if year is None or (released and rng.random() < 0.5):
                year = max(released) - rng.choice((0, 0, 1)) if released else rng.choice(YEARS)
            teaching = bool(c.get("subject")) and rng.random() < 0.6
            report = rng.choice(
                (Report.INSTRUCTIONAL_PLANNING, Report.SUBJECT_SCORE_ROSTER) if teaching else list(Report)
            )
            out.append(
                CheckProbe(
                    person_id=person,
                    org_id=acting,
                    report=report,
                    exam_year=year + rng.choice((0, 0, 0, 1, -1)),
                    school_id=org if org in SCHOOLS else rng.choice((None, *SCHOOLS)),
                    subject=c.get("subject") or rng.choice((None, *SUBJECTS)),
                    section_id=c.get("section_id") or rng.choice((None, *ALL_SECTIONS)),
                    at=at,
                    as_of=LATEST,
                )
            )
        elif kind < 0.7:
            out.append(RightsProbe(person, at, LATEST))
        elif kind < 0.9:
            out.append(WindowsProbe(org, at, LATEST))
        else:
            out.append(AccessProbe(org, at, rng.choice(LENGTHS), rng.choice(list(Level)), LATEST))
    return out


@pytest.mark.parametrize("store", STORES)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(
    history=histories(min_body=6, max_body=30),
    delays=st.lists(st.sampled_from((0, 0, 0, 2, 7, 40, 10_000)), min_size=200, max_size=200),
    seed=st.integers(0, 2**32),
)
def test_every_answer_about_valid_time_is_the_same_whatever_order_the_facts_were_recorded_in(
    store: str, history: list[Step], delays: list[int], seed: int
) -> None:
    facts = learn_facts(history)
    delays = (delays * (len(facts) // len(delays) + 1))[: len(facts)]
    with ExitStack() as stack:
        both = record_both(store, facts, delays, stack)
        assume(both is not None)
        assert both is not None
        first, second = both.first, both.second
        labels1, labels2 = first.label(), second.label()
        asked = questions(facts, both.accepted, seed)
        log = [first.system.service.mapper.decode(r.stored) for r in first.system.service.recorder.read_rows(0, 10**6)]
        picture = ValidTimePicture(log, CALENDAR)
        for probe in asked:
            at = probe_at(probe, START + timedelta(days=1500))
            one = plain(ask(first.system, probe, at), labels1)
            two = plain(ask(second.system, probe, at), labels2)
            assert one == two, f"{probe}\nin the order generated: {one}\nwith late facts:        {two}"
            if isinstance(probe, CheckProbe) and one[0] == "answer":
                expected = picture.allowed(
                    probe.person_id,
                    probe.org_id,
                    probe.report.value,
                    probe.exam_year,
                    probe.school_id,
                    probe.subject,
                    probe.section_id,
                    at,
                )
                assert one[1]["decision"]["allowed"] == expected, f"{probe}: {one[1]['decision']}"
            person = getattr(probe, "person_id", None)
            if isinstance(probe, RightsProbe | CheckProbe) and person is not None:
                ledger_roles = roles_in_rights(first.system, person, at)
                reference = {org: picture.role(person, org, at) for org in ORGS}
                assert ledger_roles == reference, f"roles of {person} at {at}"
            if isinstance(probe, WindowsProbe) and one[0] == "answer" and one[1]["body"]["kind"] == "school":
                found = codes_in_windows(first.system, probe.org_id, at)
                assert found == codes_in_reference(picture, probe.org_id, sorted(found), at), (
                    f"codes of {probe.org_id} at {at}"
                )


def test_arrival_order_keeps_ties_of_facts_that_replace_one_another_and_named_facts_in_place() -> None:
    t1, t2 = START, START + timedelta(days=1)
    code = {"type": "issue_access_code", "school_id": "S1", "exam_year": 2025}
    facts = [
        Fact(code, (), t1),
        Fact(code, (), t2),
        Fact({"type": "redeem_access_code"}, (0,), t2),
        Fact(code, (), t1),
    ]
    # 0 is delayed past everything: 2 needs it, 3 shares its instant and came after it.
    assert arrival_order(facts, [0, 1, 2, 3], [100, 0, 0, 0]) == [1, 0, 2, 3]
    # 1 is delayed a little: 2 shares its instant but replaces nothing of it, so 2 does not wait.
    assert arrival_order(facts, [0, 1, 2, 3], [0, 5, 0, 0]) == [0, 2, 3, 1]
