"""A deterministic, seeded synthetic national history, as ledger commands in the order the ledger learns them.

The history is a discrete-event simulation: *intents* (a school's new school year, a
teacher's yearly authorization, a code issuance, a late removal...) wait in a heap
ordered by time and are resolved when popped, against the simulation's state at that
instant, into zero or more commands. Every command of one intent shares the intent's
instant, so the emitted times never decrease; a late removal carries an `effective_at`
weeks before that instant. Only the heap and the entities' small state live in memory:
generation streams.

Proportions at scale 1.0 are national (about 23,000 schools, 5,000 districts and
150,000 AP teachers); a tier picks the scale that yields its number of events (see
`scale_for`). The same seed and version always give the same commands.

Two things only the loader can fill in are left as placeholders: access codes
(`"@code:<school>:<year>"`, returned once by `issue_access_code`) and the event ids
that voids name (`"@ev:<label>"`). `Item.label` says which outcome defines a label.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from ledger.calendar import LedgerCalendar

GENERATOR_VERSION = 1  # bump whenever the commands a seed yields change: cached databases are keyed on it

TIERS: dict[str, int] = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000, "5m": 5_000_000}

# The national proportions (scale 1.0).
NATIONAL_SCHOOLS = 23_000
NATIONAL_DISTRICTS = 5_000
NATIONAL_TEACHERS = 150_000
TEACHERS_PER_SCHOOL = NATIONAL_TEACHERS / NATIONAL_SCHOOLS

CAL = LedgerCalendar()
FIRST_SCHOOL_YEAR = 2022  # school year 2022 = 2021-22
LAST_SCHOOL_YEAR = 2026  # five school years; exam years 2022..2026 released, the five kept years at NOW


def _ts(d: date, hour: int = 0) -> int:
    """Seconds since the epoch of an hour of a day in the ledger's zone."""
    return int(CAL.start_of_day(d).timestamp()) + hour * 3600


START = _ts(date(2021, 6, 1), 8)
NOW = _ts(date(2026, 8, 20))  # the end of the history: "now" for the benchmark's queries
DAY = 86_400

SUBJECTS = (
    "AP-2D-ART",
    "AP-3D-ART",
    "AP-ART-HIST",
    "AP-BIO",
    "AP-CALC-AB",
    "AP-CALC-BC",
    "AP-CHEM",
    "AP-CHIN",
    "AP-CSA",
    "AP-CSP",
    "AP-DRAW",
    "AP-MACRO",
    "AP-MICRO",
    "AP-LANG",
    "AP-LIT",
    "AP-ENV",
    "AP-EURO",
    "AP-FRENCH",
    "AP-GERMAN",
    "AP-GOV-COMP",
    "AP-GOV",
    "AP-HUG",
    "AP-ITAL",
    "AP-JAPAN",
    "AP-LATIN",
    "AP-MUSIC",
    "AP-PHYS-1",
    "AP-PHYS-2",
    "AP-PHYS-CM",
    "AP-PHYS-CEM",
    "AP-PSYCH",
    "AP-RESEARCH",
    "AP-SEMINAR",
    "AP-SPAN-LANG",
    "AP-SPAN-LIT",
    "AP-STAT",
    "AP-USH",
    "AP-WORLD",
    "AP-PRECALC",
    "AP-AAS",
)
# Popular subjects are taught far more often (a Zipf-like weight).
_SUBJECT_WEIGHTS = tuple(1.0 / (1 + (i * 7) % len(SUBJECTS)) ** 0.8 for i in range(len(SUBJECTS)))
FIRST = (
    "Avery",
    "Jordan",
    "Priya",
    "Marcus",
    "Elena",
    "Sam",
    "Hannah",
    "Diego",
    "Grace",
    "Tom",
    "Ruth",
    "Omar",
    "Linda",
    "Robert",
    "Keisha",
    "Dana",
    "Victor",
    "Nina",
    "Claire",
    "Ahmed",
    "Mei",
    "Kofi",
    "Sofia",
    "Liam",
)
LAST = (
    "Brooks",
    "Kim",
    "Natarajan",
    "Bell",
    "Ruiz",
    "Okafor",
    "Lee",
    "Alvarez",
    "Chen",
    "Walsh",
    "Adler",
    "Haddad",
    "Park",
    "Diaz",
    "Moore",
    "Whitfield",
    "Osei",
    "Patel",
    "Dubois",
    "Rahman",
    "Nguyen",
    "Smith",
)
TITLES = ("AP Coordinator", "Department Chair", "Counselor", "Assistant Principal", "Teacher")


