"""R1–R16 (docs/rules.md) in plain words, for people settling disputes (ids are stable; the wording is ours)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleText:
    rule_id: str
    title: str
    plain: str


RULES: dict[str, RuleText] = {
    r.rule_id: r
    for r in (
        RuleText(
            "R1",
            "Registered account",
            "Only a person with a registered Professional account can hold any access. An unknown person, or "
            "one not yet registered at that time, is simply told no.",
        ),
        RuleText(
            "R2",
            "Terms of use",
            "A person who had not accepted the terms of use at that time is denied, whatever else they hold.",
        ),
        RuleText(
            "R3",
            "Teacher for the current year",
            "A person is a teacher at a school while they hold a course authorization there for the school year "
            "of the latest released scores. When the next year's scores are released, a new authorization is "
            "needed.",
        ),
        RuleText(
            "R4",
            "What a teacher sees",
            "A teacher sees, for each kept exam year, the score rosters of the sections they were assigned in a "
            "subject they were authorized for that year, and the Instructional Planning Report of those "
            "subjects. Nothing else of the school.",
        ),
        RuleText(
            "R5",
            "Homeschool organizations",
            "Course authorizations at a homeschool organization give no access to score reports.",
        ),
        RuleText(
            "R6",
            "Restricted student data",
            "While the principal restricts student data (for all teachers or for this teacher), the teacher is "
            "denied student-level reports and keeps the aggregate Instructional Planning Reports.",
        ),
        RuleText(
            "R7",
            "Administrator through system access",
            "Registration-and-ordering or course-audit access makes a person school administrator of that "
            "school (district administrator of that district) while it lasts.",
        ),
        RuleText(
            "R8",
            "School administrator through the access code",
            "Redeeming the school's valid access code makes a person school administrator until the code "
            "expires (end of July 31 after its exam year), is revoked or reissued, or the person is removed.",
        ),
        RuleText(
            "R9",
            "Five staff per school and exam year",
            "At most five staff besides the principal hold access through a school's code of one exam year at "
            "any moment, reissues included; a sixth redemption is refused. A removal frees a place.",
        ),
        RuleText(
            "R10",
            "Redeeming a code",
            "The person must be registered and affiliated with the school, and the code must match and be "
            "unexpired and unrevoked. Repeated wrong codes lock the person out of redeeming for a while.",
        ),
        RuleText(
            "R11",
            "District administrator",
            "The superintendent's addition for an access year makes a person district administrator from "
            "August 1 of that year (or later, if added later) until the next August 1. A district administrator "
            "sees every report of every school in the district.",
        ),
        RuleText(
            "R12",
            "Highest role decides",
            "Within one organization the highest role counts: school-administrator access supersedes teacher access.",
        ),
        RuleText(
            "R13",
            "One organization at a time",
            "A decision is made for the organization the person acts for; access held at another organization "
            "does not count (the person must change organization).",
        ),
        RuleText(
            "R14",
            "Removal",
            "A removal by the school's principal (or the district's superintendent) ends every role the person "
            "holds at that organization from its effective time. Grants effective after the removal count again.",
        ),
        RuleText(
            "R15",
            "Voided events",
            "A voided event counts as never recorded for every 'as known on' time after the void; earlier ones "
            "still see it.",
        ),
        RuleText(
            "R16",
            "Kept exam years",
            "Reports exist only for the kept exam years (the latest released year and the four before it); "
            "any other exam year is denied.",
        ),
    )
}


def rule_text(rule_id: str) -> RuleText:
    """The plain description of a rule id; an unknown id is shown as itself."""
    return RULES.get(rule_id) or RuleText(rule_id, rule_id, "")
