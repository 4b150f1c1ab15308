"""Decisions from facts: may P, acting for O, see report R at valid time t — and why.

Everything here is pure: it reads a `World` (the streams known at one ledger
position) and a `LedgerCalendar`; the projections and the reference evaluator
only differ in how they build that world.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from ledger import events as ev
from ledger import rules
from ledger.calendar import LedgerCalendar
from ledger.streams import DistrictView, PersonView, SchoolView, World

BEGINNING = datetime.min.replace(tzinfo=UTC)


class Role(StrEnum):
    TEACHER = "teacher"
    SCHOOL_ADMIN = "school_admin"
    DISTRICT_ADMIN = "district_admin"


ROLE_RANK = {Role.TEACHER: 1, Role.SCHOOL_ADMIN: 2, Role.DISTRICT_ADMIN: 3}


class Report(StrEnum):
    INSTRUCTIONAL_PLANNING = "instructional_planning"
    SUBJECT_SCORE_ROSTER = "subject_score_roster"
    ORGANIZATION_SCORE_ROSTER = "organization_score_roster"
    STUDENT_SCORE_REPORT = "student_score_report"
    STUDENT_DATAFILE = "student_datafile"
    SCHOLAR_ROSTER = "scholar_roster"
    SCORE_SUMMARY = "score_summary"
    DISTRICT_SCORE_SUMMARY = "district_score_summary"


class Level(StrEnum):
    STUDENT = "student"
    AGGREGATE = "aggregate"


REPORT_LEVEL = {
    Report.INSTRUCTIONAL_PLANNING: Level.AGGREGATE,
    Report.SUBJECT_SCORE_ROSTER: Level.STUDENT,
    Report.ORGANIZATION_SCORE_ROSTER: Level.STUDENT,
    Report.STUDENT_SCORE_REPORT: Level.STUDENT,
    Report.STUDENT_DATAFILE: Level.STUDENT,
    Report.SCHOLAR_ROSTER: Level.STUDENT,
    Report.SCORE_SUMMARY: Level.AGGREGATE,
    Report.DISTRICT_SCORE_SUMMARY: Level.AGGREGATE,
}
SCHOOL_REPORTS = [r for r in Report if r is not Report.DISTRICT_SCORE_SUMMARY]
TEACHER_REPORTS = [Report.INSTRUCTIONAL_PLANNING, Report.SUBJECT_SCORE_ROSTER]


@dataclass(frozen=True)
class Grant:
    """One reason a person holds a role at an organization at an instant."""

    role: Role
    rule: str
    evidence: tuple[str, ...]
    school_year: int | None = None  # teacher grants: the authorization's school year
    subject: str | None = None


def grants_at(world: World, cal: LedgerCalendar, person_id: str, org_id: str, t: datetime) -> list[Grant]:
    """Every grant (R3, R5, R7, R8, R11, less R14 removals) of the person at the organization at t; R1 gates all."""
    person = world.person(person_id)
    if rules.person_is_registered(person, t) is None:
        return []
    org = world.org(org_id)
    if isinstance(org, SchoolView):
        return _school_grants(world, cal, person, org, t)
    if isinstance(org, DistrictView):
        return _district_grants(cal, person, org, t)
    return []


def _school_grants(
    world: World, cal: LedgerCalendar, person: PersonView, school: SchoolView, t: datetime
) -> list[Grant]:
    out: list[Grant] = []
    removals = school.removals_of(person.person_id)
    current = rules.current_released_year(world.calendar(), cal, t)
    if current is not None and rules.school_gives_teacher_access(school):
        for auth in rules.held_authorizations(person, school, current.exam_year, t):
            out.append(
                Grant(
                    Role.TEACHER,
                    "R3",
                    (auth.event_id, current.event_id),
                    school_year=auth.school_year,
                    subject=auth.subject,
                )
            )
    for g in rules.held_system_grants(person, school.school_id, removals, t):
        out.append(Grant(Role.SCHOOL_ADMIN, "R7", (g.event_id,)))
    for r in school.redemptions_of(person.person_id):
        if rules.redemption_is_held(r, school, cal, t):
            out.append(Grant(Role.SCHOOL_ADMIN, "R8", (r.event_id, r.code_event_id)))
    return out


def _district_grants(cal: LedgerCalendar, person: PersonView, district: DistrictView, t: datetime) -> list[Grant]:
    out: list[Grant] = []
    removals = district.removals_of(person.person_id)
    for g in rules.held_system_grants(person, district.district_id, removals, t):
        out.append(Grant(Role.DISTRICT_ADMIN, "R7", (g.event_id,)))
    for a in rules.held_district_additions(district, person.person_id, cal, t):
        out.append(Grant(Role.DISTRICT_ADMIN, "R11", (a.event_id,)))
    return out


def highest_role(grants: Iterable[Grant]) -> Role | None:
    """R12: within one organization the highest role decides."""
    best: Role | None = None
    for g in grants:
        if best is None or ROLE_RANK[g.role] > ROLE_RANK[best]:
            best = g.role
    return best


def roles_of(grants: Iterable[Grant]) -> list[Role]:
    """Distinct roles, highest first."""
    return sorted({g.role for g in grants}, key=lambda r: -ROLE_RANK[r])


# --- check ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckRequest:
    person_id: str
    org_id: str
    report: Report
    exam_year: int
    at: datetime
    school_id: str | None = None
    subject: str | None = None
    section_id: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    role: Role | None
    rules: tuple[str, ...]
    reason: str
    evidence: tuple[str, ...]
    code: str  # machine-readable reason, e.g. "terms_not_accepted"


def _unique(ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in ids if i))


def _deny(code: str, rule: str, reason: str, evidence: Iterable[str] = (), role: Role | None = None) -> Decision:
    return Decision(False, role, (rule,), reason, _unique(evidence), code)


def check(world: World, cal: LedgerCalendar, req: CheckRequest) -> Decision:
    """Decide a check (SPEC §7): allowed, role, deciding rules, evidence."""
    t = req.at
    person = world.person(req.person_id)
    registration = rules.person_is_registered(person, t)
    if registration is None:
        if not person.stream.exists:
            return _deny("unknown_person", "R1", "no registered account with this id")
        return _deny("not_registered", "R1", "the person was not registered at that time")

    org = world.org(req.org_id)
    if org is None:
        return _deny("unknown_organization", "R13", f"organization {req.org_id} is not known to the ledger")
    org_reg = org.registration
    assert org_reg is not None
    if org_reg.effective_at > t:
        return _deny(
            "organization_not_registered", "R13", f"{req.org_id} was not registered at that time", [org_reg.event_id]
        )

    grants = grants_at(world, cal, req.person_id, req.org_id, t)
    role = highest_role(grants)
    affiliation = rules.person_is_affiliated_with(person, req.org_id, t)
    if role is None:
        return _explain_no_role(world, cal, person, org, t, affiliation)

    # R13: the report must belong to the organization acted for.
    target: SchoolView | None = None
    if req.report is Report.DISTRICT_SCORE_SUMMARY:
        if not isinstance(org, DistrictView):
            return _deny(
                "report_needs_district_admin",
                "R11",
                "the district score summary is for district administrators acting for their district",
                _grant_evidence(grants),
                role,
            )
        if req.school_id is not None:
            target = world.school(req.school_id)
            if target.district_id != org.district_id:
                return _deny("other_organization", "R13", f"{req.school_id} is not a school of {req.org_id}", (), role)
    else:
        if req.school_id is None:
            return _deny("school_required", "R13", "school_id is required for this report", (), role)
        target = world.school(req.school_id)
        if isinstance(org, SchoolView) and req.school_id != org.school_id:
            return _deny(
                "other_organization",
                "R13",
                f"acting for {req.org_id}: access at {req.school_id} does not count (change organization)",
                (),
                role,
            )
        if isinstance(org, DistrictView) and target.district_id != org.district_id:
            return _deny("other_organization", "R13", f"{req.school_id} is not a school of {req.org_id}", (), role)

    terms = rules.person_has_accepted_terms(person, t)
    if terms is None:
        return _deny(
            "terms_not_accepted",
            "R2",
            f"terms of use not accepted; acceptance would unlock the {role} role at {req.org_id}",
            _grant_evidence(grants),
            role,
        )

    calendar = world.calendar()
    if not rules.exam_year_is_kept(calendar, cal, req.exam_year, t):
        kept = rules.kept_years(calendar, cal, t)
        shown = ", ".join(map(str, kept)) or "none (no scores released yet)"
        return _deny(
            "exam_year_not_kept", "R16", f"exam year {req.exam_year} is not kept; kept years: {shown}", (), role
        )
    release = rules.release_of_year(calendar, req.exam_year)
    base = [registration.event_id, terms.event_id, release.event_id if release else ""]
    role_rules = sorted({g.rule for g in grants if g.role is role})
    many = ["R12"] if len({g.role for g in grants}) > 1 else []

    if role is Role.DISTRICT_ADMIN:
        evidence = [*base, *_grant_evidence(g for g in grants if g.role is role)]
        return Decision(
            True,
            role,
            (*role_rules, *many, "R16"),
            f"district administrator of {req.org_id}: every report of its schools",
            _unique(evidence),
            "allowed",
        )
    if role is Role.SCHOOL_ADMIN:
        if req.report is Report.DISTRICT_SCORE_SUMMARY:  # already refused above for schools
            return _deny("report_needs_district_admin", "R11", "district reports need district access", (), role)
        evidence = [*base, *_grant_evidence(g for g in grants if g.role is role)]
        return Decision(
            True,
            role,
            (*role_rules, *many, "R16"),
            f"school administrator of {req.org_id}: every report of the school",
            _unique(evidence),
            "allowed",
        )
    assert isinstance(org, SchoolView)  # teachers hold roles at schools only
    assert target is not None
    return _teacher_decision(world, cal, req, person, org, grants, base)


def _grant_evidence(grants: Iterable[Grant]) -> list[str]:
    return [i for g in grants for i in g.evidence]


def _teacher_decision(
    world: World,
    cal: LedgerCalendar,
    req: CheckRequest,
    person: PersonView,
    school: SchoolView,
    grants: Sequence[Grant],
    base: list[str],
) -> Decision:
    t = req.at
    role = Role.TEACHER
    current_evidence = _grant_evidence(grants)
    if req.report not in TEACHER_REPORTS:
        return _deny(
            "outside_teacher_scope",
            "R4",
            f"teachers see only Instructional Planning Reports and their own section rosters, not {req.report}",
            current_evidence,
            role,
        )
    auths = rules.held_authorizations(person, school, req.exam_year, t, req.subject)
    if not auths:
        what = f"{req.subject} " if req.subject else ""
        return _deny(
            "subject_not_authorized",
            "R4",
            f"no {what}course authorization at {school.school_id} for school year {req.exam_year}",
            current_evidence,
            role,
        )
    if req.report is Report.INSTRUCTIONAL_PLANNING:
        if req.subject is None:
            return _deny("subject_required", "R4", "instructional planning reports are per subject", (), role)
        restricted = rules.restriction_in_force(school, person.person_id, t)
        extra = ("R6",) if restricted else ()
        reason = f"authorized for {req.subject} at {school.school_id} in school year {req.exam_year}"
        if restricted:
            reason += "; student data is restricted, but Instructional Planning Reports stay available"
        evidence = [*base, *current_evidence, auths[0].event_id, restricted.event_id if restricted else ""]
        return Decision(True, role, ("R3", "R4", *extra, "R16"), reason, _unique(evidence), "allowed")

    # subject_score_roster: a section the teacher was assigned that year, in an authorized subject.
    if req.section_id is None:
        return _deny("section_required", "R4", "a section roster names a section", (), role)
    found: tuple[ev.CourseAuthorized, ev.SectionAssigned] | None = None
    for auth in auths:
        for s in rules.sections_assigned(person, school, req.exam_year, auth.subject, t):
            if s.section_id == req.section_id:
                found = (auth, s)
                break
        if found:
            break
    if found is None:
        return _deny(
            "section_not_assigned",
            "R4",
            f"section {req.section_id} was not assigned to this teacher in an authorized subject in school year {req.exam_year}",
            current_evidence,
            role,
        )
    restricted = rules.restriction_in_force(school, person.person_id, t)
    if restricted is not None:
        return _deny(
            "student_data_restricted",
            "R6",
            "the principal restricted student-level data; Instructional Planning Reports stay available",
            [restricted.event_id],
            role,
        )
    evidence = [*base, *current_evidence, found[0].event_id, found[1].event_id]
    return Decision(
        True,
        role,
        ("R3", "R4", "R16"),
        f"section {req.section_id} ({found[0].subject}) in school year {req.exam_year}",
        _unique(evidence),
        "allowed",
    )


def _explain_no_role(
    world: World,
    cal: LedgerCalendar,
    person: PersonView,
    org: SchoolView | DistrictView,
    t: datetime,
    affiliation: ev.AffiliationAdded | None,
) -> Decision:
    """Name the rule that explains why the person holds no role at the organization."""
    pid = person.person_id
    if isinstance(org, SchoolView):
        sid = org.school_id
        removals = org.removals_of(pid)
        auths = [a for a in person.authorizations_at_school(sid) if a.effective_at <= t]
        if auths and org.homeschool:
            return _deny(
                "homeschool_organization",
                "R5",
                "course authorizations at a homeschool organization give no access to score reports",
                [a.event_id for a in auths],
            )
        ended = [r for r in removals if r.effective_at <= t]
        if ended:
            return _deny("access_removed", "R14", f"access at {sid} was removed", [ended[-1].event_id])
        if auths:
            current = rules.current_released_year(world.calendar(), cal, t)
            if current is None:
                return _deny("no_release_yet", "R3", "no scores released yet, so no teacher access", [])
            return _deny(
                "no_current_authorization",
                "R3",
                f"no course authorization at {sid} for school year {current.exam_year}, the current released year (renewal is yearly)",
                [current.event_id, *(a.event_id for a in auths)],
            )
        reds = [r for r in org.redemptions_of(pid) if r.effective_at <= t]
        if reds:
            return _deny(
                "code_access_ended",
                "R8",
                "the access code redeemed has expired or was revoked or reissued",
                [reds[-1].event_id],
            )
        grants = [g for g in person.system_grants if g.org_id == sid and g.effective_at <= t]
        if grants:
            return _deny(
                "system_access_removed", "R7", "system access at this school was removed", [grants[-1].event_id]
            )
    else:
        did = org.district_id
        adds = [a for a in org.additions_of(pid) if a.effective_at <= t]
        ended = [r for r in org.removals_of(pid) if r.effective_at <= t]
        if ended:
            return _deny("access_removed", "R14", f"access at {did} was removed", [ended[-1].event_id])
        if adds:
            return _deny(
                "outside_district_window",
                "R11",
                "district access is granted per access year (Aug 1 – Jul 31) and this one does not cover that time",
                [adds[-1].event_id],
            )
        grants = [g for g in person.system_grants if g.org_id == did and g.effective_at <= t]
        if grants:
            return _deny(
                "system_access_removed", "R7", "system access at this district was removed", [grants[-1].event_id]
            )
    if affiliation is None:
        return _deny(
            "not_connected_to_organization", "R13", f"the person holds no role or affiliation at {_org_id(org)}"
        )
    return _deny(
        "no_role",
        "R3",
        f"affiliated with {_org_id(org)} but holds no current-year course authorization and no administrator access",
        [affiliation.event_id],
    )


def _org_id(org: SchoolView | DistrictView) -> str:
    return org.school_id if isinstance(org, SchoolView) else org.district_id


# --- intervals --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A role held (or a level of data visible) over [valid_from, valid_to) through `sources`."""

    org_id: str
    role: Role
    valid_from: datetime
    valid_to: datetime | None
    sources: tuple[str, ...]
    school_id: str | None = None

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.valid_from < end and (self.valid_to is None or self.valid_to > start)