class Item(NamedTuple):
    """One command and the instant (epoch seconds) at which the ledger learns it.

    `label`, if set, names what the command's outcome defines for later commands:
    `code:<school>:<year>` (the code it returns) or `ev:<n>` (its first event's id).
    """

    t: int
    command: dict[str, Any]
    label: str | None = None


def iso(t: int) -> str:
    """An instant as ISO-8601 with offset, as clients send `effective_at`."""
    return datetime.fromtimestamp(t, UTC).isoformat()


@dataclass(slots=True)
class Teacher:
    pid: str
    subjects: list[str]
    active: bool = True  # renews next school year
    left: bool = False  # removed and no longer affiliated: nothing more happens at this school
    first_auth: int | None = None  # instant of the first authorization here
    authorized: dict[int, list[str]] = field(default_factory=dict)  # school year -> subjects
    withdrawn: bool = False
    sections: list[tuple[int, str, str]] = field(default_factory=list)  # latest (school year, subject, section)


@dataclass(slots=True)
class Code:
    year: int
    issued: int
    end: int
    principal: str
    revoked: int | None = None
    holders: dict[str, int] = field(default_factory=dict)  # person -> redemption instant
    removed: set[str] = field(default_factory=set)


@dataclass(slots=True)
class School:
    sid: str
    district: str | None
    homeschool: bool
    head: str = ""  # the person who runs the school (designated principal each school year)
    principals: list[tuple[int, str]] = field(default_factory=list)  # designations: (effective instant, person)
    principal_for_year: dict[int, str] = field(default_factory=dict)
    staff: list[str] = field(default_factory=list)
    teachers: list[Teacher] = field(default_factory=list)
    restricted: bool = False
    codes: dict[int, Code] = field(default_factory=dict)
    coordinator: str | None = None  # holds course_audit system access (R7)
    sections: int = 0

    def principal_at(self, t: int) -> str | None:
        found = None
        for when, pid in self.principals:
            if when > t:
                break
            found = pid
        return found


@dataclass(slots=True)
class District:
    did: str
    superintendent: str = ""
    staff: list[str] = field(default_factory=list)
    schools: list[str] = field(default_factory=list)
    added: dict[tuple[str, int], bool] = field(default_factory=dict)  # (person, access year) -> still pending
    registration_grant: str | None = None


@dataclass(frozen=True)
class Plan:
    """The sizes of one history."""

    scale: float
    districts: int
    schools: int
    homeschools: int
    teachers_per_school: float


def plan_for_scale(scale: float) -> Plan:
    return Plan(
        scale=scale,
        districts=max(1, round(NATIONAL_DISTRICTS * scale)),
        schools=max(3, round(NATIONAL_SCHOOLS * scale)),
        homeschools=max(1, round(8 * scale)),
        teachers_per_school=TEACHERS_PER_SCHOOL,
    )


