"""What would-be events change in access: the intervals that end, start or move, per person, organization and role.

A dry run decides commands on the write side without appending (`LedgerService.preview`);
this folds the events it would record into the streams the read side holds at the log's
head, in memory, and compares each affected person's role intervals before and after.
Nothing is written anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ledger import events as ev
from ledger.access.intervals import Interval, role_intervals
from ledger.access.rights import orgs_of_person
from ledger.access.vocabulary import Role
from ledger.streams import Stream, evolve
from ledger.world import World
from projections.queries import Queries

# Kinds of change, as a support person reads them.
ADDED, REMOVED = "starts", "ends"
ENDS_EARLIER, ENDS_LATER = "ends earlier", "ends later"
STARTS_EARLIER, STARTS_LATER = "starts earlier", "starts later"
MOVES = "moves"


@dataclass(frozen=True)
class IntervalChange:
    """One role interval of one person at one organization, before and after the would-be events."""

    person_id: str
    org_id: str
    role: Role
    change: str
    before: Interval | None
    after: Interval | None


@dataclass(frozen=True)
class AccessDifference:
    position: int  # the read side's position the difference was computed against
    changes: tuple[IntervalChange, ...]
    persons: tuple[str, ...]  # every person whose intervals were compared
    everyone: bool  # a score release changes teachers everywhere: not compared person by person


def affected(queries: Queries, events: Sequence[ev.LedgerEvent], k: int) -> tuple[set[str], bool]:
    """Persons whose access the events may change: those they name, or everyone known at an organization they name."""
    persons: set[str] = set()
    everyone = False
    for e in events:
        subject: ev.LedgerEvent | None = e
        if isinstance(e, ev.EventVoided):
            found = queries.record(e.voided_event_id)
            subject = found.event if found is not None else None
        if subject is None:
            continue
        if isinstance(subject, ev.ScoresReleased):
            everyone = True
            continue
        person, org = subject.about_person(), subject.about_org()
        if person is not None:
            persons.add(person)
        elif org is not None:
            persons |= queries.source.persons_at_org(org, k)
    return persons, everyone


def _streams(queries: Queries, person_id: str, events: Iterable[ev.LedgerEvent], k: int) -> dict[str, Stream]:
    """The streams the person's rights read at k, and those the events fall in (and name)."""
    ids = set(queries.person_world(person_id, k).streams)
    for e in events:
        ids.add(e.originator_id)
        org = e.about_org()
        if org is not None:
            ids.update(queries.org_streams(org))
    return dict(queries.source.streams(ids, k))


def _with_events(streams: dict[str, Stream], events: Iterable[ev.LedgerEvent]) -> dict[str, Stream]:
    after = dict(streams)
    for e in events:
        after[e.originator_id] = evolve(after.get(e.originator_id) or Stream(e.originator_id), e)
    return after


def _orgs(world: World, person_id: str) -> set[str]:
    return set(orgs_of_person(world, person_id))


def compare(person_id: str, org_id: str, before: list[Interval], after: list[Interval]) -> list[IntervalChange]:
    """Pair intervals of one role that differ (by shared grant, else by overlap) and name how each changed."""
    out: list[IntervalChange] = []
    roles = {i.role for i in before} | {i.role for i in after}
    for role in sorted(roles, key=lambda r: r.value):
        gone = [i for i in before if i.role is role and i not in after]
        new = [i for i in after if i.role is role and i not in before]
        for old in gone:
            match = next((n for n in new if set(n.sources) & set(old.sources)), None)
            if match is None:
                match = next(
                    (
                        n
                        for n in new
                        if n.overlaps(
                            old.valid_from, old.valid_to or datetime.max.replace(tzinfo=old.valid_from.tzinfo)
                        )
                    ),
                    None,
                )
            if match is None:
                out.append(IntervalChange(person_id, org_id, role, REMOVED, old, None))
                continue
            new.remove(match)
            out.append(IntervalChange(person_id, org_id, role, change_of(old, match), old, match))
        out.extend(IntervalChange(person_id, org_id, role, ADDED, None, n) for n in new)
    return out


def change_of(before: Interval, after: Interval) -> str:
    """How one interval moved: only its end, only its start, or both (an open end counts as the latest)."""
    same_start = before.valid_from == after.valid_from
    same_end = before.valid_to == after.valid_to
    if same_start and not same_end:
        if after.valid_to is None:
            return ENDS_LATER
        return ENDS_EARLIER if before.valid_to is None or after.valid_to < before.valid_to else ENDS_LATER
    if same_end and not same_start:
        return STARTS_EARLIER if after.valid_from < before.valid_from else STARTS_LATER
    return MOVES


def access_difference(queries: Queries, events: Sequence[ev.LedgerEvent], k: int) -> AccessDifference:
    """The role intervals the events would change, against the read side at position k."""
    persons, everyone = affected(queries, events, k)
    changes: list[IntervalChange] = []
    for person_id in sorted(persons):
        streams = _streams(queries, person_id, events, k)

        def schools(district_id: str) -> list[str]:
            return queries.source.schools_of_district(district_id, k)

        before = World(streams, district_schools=schools, views=queries.views)
        after = World(_with_events(streams, events), district_schools=schools)
        for org_id in sorted(_orgs(before, person_id) | _orgs(after, person_id)):
            old = role_intervals(before, queries.calendar, person_id, org_id) if before.org(org_id) else []
            new = role_intervals(after, queries.calendar, person_id, org_id) if after.org(org_id) else []
            if old != new:
                changes.extend(compare(person_id, org_id, old, new))
    return AccessDifference(k, tuple(changes), tuple(sorted(persons)), everyone)