def boundaries(world: World, cal: LedgerCalendar, person_id: str, org_id: str) -> list[datetime]:
    """Every instant at which a decision about (person, organization) may change.

    That is: the person's own facts at this organization or at none (registration,
    terms), the organization's facts about them or about everyone (another person's
    redemption or removal changes nothing for them), code expiries, access-year
    windows and release days.
    """
    person = world.person(person_id)
    found: set[datetime] = {BEGINNING}
    for e in person.stream.events:
        if e.about_org() in (None, org_id):
            found.add(e.effective_at)
    org = world.org(org_id)
    if org is not None:
        for e in org.stream.events:
            if e.about_person() in (None, person_id):
                found.add(e.effective_at)
    if isinstance(org, SchoolView):
        for c in org.codes:
            found.add(cal.code_expiry(c.exam_year))
    elif isinstance(org, DistrictView):
        for a in org.additions:
            if a.person_id == person_id:
                found.update(cal.access_window(a.access_year))
    for r in world.calendar().releases:
        found.add(cal.release_start(r.released_on))
    return sorted(found)


Probe = Callable[[datetime], tuple[Role, tuple[str, ...]] | None]


def sweep(
    org_id: str,
    instants: Sequence[datetime],
    probe: Probe,
    school_id: str | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> list[Interval]:
    """Piecewise-constant intervals of `probe` over the (sorted) instants where it may change.

    With a `window`, only intervals overlapping [start, end) are wanted: the sweep probes
    the instants inside it, then extends the first and last intervals outward to their
    true ends, so they are reported whole, not clipped.
    """
    lo, hi = 0, len(instants)
    if window is not None:
        start, end = window
        lo = max(0, bisect.bisect_right(instants, start) - 1)  # the segment holding `start`
        hi = bisect.bisect_left(instants, end)
    values = {i: probe(instants[i]) for i in range(lo, hi)}

    def value(i: int) -> tuple[Role, tuple[str, ...]] | None:
        if i not in values:
            values[i] = probe(instants[i])
        return values[i]

    out: list[Interval] = []
    i = lo
    while i < hi:
        v = value(i)
        if v is None:
            i += 1
            continue
        first = i
        while first > 0 and value(first - 1) == v:  # began before the window
            first -= 1
        j = i + 1
        while j < len(instants) and value(j) == v:  # may run past the window
            j += 1
        until = instants[j] if j < len(instants) else None
        out.append(Interval(org_id, v[0], instants[first], until, v[1], school_id))
        i = j
    return out


def role_intervals(world: World, cal: LedgerCalendar, person_id: str, org_id: str) -> list[Interval]:
    """The person's highest role at the organization over valid time, with the grants behind it."""

    def probe(t: datetime) -> tuple[Role, tuple[str, ...]] | None:
        grants = grants_at(world, cal, person_id, org_id, t)
        role = highest_role(grants)
        if role is None:
            return None
        return role, _unique(sorted(i for g in grants if g.role is role for i in g.evidence))

    return sweep(org_id, boundaries(world, cal, person_id, org_id), probe)


def can_see_level(
    world: World,
    cal: LedgerCalendar,
    person_id: str,
    school_id: str | None,
    level: Level,
    t: datetime,
    via_org: str,
) -> tuple[Role, tuple[str, ...]] | None:
    """Whether the person, acting for `via_org`, could see `level` data (of one school, or of the district) at t.

    All of R1–R16 apply: registered (R1), terms accepted (R2), a role (R3, R7, R8, R11,
    less R5 and R14), a kept year released (R16), and for teachers their scope (R4) and
    restrictions (R6).
    """
    person = world.person(person_id)
    if rules.person_has_accepted_terms(person, t) is None:
        return None
    calendar = world.calendar()
    if rules.current_released_year(calendar, cal, t) is None:  # R16: no kept year, no report
        return None
    grants = grants_at(world, cal, person_id, via_org, t)
    role = highest_role(grants)
    if role is None:
        return None
    if role is not Role.TEACHER:
        return role, _unique(sorted(i for g in grants if g.role is role for i in g.evidence))
    assert school_id is not None
    school = world.school(school_id)
    if level is Level.STUDENT and rules.restriction_in_force(school, person_id, t) is not None:
        return None
    sources: list[str] = []
    for year in rules.kept_years(calendar, cal, t):
        for auth in rules.held_authorizations(person, school, year, t):
            if level is Level.AGGREGATE:
                sources.append(auth.event_id)
                continue
            sections = rules.sections_assigned(person, school, year, auth.subject, t)
            if sections:
                sources.append(auth.event_id)
                sources.extend(s.event_id for s in sections)
    if not sources:
        return None
    return role, _unique(sorted(sources))


def level_intervals(
    world: World,
    cal: LedgerCalendar,
    person_id: str,
    school_id: str | None,
    level: Level,
    via_org: str,
    window: tuple[datetime, datetime] | None = None,
) -> list[Interval]:
    """Intervals during which the person could see `level` data (R1–R16 all applied); with a
    window, only those overlapping it (whole)."""
    instants = set(boundaries(world, cal, person_id, via_org))
    if school_id is not None and school_id != via_org:
        instants |= set(boundaries(world, cal, person_id, school_id))

    def probe(t: datetime) -> tuple[Role, tuple[str, ...]] | None:
        return can_see_level(world, cal, person_id, school_id, level, t, via_org)

    return sweep(via_org, sorted(instants), probe, school_id, window)


def interval_at(intervals: Iterable[Interval], t: datetime) -> Interval | None:
    """The interval containing t, if any."""
    for i in intervals:
        if i.valid_from <= t and (i.valid_to is None or t < i.valid_to):
            return i
    return None


def merged_span(intervals: Sequence[Interval], t: datetime, role: Role) -> tuple[datetime, datetime | None]:
    """The maximal span around t during which `role` is held continuously (sources may change)."""
    same = [i for i in intervals if i.role is role]
    at = interval_at(same, t)
    assert at is not None
    start, end = at.valid_from, at.valid_to
    changed = True
    while changed:
        changed = False
        for i in same:
            if i.valid_to == start:
                start, changed = i.valid_from, True
            if end is not None and i.valid_from == end:
                end, changed = i.valid_to, True
    return start, end


# --- rights -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgRights:
    org_id: str
    role: Role | None
    roles: tuple[Role, ...]
    valid_from: datetime | None
    valid_to: datetime | None
    scopes: tuple[dict[str, object], ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Rights:
    person_id: str
    registered: bool
    terms_accepted: bool
    organizations: tuple[OrgRights, ...] = field(default_factory=tuple)


def orgs_of_person(world: World, person_id: str) -> list[str]:
    """Organizations the person is connected to by any fact in this world."""
    person = world.person(person_id)
    orgs = set(person.org_ids)
    for sid, stream in world.streams.items():
        if sid.startswith(("school:", "district:")) and any(e.about_person() == person_id for e in stream.events):
            orgs.add(sid.split(":", 1)[1])
    return sorted(o for o in orgs if world.org(o) is not None)


def rights(world: World, cal: LedgerCalendar, person_id: str, t: datetime) -> Rights:
    """Per organization: role, scopes, validity interval and grant sources at t (SPEC §7)."""
    person = world.person(person_id)
    registered = rules.person_is_registered(person, t) is not None
    terms = rules.person_has_accepted_terms(person, t) is not None
    if not registered:
        return Rights(person_id, False, terms)
    out: list[OrgRights] = []
    calendar = world.calendar()
    kept = rules.kept_years(calendar, cal, t)
    for org_id in orgs_of_person(world, person_id):
        grants = grants_at(world, cal, person_id, org_id, t)
        role = highest_role(grants)
        affiliated = rules.person_is_affiliated_with(person, org_id, t) is not None
        if role is None and not affiliated:
            continue
        org = world.org(org_id)
        valid_from: datetime | None = None
        valid_to: datetime | None = None
        scopes: list[dict[str, object]] = []
        sources = _unique(_grant_evidence(g for g in grants if g.role is role))
        if role is not None:
            valid_from, valid_to = merged_span(role_intervals(world, cal, person_id, org_id), t, role)
            scopes = _scopes(world, cal, person, org, role, kept, t)
        out.append(OrgRights(org_id, role, tuple(roles_of(grants)), valid_from, valid_to, tuple(scopes), sources))
    return Rights(person_id, True, terms, tuple(out))


def _scopes(
    world: World,
    cal: LedgerCalendar,
    person: PersonView,
    org: SchoolView | DistrictView | None,
    role: Role,
    kept: list[int],
    t: datetime,
) -> list[dict[str, object]]:
    if isinstance(org, DistrictView):
        schools = world.schools_of(org.district_id)
        return [
            {
                "schools": schools,
                "reports": [r.value for r in Report],
                "exam_years": kept,
                "levels": [Level.STUDENT.value, Level.AGGREGATE.value],
            }
        ]
    assert isinstance(org, SchoolView)
    if role is Role.SCHOOL_ADMIN:
        return [
            {
                "schools": [org.school_id],
                "reports": [r.value for r in SCHOOL_REPORTS],
                "exam_years": kept,
                "levels": [Level.STUDENT.value, Level.AGGREGATE.value],
            }
        ]
    restricted = rules.restriction_in_force(org, person.person_id, t) is not None
    out: list[dict[str, object]] = []
    for year in kept:
        for auth in rules.held_authorizations(person, org, year, t):
            sections = sorted(s.section_id for s in rules.sections_assigned(person, org, year, auth.subject, t))
            reports = [Report.INSTRUCTIONAL_PLANNING.value]
            levels = [Level.AGGREGATE.value]
            if sections and not restricted:
                reports.append(Report.SUBJECT_SCORE_ROSTER.value)
                levels.insert(0, Level.STUDENT.value)
            out.append(
                {
                    "schools": [org.school_id],
                    "subject": auth.subject,
                    "exam_year": year,
                    "school_year": year,
                    "sections": sections,
                    "reports": reports,
                    "levels": levels,
                    "restricted": restricted,
                }
            )
    return out
