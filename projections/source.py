"""Where queries get their facts: the projection's fact index, or a plain fold over the raw log.

Both sources answer the same small questions (the streams known at a position,
who is mentioned where), so `projections.queries` runs unchanged on either — which
is what the property test compares.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ledger import events as ev
from ledger.streams import Stream
from projections.fact_index import Fact, FactIndex, from_us, to_us
from storage.mapper import LedgerMapper
from storage.recorders import LedgerRecorder


@dataclass(frozen=True, slots=True)
class FactRecord:
    """A decoded fact with its known interval `[position, voided_at)`."""

    position: int
    event: ev.LedgerEvent
    voided_at: int | None

    def known_at(self, position: int) -> bool:
        return self.position <= position and (self.voided_at is None or self.voided_at > position)


def streams_as_of(records: Iterable[FactRecord], as_of: int) -> dict[str, Stream]:
    """Fold records into stream states as the ledger held them at position `as_of` (R15: voids apply from theirs)."""
    grouped: dict[str, list[ev.LedgerEvent]] = defaultdict(list)
    versions: dict[str, int] = {}
    for r in sorted(records, key=lambda r: r.position):
        if r.position > as_of:
            continue
        sid = r.event.originator_id
        versions[sid] = max(versions.get(sid, 0), r.event.originator_version)
        if isinstance(r.event, ev.EventVoided) or not r.known_at(as_of):
            continue
        grouped[sid].append(r.event)
    return {sid: Stream(sid, versions[sid], tuple(grouped.get(sid, ()))) for sid in versions}


class FactSource(Protocol):
    """What queries need to know about the ledger."""

    def tracked(self) -> int:
        """The last position this source has taken in."""
        ...

    def position_at(self, instant: datetime) -> int:
        """The last position recorded at or before an instant."""
        ...

    def recorded_at(self, positions: Iterable[int]) -> dict[int, datetime]:
        """recorded_at of positions."""
        ...

    def records(self, streams: Sequence[str], as_of: int | None) -> list[FactRecord]:
        """Facts of these streams: known at `as_of`, or all of them (voided too) when None."""
        ...

    def streams(self, stream_ids: Iterable[str], as_of: int) -> dict[str, Stream]:
        """Stream states as known at `as_of`."""
        ...

    def streams_about_person(self, person_id: str, as_of: int) -> set[str]:
        """Streams with facts about the person known at `as_of`."""
        ...

    def persons_at_org(self, org_id: str, as_of: int) -> set[str]:
        """Persons with facts at the organization known at `as_of`."""
        ...

    def schools_of_district(self, district_id: str, as_of: int) -> list[str]:
        """Schools of a district known at `as_of`."""
        ...

    def person_records(self, person_id: str) -> list[FactRecord]:
        """Every fact about a person, voided ones included."""
        ...

    def record(self, event_id: str) -> FactRecord | None:
        """One fact by event id."""
        ...

    def types_and_positions(self, event_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        """(event type, position) of events by id, in one lookup; unknown ids are left out."""
        ...

    def directory_records(self, after: int, upto: int) -> list[FactRecord]:
        """Registrations, profile updates and voids of person streams in (after, upto]."""
        ...


class IndexSource:
    """Facts from the projection's fact index (`projections.fact_index`)."""

    LOGGED_MEMO = 200_000  # event ids whose type and position are kept in memory

    def __init__(self, view: FactIndex, mapper: LedgerMapper) -> None:
        self.view = view
        self.mapper = mapper
        self._logged: dict[str, tuple[str, int]] = {}

    def _record(self, f: Fact) -> FactRecord:
        return FactRecord(f.position, self.mapper.decode(f.stored()), f.voided_at)

    def tracked(self) -> int:
        return self.view.tracked()

    def position_at(self, instant: datetime) -> int:
        return self.view.position_at(to_us(instant))

    def recorded_at(self, positions: Iterable[int]) -> dict[int, datetime]:
        return {p: from_us(us) for p, us in self.view.recorded_at_of(positions).items()}

    def records(self, streams: Sequence[str], as_of: int | None) -> list[FactRecord]:
        if as_of is None:
            facts = self.view.all_facts_of_streams(streams)
        else:
            facts = self.view.facts_of_streams(streams, as_of)
        return [self._record(f) for f in facts]

    def streams(self, stream_ids: Iterable[str], as_of: int) -> dict[str, Stream]:
        return streams_as_of(self.records(sorted(set(stream_ids)), as_of), as_of)

    def streams_about_person(self, person_id: str, as_of: int) -> set[str]:
        return self.view.streams_about_person(person_id, as_of)

    def persons_at_org(self, org_id: str, as_of: int) -> set[str]:
        return self.view.persons_at_org(org_id, as_of)

    def schools_of_district(self, district_id: str, as_of: int) -> list[str]:
        return self.view.schools_of_district(district_id, as_of)

    def person_records(self, person_id: str) -> list[FactRecord]:
        return [self._record(f) for f in self.view.facts_about_person(person_id)]

    def record(self, event_id: str) -> FactRecord | None:
        f = self.view.fact_by_event_id(event_id)
        return None if f is None else self._record(f)

    def types_and_positions(self, event_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        # A logged event's type and position never change, so what was read once is kept (bounded);
        # an auditor asking again about the same organization reads none of it from the index.
        memo, wanted = self._logged, set(event_ids)
        known = {i: v for i in wanted if (v := memo.get(i)) is not None}
        missing = [i for i in wanted if i not in known]
        if missing:
            found = self.view.types_and_positions(missing)
            if len(memo) + len(found) > self.LOGGED_MEMO:
                memo.clear()
            memo.update(found)
            known.update(found)
        return known

    def directory_records(self, after: int, upto: int) -> list[FactRecord]:
        return [self._record(f) for f in self.view.directory_facts(after, upto)]


class ReferenceSource:
    """The reference evaluator's facts: every event of the raw log, folded in plain Python.

    It shares nothing with the projection tables: it reads the recorder's rows,
    decodes them and answers by scanning. Slow by design; it is the yardstick.
    """

    def __init__(self, recorder: LedgerRecorder, mapper: LedgerMapper, up_to: int | None = None) -> None:
        self.events: list[tuple[int, ev.LedgerEvent]] = []
        after = 0
        while True:
            rows = recorder.read_rows(after, 5000)
            if not rows:
                break
            for row in rows:
                if up_to is not None and row.position > up_to:
                    break
                self.events.append((row.position, mapper.decode(row.stored)))
            after = rows[-1].position
            if up_to is not None and after >= up_to:
                break
        self.voided_at: dict[str, int] = {}
        for pos, e in self.events:
            if isinstance(e, ev.EventVoided):
                self.voided_at[e.voided_event_id] = pos
        by_id = {e.event_id: e for _, e in self.events}
        self._about: dict[str, tuple[str | None, str | None]] = {}
        for _, e in self.events:
            if isinstance(e, ev.EventVoided):
                target = by_id.get(e.voided_event_id)
                self._about[e.event_id] = (
                    (target.about_person(), target.about_org()) if target is not None else (None, None)
                )
            else:
                self._about[e.event_id] = (e.about_person(), e.about_org())
        self._positions = [p for p, _ in self.events]
        self._recorded = [e.recorded_at for _, e in self.events]

    def _fact(self, pos: int, e: ev.LedgerEvent) -> FactRecord:
        return FactRecord(pos, e, self.voided_at.get(e.event_id))

    def _known(self, as_of: int) -> Iterable[FactRecord]:
        for pos, e in self.events:
            if pos > as_of:
                break
            record = self._fact(pos, e)
            if record.known_at(as_of):
                yield record

    def tracked(self) -> int:
        return self._positions[-1] if self._positions else 0

    def position_at(self, instant: datetime) -> int:
        i = bisect.bisect_right(self._recorded, instant)
        return self._positions[i - 1] if i else 0

    def recorded_at(self, positions: Iterable[int]) -> dict[int, datetime]:
        wanted = set(positions)
        return {p: e.recorded_at for p, e in self.events if p in wanted}

    def records(self, streams: Sequence[str], as_of: int | None) -> list[FactRecord]:
        wanted = set(streams)
        if as_of is None:
            return [self._fact(p, e) for p, e in self.events if e.originator_id in wanted]
        return [r for r in self._known(as_of) if r.event.originator_id in wanted]

    def streams(self, stream_ids: Iterable[str], as_of: int) -> dict[str, Stream]:
        return streams_as_of(self.records(sorted(set(stream_ids)), as_of), as_of)

    def streams_about_person(self, person_id: str, as_of: int) -> set[str]:
        return {r.event.originator_id for r in self._known(as_of) if self._about[r.event.event_id][0] == person_id}

    def persons_at_org(self, org_id: str, as_of: int) -> set[str]:
        out = set()
        for r in self._known(as_of):
            person, org = self._about[r.event.event_id]
            if org == org_id and person:
                out.add(person)
        return out

    def schools_of_district(self, district_id: str, as_of: int) -> list[str]:
        return sorted(
            r.event.school_id
            for r in self._known(as_of)
            if isinstance(r.event, ev.SchoolRegistered) and r.event.district_id == district_id
        )

    def person_records(self, person_id: str) -> list[FactRecord]:
        stream = ev.person_stream(person_id)
        return [
            self._fact(p, e)
            for p, e in self.events
            if e.originator_id == stream or self._about[e.event_id][0] == person_id
        ]

    def record(self, event_id: str) -> FactRecord | None:
        for p, e in self.events:
            if e.event_id == event_id:
                return self._fact(p, e)
        return None

    def types_and_positions(self, event_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        wanted = set(event_ids)
        return {e.event_id: (e.type, p) for p, e in self.events if e.event_id in wanted}

    def directory_records(self, after: int, upto: int) -> list[FactRecord]:
        kinds = (ev.PersonRegistered, ev.ProfileUpdated, ev.EventVoided)
        return [
            self._fact(p, e)
            for p, e in self.events
            if after < p <= upto and isinstance(e, kinds) and ev.parse_stream_id(e.originator_id)[0] == "person"
        ]
