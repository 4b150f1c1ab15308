"""The words of a check: roles, reports and data levels."""

from __future__ import annotations

from enum import StrEnum


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


SCHOOL_REPORTS = [r for r in Report if r is not Report.DISTRICT_SCORE_SUMMARY]


TEACHER_REPORTS = [Report.INSTRUCTIONAL_PLANNING, Report.SUBJECT_SCORE_ROSTER]
