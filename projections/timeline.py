"""A person's role intervals in both times: when they held (valid time) and when the ledger knew it (positions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger import events as ev
from ledger.access.intervals import role_intervals
from ledger.calendar import LedgerCalendar
from ledger.world import World
from projections.answers import KnownInterval
from projections.source import FactRecord, streams_as_of


def known_intervals(
    calendar: LedgerCalendar, person_id: str, orgs: list[str], records: list[FactRecord], k: int
) -> list[KnownInterval]:
    """The person's role intervals at these organizations, each with the positions the ledger held it between."""

    # Knowledge about the person's roles changes only at facts of their stream, the
    # calendar, organization-wide facts and facts about them (and the voids of those).
    def relevant(r: FactRecord) -> bool:
        e = r.event
        if e.originator_id in (ev.person_stream(person_id), ev.CALENDAR_STREAM):
            return True
        about = e.about_person()
        if isinstance(e, ev.EventVoided):
            return True
        return about is None or about == person_id

    versions = sorted(
        {r.position for r in records if relevant(r)}
        | {r.voided_at for r in records if r.voided_at and r.voided_at <= k}
    )
    open_: dict[tuple[Any, ...], int] = {}
    closed: list[KnownInterval] = []
    epoch = datetime.min
    for version in versions:
        world = World(streams_as_of(records, version))
        current: set[tuple[Any, ...]] = set()
        for org in orgs:
            if world.org(org) is None:
                continue
            for i in role_intervals(world, calendar, person_id, org):
                current.add((i.org_id, i.role, i.valid_from, i.valid_to, i.sources))
        for key in list(open_):
            if key not in current:
                closed.append(_known(key, open_.pop(key), version, epoch))
        for key in current:
            open_.setdefault(key, version)
    closed.extend(_known(key, since, None, epoch) for key, since in open_.items())
    closed.sort(key=lambda i: (i.org_id, i.valid_from, i.known_from_position))
    return closed


def _known(key: tuple[Any, ...], since: int, until: int | None, epoch: datetime) -> KnownInterval:
    org_id, role, valid_from, valid_to, sources = key
    return KnownInterval(org_id, role, valid_from, valid_to, epoch, None, since, until, sources)