class History:
    """The simulation. Iterate it for `Item`s; afterwards `meta()` describes what was generated."""

    def __init__(self, plan: Plan, seed: int = 1) -> None:
        self.plan = plan
        self.seed = seed
        self.rng = random.Random(f"ledger-bench:{GENERATOR_VERSION}:{seed}")
        self._heap: list[tuple[int, int, Callable[..., list[Item]], tuple[Any, ...]]] = []
        self._seq = 0
        self._persons = 0
        self._labels = 0
        self.schools: dict[str, School] = {}
        self.districts: dict[str, District] = {}
        self.counts: dict[str, int] = {}
        self.events = 0
        self.teachers_ever = 0
        self.done = False

    # --- scheduling -------------------------------------------------------------------------

    def at(self, t: int, fn: Callable[..., list[Item]], *args: Any) -> None:
        """Resolve `fn(t, *args)` at instant t (dropped if after NOW)."""
        if t >= NOW:
            return
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, fn, args))

    def __iter__(self) -> Iterator[Item]:
        self._build()
        heap = self._heap
        while heap:
            t, _, fn, args = heapq.heappop(heap)
            for item in fn(t, *args):
                kind = item.command["type"]
                self.counts[kind] = self.counts.get(kind, 0) + 1
                self.events += 1
                yield item
        self.done = True

    # --- helpers --------------------------------------------------------------------------------

    def u(self, a: int, b: int) -> int:
        return self.rng.randint(a, b)

    def new_person(self, t: int, out: list[Item], *orgs: str) -> str:
        """Register a person, affiliate them with `orgs` and accept the terms, all at t."""
        self._persons += 1
        pid = f"P-{self._persons:07d}"
        name = f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}"
        e = iso(t)
        out.append(
            Item(
                t,
                {
                    "type": "register_person",
                    "person_id": pid,
                    "name": name,
                    "email": f"{pid.lower()}@schools.example.org",
                    "effective_at": e,
                },
            )
        )
        for org in orgs:
            out.append(Item(t, {"type": "add_affiliation", "person_id": pid, "org_id": org, "effective_at": e}))
        out.append(Item(t, {"type": "accept_terms", "person_id": pid, "terms_version": "2021-06", "effective_at": e}))
        return pid

    def subjects(self) -> list[str]:
        k = self.rng.choices((1, 2, 3), weights=(75, 22, 3))[0]
        chosen: list[str] = []
        while len(chosen) < k:
            s = self.rng.choices(SUBJECTS, weights=_SUBJECT_WEIGHTS)[0]
            if s not in chosen:
                chosen.append(s)
        return chosen

    def new_label(self) -> str:
        self._labels += 1
        return f"ev:{self._labels}"

    def new_teacher(self, t: int, school: School, out: list[Item]) -> Teacher:
        teacher = Teacher(self.new_person(t, out, school.sid), self.subjects())
        school.teachers.append(teacher)
        self.teachers_ever += 1
        return teacher

    # --- the initial plan ---------------------------------------------------------------------

    def _build(self) -> None:
        p, rng = self.plan, self.rng
        districts = [District(f"D-{i + 1:05d}") for i in range(p.districts)]
        self.districts = {d.did: d for d in districts}
        # A few percent of schools belong to no district; the rest are spread with a long tail.
        weights = [rng.paretovariate(1.3) for _ in districts]
        for i in range(p.schools):
            sid = f"S-{i + 1:06d}"
            if i < len(districts):
                district: District | None = districts[i]  # every district has a school
            elif rng.random() < 0.04:
                district = None
            else:
                district = rng.choices(districts, weights=weights)[0]
            school = School(sid, district.did if district else None, False)
            self.schools[sid] = school
            if district:
                district.schools.append(sid)
        for i in range(p.homeschools):
            hid = f"H-{i + 1:03d}"
            self.schools[hid] = School(hid, None, True)
        # Setup through June 2021, district by district (then the schools without one).
        span = 28 * DAY
        groups: list[District | None] = [*districts, None]
        for i, d in enumerate(groups):
            self.at(START + i * span // len(groups), self._setup_district, d)
        for year in range(FIRST_SCHOOL_YEAR - 1, LAST_SCHOOL_YEAR + 1):
            self.at(_ts(date(year, 8, 1), 5), self._year_start, year + 1)
            self.at(_ts(date(year, 7, 18), 9), self._district_year, year)
            if year >= FIRST_SCHOOL_YEAR:
                self.at(_ts(date(year, 7, 6 + rng.randrange(5)), 9), self._release, year)

    def _setup_district(self, t: int, d: District | None) -> list[Item]:
        out: list[Item] = []
        e = iso(t)
        if d is not None:
            out.append(
                Item(
                    t,
                    {"type": "register_district", "district_id": d.did, "name": f"District {d.did}", "effective_at": e},
                )
            )
            d.superintendent = self.new_person(t, out, d.did)
            out.append(
                Item(
                    t,
                    {
                        "type": "designate_superintendent",
                        "district_id": d.did,
                        "person_id": d.superintendent,
                        "effective_at": e,
                    },
                )
            )
            for _ in range(1 + self.rng.randrange(3)):
                d.staff.append(self.new_person(t, out, d.did))
            if self.rng.random() < 0.03:
                d.registration_grant = d.staff[0]
                out.append(
                    Item(
                        t,
                        {
                            "type": "grant_system_access",
                            "person_id": d.staff[0],
                            "org_id": d.did,
                            "system": "registration_ordering",
                            "effective_at": e,
                        },
                    )
                )
            schools = [self.schools[s] for s in d.schools]
        else:
            schools = [s for s in self.schools.values() if s.district is None]
        for j, school in enumerate(schools):
            self.at(t + 60 * (j + 1), self._setup_school, school)
        return out

    def _setup_school(self, t: int, school: School) -> list[Item]:
        out: list[Item] = []
        e = iso(t)
        cmd: dict[str, Any] = {
            "type": "register_school",
            "school_id": school.sid,
            "name": f"{'Homeschool Organization' if school.homeschool else 'High School'} {school.sid}",
            "effective_at": e,
        }
        if school.district:
            cmd["district_id"] = school.district
        if school.homeschool:
            cmd["homeschool"] = True
        out.append(Item(t, cmd))
        if school.homeschool:
            count = max(5, round(30 * self.plan.teachers_per_school / 6.5))
        else:
            # About 6.5 AP teachers per school, a few schools with many.
            count = 1 + int(self.rng.expovariate(1 / (self.plan.teachers_per_school - 0.5)))
            school.head = self.new_person(t, out, school.sid)
            for _ in range(1 + self.rng.randrange(4)):
                school.staff.append(self.new_person(t, out, school.sid))
            if self.rng.random() < 0.10:
                school.coordinator = school.staff[0]
                out.append(
                    Item(
                        t,
                        {
                            "type": "grant_system_access",
                            "person_id": school.staff[0],
                            "org_id": school.sid,
                            "system": "course_audit",
                            "effective_at": e,
                        },
                    )
                )
        for _ in range(count):
            self.new_teacher(t, school, out)
        return out

    # --- yearly rhythm ----------------------------------------------------------------------------

    def _year_start(self, t: int, school_year: int) -> list[Item]:
        """Aug 1: every school starts a school year; mid-year surprises are scheduled."""
        y = school_year - 1  # the calendar year of this autumn
        for school in self.schools.values():
            self.at(t + self.u(0, 19 * DAY), self._school_year, school, school_year)
            if school.homeschool:
                continue
            if self.rng.random() < 0.015:
                self.at(_ts(date(y, 11, 1), 14) + self.u(0, 150 * DAY), self._restrict, school)
            if self.rng.random() < 0.007:
                self.at(_ts(date(y + 1, 1, 5), 15) + self.u(0, 80 * DAY), self._revoke, school, y)
            if self.rng.random() < 0.04:
                self.at(_ts(date(y, 10, 1), 15) + self.u(0, 200 * DAY), self._system_access, school)
            for teacher in school.teachers:
                r = self.rng.random()
                if r < 0.015:
                    late = self.u(14 * DAY, 42 * DAY) if self.rng.random() < 0.35 else 0
                    self.at(_ts(date(y, 11, 1), 16) + self.u(0, 200 * DAY), self._teacher_leaves, school, teacher, late)
                elif r < 0.025:
                    self.at(
                        _ts(date(y, 11, 1), 16) + self.u(0, 150 * DAY), self._withdraw, school, teacher, school_year
                    )
                elif r < 0.045:
                    self.at(_ts(date(y, 10, 1), 17) + self.u(0, 200 * DAY), self._profile, teacher.pid)
        return []

    def _school_year(self, t: int, school: School, school_year: int) -> list[Item]:
        out: list[Item] = []
        e = iso(t)
        first = school_year == FIRST_SCHOOL_YEAR
        if not school.homeschool:
            if not first and self.rng.random() < 0.08:
                school.head = self.new_person(t, out, school.sid)  # a new principal
            current = school.head
            school.principals.append((t, current))
            school.principal_for_year[school_year] = current
            out.append(
                Item(
                    t,
                    {
                        "type": "designate_principal",
                        "school_id": school.sid,
                        "person_id": current,
                        "exam_year": school_year,
                        "effective_at": e,
                    },
                )
            )
        if not first:
            gone = 0
            for teacher in school.teachers:
                if teacher.left:
                    gone += 1
                elif teacher.active and self.rng.random() < 0.07:
                    teacher.active = False  # lapses: does not renew
                    gone += 1
            school.teachers = [x for x in school.teachers if not x.left]
            for _ in range(sum(1 for _ in range(gone) if self.rng.random() < 0.9)):
                self.new_teacher(t, school, out)
        version = f"{school_year - 1}-08"
        for teacher in school.teachers:
            if not teacher.active:
                continue
            if self.rng.random() < 0.05:
                extra = self.rng.choice(SUBJECTS)
                if extra not in teacher.subjects:
                    teacher.subjects.append(extra)
            if not first and self.rng.random() < 0.25:
                out.append(
                    Item(
                        t,
                        {"type": "accept_terms", "person_id": teacher.pid, "terms_version": version, "effective_at": e},
                    )
                )
            self.at(
                _ts(date(school_year - 1, 9, 1), 12) + self.u(0, 60 * DAY),
                self._authorize,
                school,
                teacher,
                school_year,
            )
        return out

    def _authorize(self, t: int, school: School, teacher: Teacher, school_year: int) -> list[Item]:
        if teacher.left or not teacher.active:
            return []
        out: list[Item] = []
        e = iso(t)
        teacher.authorized[school_year] = list(teacher.subjects)
        teacher.sections = []
        if teacher.first_auth is None:
            teacher.first_auth = t
        base = {"person_id": teacher.pid, "school_id": school.sid, "school_year": school_year, "effective_at": e}
        for subject in teacher.subjects:
            out.append(Item(t, {"type": "authorize_course", "subject": subject, **base}))
            for _ in range(self.rng.choices((1, 2, 3), weights=(60, 30, 10))[0]):
                school.sections += 1
                section = f"{subject[3:]}-{school_year}-{school.sections}"
                teacher.sections.append((school_year, subject, section))
                out.append(Item(t, {"type": "assign_section", "subject": subject, "section_id": section, **base}))
        r = self.rng.random()
        if r < 0.006:  # the wrong subject, voided a few days later
            wrong = next(
                s for s in SUBJECTS[self.rng.randrange(len(SUBJECTS)) :] + SUBJECTS if s not in teacher.subjects
            )
            label = self.new_label()
            out.append(Item(t, {"type": "authorize_course", "subject": wrong, **base}, label))
            self.at(t + self.u(2 * DAY, 10 * DAY), self._void, label, "authorized for the wrong subject")
        elif r < 0.009:  # a section entered twice under a wrong id
            label = self.new_label()
            out.append(
                Item(
                    t,
                    {
                        "type": "assign_section",
                        "subject": teacher.subjects[0],
                        "section_id": f"X-{school.sid}-{school_year}-{self._labels}",
                        **base,
                    },
                    label,
                )
            )
            self.at(t + self.u(1 * DAY, 6 * DAY), self._void, label, "section entered twice")
        return out

    def _void(self, t: int, label: str, reason: str) -> list[Item]:
        return [Item(t, {"type": "void_event", "event_id": f"@{label}", "reason": reason, "effective_at": iso(t)})]

    # --- scores, codes, redemptions ---------------------------------------------------------------

    def _release(self, t: int, exam_year: int) -> list[Item]:
        day = datetime.fromtimestamp(t, CAL.zone).date()
        for school in self.schools.values():
            if not school.homeschool:
                self.at(t + self.u(3600, 12 * DAY), self._issue, school, exam_year, False)
        return [
            Item(
                t,
                {
                    "type": "release_scores",
                    "exam_year": exam_year,
                    "released_on": day.isoformat(),
                    "effective_at": iso(t),
                },
            )
        ]

    def _issue(self, t: int, school: School, exam_year: int, reissue: bool) -> list[Item]:
        principal = school.principal_for_year.get(exam_year)
        if principal is None:
            return []
        label = f"code:{school.sid}:{exam_year}"
        out = [
            Item(
                t,
                {"type": "issue_access_code", "school_id": school.sid, "exam_year": exam_year, "effective_at": iso(t)},
                label,
            )
        ]
        if reissue:  # the new issuance supersedes the old code (one event, no revocation)
            school.codes[exam_year].revoked = t
        code = Code(exam_year, t, int(CAL.code_expiry(exam_year).timestamp()), principal)
        school.codes[exam_year] = code
        if reissue:
            return out
        if self.rng.random() < 0.02:
            self.at(t + DAY, self._issue, school, exam_year, True)
        candidates = list(school.staff)
        teachers = [x for x in school.teachers if x.active and not x.left]
        if teachers:
            candidates.append(self.rng.choice(teachers).pid)  # a department chair, say
        k = min(len(candidates), self.rng.choices(range(6), weights=(10, 20, 25, 20, 15, 10))[0])
        for pid in self.rng.sample(candidates, k):
            when = t + self.u(2 * DAY, 60 * DAY)
            self.at(when, self._redeem, school, exam_year, pid)
            if pid in school.staff and self.rng.random() < 0.05:  # a teacher's removal would end teaching too
                recorded = when + self.u(30 * DAY, 120 * DAY)
                late = self.u(14 * DAY, 42 * DAY) if self.rng.random() < 0.4 else 0
                self.at(recorded, self._remove_staff, school, exam_year, pid, late)
        if self.rng.random() < 0.4:
            self.at(t + self.u(2 * DAY, 20 * DAY), self._redeem, school, exam_year, principal)
        return out

    def _redeem(self, t: int, school: School, exam_year: int, pid: str) -> list[Item]:
        code = school.codes.get(exam_year)
        if code is None or (code.revoked is not None and code.revoked <= t) or t >= code.end:
            return []
        if pid in code.holders:
            return []
        for teacher in school.teachers:
            if teacher.pid == pid and teacher.left:
                return []
        code.holders[pid] = t
        return [
            Item(
                t,
                {
                    "type": "redeem_access_code",
                    "school_id": school.sid,
                    "exam_year": exam_year,
                    "person_id": pid,
                    "code": f"@code:{school.sid}:{exam_year}",
                    "effective_at": iso(t),
                },
            )
        ]

    def _remove_staff(self, t: int, school: School, exam_year: int, pid: str, late: int) -> list[Item]:
        code = school.codes.get(exam_year)
        effective = t - late
        if code is None or pid not in code.holders or pid in code.removed:
            return []
        if effective <= code.holders[pid] + DAY or effective >= code.end:
            return []
        if code.revoked is not None and code.revoked <= effective:
            return []
        principal = school.principal_at(effective)
        if principal is None or principal == pid:
            return []
        code.removed.add(pid)
        if school.coordinator == pid:
            school.coordinator = None  # R14 ends the system access too
        return [
            Item(
                t,
                {
                    "type": "remove_access",
                    "person_id": pid,
                    "org_id": school.sid,
                    "removed_by": principal,
                    "effective_at": iso(effective),
                },
            )
        ]

    def _revoke(self, t: int, school: School, exam_year: int) -> list[Item]:
        code = school.codes.get(exam_year)
        if code is None or code.revoked is not None or t >= code.end:
            return []
        code.revoked = t
        return [
            Item(
                t,
                {
                    "type": "revoke_access_code",
                    "school_id": school.sid,
                    "exam_year": exam_year,
                    "reason": "shared outside the school",
                    "effective_at": iso(t),
                },
            )
        ]

    # --- mid-year ------------------------------------------------------------------------------------

    def _teacher_leaves(self, t: int, school: School, teacher: Teacher, late: int) -> list[Item]:
        effective = t - late
        if teacher.left or teacher.first_auth is None or teacher.first_auth >= effective:
            return []
        principal = school.principal_at(effective)
        if principal is None:
            return []
        teacher.left = True
        teacher.active = False
        return [
            Item(
                t,
                {
                    "type": "remove_access",
                    "person_id": teacher.pid,
                    "org_id": school.sid,
                    "removed_by": principal,
                    "effective_at": iso(effective),
                },
            ),
            Item(
                t, {"type": "end_affiliation", "person_id": teacher.pid, "org_id": school.sid, "effective_at": iso(t)}
            ),
        ]

    def _withdraw(self, t: int, school: School, teacher: Teacher, school_year: int) -> list[Item]:
        subjects = teacher.authorized.get(school_year, [])
        if teacher.left or teacher.withdrawn or len(subjects) < 2:
            return []
        teacher.withdrawn = True
        return [
            Item(
                t,
                {
                    "type": "withdraw_course_authorization",
                    "person_id": teacher.pid,
                    "school_id": school.sid,
                    "subject": subjects[-1],
                    "school_year": school_year,
                    "effective_at": iso(t),
                },
            )
        ]

    def _restrict(self, t: int, school: School) -> list[Item]:
        principal = school.principal_at(t)
        if school.restricted or principal is None:
            return []
        teachers = [x for x in school.teachers if not x.left and x.first_auth is not None]
        cmd: dict[str, Any] = {
            "type": "restrict_student_data",
            "school_id": school.sid,
            "requested_by": principal,
            "effective_at": iso(t),
        }
        teacher_id = None
        if teachers and self.rng.random() < 0.8:
            teacher_id = self.rng.choice(teachers).pid
            cmd["teacher_id"] = teacher_id
        school.restricted = True
        self.at(t + self.u(20 * DAY, 100 * DAY), self._lift, school, teacher_id)
        return [Item(t, cmd)]

    def _lift(self, t: int, school: School, teacher_id: str | None) -> list[Item]:
        principal = school.principal_at(t)
        if principal is None:
            return []
        school.restricted = False
        cmd: dict[str, Any] = {
            "type": "lift_student_data_restriction",
            "school_id": school.sid,
            "requested_by": principal,
            "effective_at": iso(t),
        }
        if teacher_id:
            cmd["teacher_id"] = teacher_id
        return [Item(t, cmd)]

    def _system_access(self, t: int, school: School) -> list[Item]:
        base = {"org_id": school.sid, "system": "course_audit", "effective_at": iso(t)}
        if school.coordinator is not None:
            pid, school.coordinator = school.coordinator, None
            return [Item(t, {"type": "remove_system_access", "person_id": pid, **base})]
        school.coordinator = self.rng.choice(school.staff)
        return [Item(t, {"type": "grant_system_access", "person_id": school.coordinator, **base})]

    def _profile(self, t: int, pid: str) -> list[Item]:
        return [
            Item(
                t,
                {"type": "update_profile", "person_id": pid, "title": self.rng.choice(TITLES), "effective_at": iso(t)},
            )
        ]

    # --- districts ----------------------------------------------------------------------------------------

    def _district_year(self, t: int, access_year: int) -> list[Item]:
        """Mid-July: superintendents change now and then; district users are added for the access year."""
        for d in self.districts.values():
            self.at(t + self.u(0, 12 * DAY), self._district_users, d, access_year)
        return []

    def _district_users(self, t: int, d: District, access_year: int) -> list[Item]:
        out: list[Item] = []
        e = iso(t)
        if access_year > FIRST_SCHOOL_YEAR - 1 and self.rng.random() < 0.04:
            d.superintendent = self.new_person(t, out, d.did)
            out.append(
                Item(
                    t,
                    {
                        "type": "designate_superintendent",
                        "district_id": d.did,
                        "person_id": d.superintendent,
                        "effective_at": e,
                    },
                )
            )
        if access_year > FIRST_SCHOOL_YEAR - 1 and self.rng.random() < 0.10:
            d.staff[self.rng.randrange(len(d.staff))] = self.new_person(t, out, d.did)
        for pid in d.staff:
            label = None
            if self.rng.random() < 0.005:
                label = self.new_label()
                self.at(t + self.u(DAY, 8 * DAY), self._void, label, "added to the wrong district")
            else:
                d.added[(pid, access_year)] = True
                if self.rng.random() < 0.02:
                    opens = int(CAL.august_first(access_year).timestamp())
                    self.at(opens + self.u(30 * DAY, 300 * DAY), self._remove_district_user, d, pid, access_year)
            out.append(
                Item(
                    t,
                    {
                        "type": "add_district_user",
                        "person_id": pid,
                        "district_id": d.did,
                        "access_year": access_year,
                        "requested_by": d.superintendent,
                        "effective_at": e,
                    },
                    label,
                )
            )
        return out

    def _remove_district_user(self, t: int, d: District, pid: str, access_year: int) -> list[Item]:
        if not d.added.get((pid, access_year)):
            return []
        d.added[(pid, access_year)] = False
        return [
            Item(
                t,
                {
                    "type": "remove_district_user",
                    "person_id": pid,
                    "district_id": d.did,
                    "requested_by": d.superintendent,
                    "effective_at": iso(t),
                },
            )
        ]

    # --- what was generated ---------------------------------------------------------------------------------

    def meta(self, samples: int = 4000) -> dict[str, Any]:
        """Sizes, counts and seeded samples of actors and schools for the measurements."""
        assert self.done, "iterate the history first"
        rng = random.Random(f"ledger-bench-samples:{GENERATOR_VERSION}:{self.seed}")
        schools = [s for s in self.schools.values() if not s.homeschool]
        actors: list[dict[str, Any]] = []
        kinds = (
            ("teacher",) * 55
            + ("principal",) * 10
            + ("staff",) * 10
            + ("district_user",) * 12
            + ("superintendent",) * 5
            + ("homeschool",) * 3
            + ("outsider",) * 5
        )
        while len(actors) < samples:
            kind = rng.choice(kinds)
            school = rng.choice(schools)
            actor: dict[str, Any] = {"kind": kind, "org_id": school.sid, "school_id": school.sid}
            if kind in ("teacher", "outsider"):
                teachers = [x for x in school.teachers if x.sections]
                if not teachers:
                    continue
                teacher = rng.choice(teachers)
                _, subject, section = rng.choice(teacher.sections)
                actor.update(person_id=teacher.pid, subject=subject, section_id=section)
                if kind == "outsider":  # acting for another school: R13
                    other = rng.choice(schools)
                    actor.update(org_id=other.sid, school_id=other.sid)
            elif kind == "principal":
                actor["person_id"] = school.head
            elif kind == "staff":
                actor["person_id"] = rng.choice(school.staff)
            elif kind == "homeschool":
                home = rng.choice([s for s in self.schools.values() if s.homeschool])
                teachers = [x for x in home.teachers if x.sections]
                if not teachers:
                    continue
                teacher = rng.choice(teachers)
                _, subject, section = rng.choice(teacher.sections)
                actor.update(
                    person_id=teacher.pid, org_id=home.sid, school_id=home.sid, subject=subject, section_id=section
                )
            else:
                if school.district is None:
                    continue
                d = self.districts[school.district]
                actor["org_id"] = d.did
                actor["person_id"] = d.superintendent if kind == "superintendent" else rng.choice(d.staff)
                if rng.random() < 0.15:
                    actor["school_id"] = None  # district_score_summary
            actors.append(actor)
        return {
            "generator_version": GENERATOR_VERSION,
            "seed": self.seed,
            "scale": self.plan.scale,
            "events": self.events,
            "commands": sum(self.counts.values()),
            "counts": dict(sorted(self.counts.items())),
            "districts": len(self.districts),
            "schools": len(schools),
            "homeschools": len(self.schools) - len(schools),
            "teachers": self.teachers_ever,
            "persons": self._persons,
            "start": iso(START),
            "now": iso(NOW),
            "kept_years": list(range(FIRST_SCHOOL_YEAR, LAST_SCHOOL_YEAR + 1)),
            "access_years": list(range(FIRST_SCHOOL_YEAR - 1, LAST_SCHOOL_YEAR + 1)),
            "actors": actors,
            "school_samples": [s.sid for s in rng.sample(schools, min(len(schools), 2000))],
        }


# --- sizing ---------------------------------------------------------------------------------------------

CALIBRATION_SCALE = 0.02


def count_events(scale: float, seed: int = 1) -> int:
    """Events a history of this scale yields (a dry run)."""
    history = History(plan_for_scale(scale), seed)
    for _ in history:
        pass
    return history.events


def scale_for(events: int, seed: int = 1) -> float:
    """The scale whose history has about `events` events.

    Events grow about linearly with scale; a dry run at a calibration scale gives the
    slope, and below it a second dry run near the answer corrects for the fixed parts
    (homeschool organizations, at least one school per district).
    """
    scale = events / (count_events(CALIBRATION_SCALE, seed) / CALIBRATION_SCALE)
    best = (abs(events - count_events(scale, seed)) if scale < CALIBRATION_SCALE else 0, scale)
    for _ in range(4):  # small histories are lumpy: a few corrections, keeping the closest
        if best[0] <= 0.03 * events:
            break
        scale = best[1] * events / count_events(best[1], seed)
        tried = (abs(events - count_events(scale, seed)), scale)
        if tried >= best:
            break
        best = tried
    return best[1]


def history_for_tier(tier: str, seed: int = 1) -> History:
    """The tier's history (about TIERS[tier] events), ready to iterate."""
    if tier == "national":
        return History(plan_for_scale(1.0), seed)
    return History(plan_for_scale(scale_for(TIERS[tier], seed)), seed)


# --- commands after the history (for the write measurements) ------------------------------------------------


def extension(meta: dict[str, Any], prefix: str, events: int, seed: int = 1, start: int | None = None) -> list[Item]:
    """New teachers joining existing schools after NOW: register, affiliate, accept terms, authorize, assign.

    Five events per teacher, valid on top of the full history; `prefix` keeps person ids
    of different runs on one database apart.
    """
    rng = random.Random(f"ledger-bench-extension:{prefix}:{seed}")
    schools = meta["school_samples"]
    school_year = LAST_SCHOOL_YEAR + 1
    t = start if start is not None else NOW + DAY
    out: list[Item] = []
    n = 0
    while len(out) < events:
        n += 1
        pid = f"{prefix}-{n:07d}"
        sid = rng.choice(schools)
        subject = rng.choice(SUBJECTS)
        e = iso(t)
        base = {"person_id": pid, "effective_at": e}
        out.extend(
            [
                Item(
                    t,
                    {"type": "register_person", "name": "New Teacher", "email": f"{pid.lower()}@x.example.org", **base},
                ),
                Item(t + 1, {"type": "add_affiliation", "org_id": sid, **base}),
                Item(t + 2, {"type": "accept_terms", "terms_version": "2026-08", **base}),
                Item(
                    t + 3,
                    {
                        "type": "authorize_course",
                        "school_id": sid,
                        "subject": subject,
                        "school_year": school_year,
                        **base,
                    },
                ),
                Item(
                    t + 4,
                    {
                        "type": "assign_section",
                        "school_id": sid,
                        "subject": subject,
                        "section_id": f"{pid}-1",
                        "school_year": school_year,
                        **base,
                    },
                ),
            ]
        )
        t += 5
    return out[:events]
