"""The check: may P, acting for O, see report R of exam year Y at valid time t — and why."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ledger import events as ev
from ledger.access.grants import Grant, grant_evidence, grants_at, highest_role, unique
from ledger.access.vocabulary import TEACHER_REPORTS, Report, Role
from ledger.calendar import LedgerCalendar
from ledger.rules.accounts import person_has_accepted_terms, person_is_affiliated_with, person_is_registered
from ledger.rules.admins import district_access_is_held, system_access_is_held
from ledger.rules.codes import redemption_is_held
from ledger.rules.enders import effective_by
from ledger.rules.removals import latest_removal
from ledger.rules.teachers import school_gives_teacher_access, teacher_scopes
from ledger.rules.years import current_released_year, exam_year_is_kept, kept_years, release_of_year
from ledger.streams import DistrictView, PersonView, SchoolView
from ledger.world import World


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


def _deny(code: str, rule: str, reason: str, evidence: Iterable[str] = (), role: Role | None = None) -> Decision:
    return Decision(False, role, (rule,), reason, unique(evidence), code)


def check(world: World, calendar: LedgerCalendar, req: CheckRequest) -> Decision:
    """Decide a check: allowed, role, deciding rules, evidence."""
    t = req.at
    person = world.person(req.person_id)
    registration = person_is_registered(person, t)
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

    grants = grants_at(world, calendar, req.person_id, req.org_id, t)
    role = highest_role(grants)
    affiliation = person_is_affiliated_with(person, req.org_id, t)
    if role is None:
        return why_no_role(world, calendar, person, org, t, affiliation)

    # R13: the report must belong to the organization acted for.
    target: SchoolView | None = None
    if req.report is Report.DISTRICT_SCORE_SUMMARY:
        if not isinstance(org, DistrictView):
            return _deny(
                "report_needs_district_admin",
                "R11",
                "the district score summary is for district administrators acting for their district",
                grant_evidence(grants),
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

    terms = person_has_accepted_terms(person, t)
    if terms is None:
        return _deny(
            "terms_not_accepted",
            "R2",
            f"terms of use not accepted; acceptance would unlock the {role} role at {req.org_id}",
            grant_evidence(grants),
            role,
        )

    releases = world.releases()
    if not exam_year_is_kept(releases, calendar, req.exam_year, t):
        kept = kept_years(releases, calendar, t)
        shown = ", ".join(map(str, kept)) or "none (no scores released yet)"
        return _deny(
            "exam_year_not_kept", "R16", f"exam year {req.exam_year} is not kept; kept years: {shown}", (), role
        )
    release = release_of_year(releases, req.exam_year)
    base = [registration.event_id, terms.event_id, release.event_id if release else ""]
    role_rules = sorted({g.rule for g in grants if g.role is role})
    many = ["R12"] if len({g.role for g in grants}) > 1 else []

    if role is Role.DISTRICT_ADMIN:
        evidence = [*base, *grant_evidence(g for g in grants if g.role is role)]
        return Decision(
            True,
            role,
            (*role_rules, *many, "R16"),
            f"district administrator of {req.org_id}: every report of its schools",
            unique(evidence),
            "allowed",
        )
    if role is Role.SCHOOL_ADMIN:
        if req.report is Report.DISTRICT_SCORE_SUMMARY:  # already refused above for schools
            return _deny("report_needs_district_admin", "R11", "district reports need district access", (), role)
        evidence = [*base, *grant_evidence(g for g in grants if g.role is role)]
        return Decision(
            True,
            role,
            (*role_rules, *many, "R16"),
            f"school administrator of {req.org_id}: every report of the school",
            unique(evidence),
            "allowed",
        )
    assert isinstance(org, SchoolView)  # teachers hold roles at schools only
    assert target is not None
    return _teacher_decision(world, calendar, req, person, org, grants, base)


def _teacher_decision(
    world: World,
    calendar: LedgerCalendar,
    req: CheckRequest,
    person: PersonView,
    school: SchoolView,
    grants: Sequence[Grant],
    base: list[str],
) -> Decision:
    t = req.at
    role = Role.TEACHER
    current_evidence = grant_evidence(grants)
    if req.report not in TEACHER_REPORTS:
        return _deny(
            "outside_teacher_scope",
            "R4",
            f"teachers see only Instructional Planning Reports and their own section rosters, not {req.report}",
            current_evidence,
            role,
        )
    scopes = teacher_scopes(person, school, [req.exam_year], t, req.subject)
    if not scopes:
        what = f"{req.subject} " if req.subject else ""
        return _deny(
            "subject_not_authorized",
            "R4",
            f"no {what}course authorization at {school.school_id} for school year {req.exam_year}",
            current_evidence,
            role,
        )
    restricted = scopes[0].restriction
    if req.report is Report.INSTRUCTIONAL_PLANNING:
        if req.subject is None:
            return _deny("subject_required", "R4", "instructional planning reports are per subject", (), role)
        extra = ("R6",) if restricted else ()
        reason = f"authorized for {req.subject} at {school.school_id} in school year {req.exam_year}"
        if restricted:
            reason += "; student data is restricted, but Instructional Planning Reports stay available"
        evidence = [
            *base,
            *current_evidence,
            scopes[0].authorization.event_id,
            restricted.event_id if restricted else "",
        ]
        return Decision(True, role, ("R3", "R4", *extra, "R16"), reason, unique(evidence), "allowed")

    # subject_score_roster: a section the teacher was assigned that year, in an authorized subject.
    if req.section_id is None:
        return _deny("section_required", "R4", "a section roster names a section", (), role)
    found = next(
        ((scope.authorization, s) for scope in scopes for s in scope.sections if s.section_id == req.section_id), None
    )
    if found is None:
        return _deny(
            "section_not_assigned",
            "R4",
            f"section {req.section_id} was not assigned to this teacher in an authorized subject in school year {req.exam_year}",
            current_evidence,
            role,
        )
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
        unique(evidence),
        "allowed",
    )


def why_no_role(
    world: World,
    calendar: LedgerCalendar,
    person: PersonView,
    org: SchoolView | DistrictView,
    t: datetime,
    affiliation: ev.AffiliationAdded | None,
) -> Decision:
    """Name the rule that explains why the person holds no role at the organization (the check's
    refusal, and the rights' explanation of an organization where no role is held)."""
    pid = person.person_id
    if isinstance(org, SchoolView):
        sid = org.school_id
        removals = org.removals_of(pid)
        auths = effective_by(person.authorizations_at_school(sid), t)
        if auths and not school_gives_teacher_access(org):
            return _deny(
                "homeschool_organization",
                "R5",
                "course authorizations at a homeschool organization give no access to score reports",
                [a.event_id for a in auths],
            )
        removal = latest_removal(removals, t)
        if removal is not None:
            return _deny("access_removed", "R14", f"access at {sid} was removed", [removal.event_id])
        if auths:
            current = current_released_year(world.releases(), calendar, t)
            if current is None:
                return _deny("no_release_yet", "R3", "no scores released yet, so no teacher access", [])
            return _deny(
                "no_current_authorization",
                "R3",
                f"no course authorization at {sid} for school year {current.exam_year}, the current released year (renewal is yearly)",
                [current.event_id, *(a.event_id for a in auths)],
            )
        redemptions = [
            r for r in effective_by(org.redemptions_of(pid), t) if not redemption_is_held(r, org, calendar, t)
        ]
        if redemptions:
            return _deny(
                "code_access_ended",
                "R8",
                "the access code redeemed has expired or was revoked or reissued",
                [redemptions[-1].event_id],
            )
    else:
        removal = latest_removal(org.removals_of(pid), t)
        if removal is not None:
            return _deny("access_removed", "R14", f"access at {org.district_id} was removed", [removal.event_id])
        additions = [
            a for a in effective_by(org.additions_of(pid), t) if not district_access_is_held(a, org, calendar, t)
        ]
        if additions:
            return _deny(
                "outside_district_window",
                "R11",
                "district access is granted per access year (Aug 1 – Jul 31) and this one does not cover that time",
                [additions[-1].event_id],
            )
    org_id = _org_id(org)
    removals = org.removals_of(pid)
    grants = [
        g for g in effective_by(person.system_grants_at(org_id), t) if not system_access_is_held(g, person, removals, t)
    ]
    if grants:
        kind = "school" if isinstance(org, SchoolView) else "district"
        return _deny("system_access_removed", "R7", f"system access at this {kind} was removed", [grants[-1].event_id])
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
