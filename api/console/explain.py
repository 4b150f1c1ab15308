"""The console's explain page: one check's answer with its rules, reason and evidence, for any
person, organization, report, valid time and "as known on"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response

from api.console.rules_text import RULES, rule_text
from api.console.web import clean_id, container_of, instant, position_or_instant, render, router, signed_in
from api.params import ascii_int
from ledger.access.vocabulary import Report


@router.get("/explain")
def explain_page(
    request: Request,
    person_id: Annotated[str, Query(max_length=200)] = "",
    org_id: Annotated[str, Query(max_length=200)] = "",
    report: Annotated[str, Query(max_length=64)] = "",
    school_id: Annotated[str, Query(max_length=200)] = "",
    subject: Annotated[str, Query(max_length=200)] = "",
    section_id: Annotated[str, Query(max_length=200)] = "",
    exam_year: Annotated[str, Query(max_length=10)] = "",
    at: Annotated[str, Query(max_length=40)] = "",
    as_of: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    session = signed_in(request)
    container = container_of(request)
    queries, calendar = container.system.queries, container.calendar
    form = {
        "person_id": clean_id(person_id),
        "org_id": clean_id(org_id),
        "report": report.strip(),
        "school_id": clean_id(school_id),
        "subject": clean_id(subject),
        "section_id": clean_id(section_id),
        "exam_year": exam_year.strip(),
        "at": at.strip(),
        "as_of": as_of.strip(),
    }
    errors: list[str] = []
    answer = None
    evidence: list[tuple[str, Any]] = []
    status = 200
    submitted = any(form[k] for k in ("person_id", "org_id", "report"))
    if submitted:
        at_value = instant(calendar.parse_instant, form["at"], "At", errors)
        as_of_value = position_or_instant(queries, calendar.parse_instant, form["as_of"], "As known on", errors)
        try:
            report_value = Report(form["report"])
        except ValueError:
            report_value = None
            errors.append("Report: choose one of the listed reports")
        year: int | None = None
        year = ascii_int(form["exam_year"], low=1955, high=2200)
        if year is None:
            errors.append("Exam year: a year such as 2025")
        if not form["person_id"]:
            errors.append("Person: required")
        if not form["org_id"]:
            errors.append("Acting for: required")
        elif not queries.org_exists(form["org_id"]):
            errors.append(f"Acting for: no organization {form['org_id']} is known")
        if not form["school_id"] and report_value is not Report.DISTRICT_SCORE_SUMMARY:
            errors.append("School: required for this report")
        elif form["school_id"] and not queries.org_exists(form["school_id"]):
            errors.append(f"School: no school {form['school_id']} is known")
        if errors:
            status = 422
        else:
            assert report_value is not None
            assert year is not None
            answer = queries.check(
                person_id=form["person_id"],
                org_id=form["org_id"],
                report=report_value,
                exam_year=year,
                school_id=form["school_id"] or None,
                subject=form["subject"] or None,
                section_id=form["section_id"] or None,
                at=at_value,
                as_of=as_of_value,
            )
            for event_id in answer.decision.evidence:
                evidence.append((event_id, queries.record(event_id)))
    context = {
        "form": form,
        "errors": errors,
        "answer": answer,
        "evidence": evidence,
        "reports": list(Report),
        "rule_text": rule_text,
        "all_rules": list(RULES.values()),
        "at_shown": (instant(calendar.parse_instant, form["at"], "At", []) if form["at"] else None),
        "as_of_shown": (
            instant(calendar.parse_instant, form["as_of"], "As known on", [])
            if form["as_of"] and not form["as_of"].isdigit()
            else None
        ),
    }
    return render(request, "explain.html", context, session=session, status=status)
