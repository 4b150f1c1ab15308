"""Streams as the query cache holds them in memory, and the facts a read must catch up on.

A national history is millions of facts, so a held stream keeps per fact only its position
(8 bytes in an array) and its decoded event (one reference), no per-fact record object.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Container

from ledger import events as ev
from projections.fact_index import Fact
from projections.source import FactRecord


class HeldStream:
    """One stream in memory: its facts' positions (8 bytes each) and decoded events, in position order,
    and the positions of the voids of the few that are voided.

    No per-fact record is kept (a million facts are a million objects fewer); `records` makes them
    for the callers that want them. Appended to under the cache's lock only, the event before its
    position: a reader without the lock that counts n positions always finds n events.
    """

    __slots__ = ("events", "positions", "voided")

    def __init__(self) -> None:
        self.positions = array("q")
        self.events: list[ev.LedgerEvent] = []
        self.voided: dict[int, int] | None = None  # position of a voided fact → position of its void

    def __len__(self) -> int:
        return len(self.positions)

    def add(self, position: int, event: ev.LedgerEvent, voided_at: int | None) -> None:
        """Append one fact (after every fact held); a void marks the fact it voids."""
        if isinstance(event, ev.EventVoided):
            target = event.voided_event_id
            for i, e in enumerate(self.events):
                if e.event_id == target:
                    self._void(self.positions[i], position)
        if voided_at is not None:
            self._void(position, voided_at)
        self.events.append(event)
        self.positions.append(position)

    def _void(self, position: int, by: int) -> None:
        if self.voided is None:
            self.voided = {}
        self.voided[position] = by

    def keep_until(self, position: int) -> None:
        """Drop the facts after `position` (they arrive again in order)."""
        n = bisect.bisect_right(self.positions, position)
        del self.events[n:], self.positions[n:]

    def records(self, n: int | None = None) -> list[FactRecord]:
        """The first `n` facts (all of them by default) as records."""
        positions, events, voided = self.positions, self.events, self.voided
        count = len(positions) if n is None else n
        if voided is None:
            return [FactRecord(positions[i], events[i], None) for i in range(count)]
        return [FactRecord(p, events[i], voided.get(p)) for i, p in enumerate(positions[:count])]


NOTHING_HELD = HeldStream()  # what a stream with no facts holds (never appended to)


class Gap:
    """The facts recorded after a read of the index (at `read_at`) that the cache took in meanwhile:
    streams the read found must get them too. Read (and decoded) as the cache moves on, never under
    its lock; `wanted` limits them to the streams of that read (None: keep them all, for later reads
    at the same position)."""

    __slots__ = ("after", "facts", "read_at", "wanted")

    def __init__(self, read_at: int, wanted: Container[str] | None = None) -> None:
        self.read_at = read_at
        self.after = read_at  # read up to here
        self.wanted = wanted
        self.facts: dict[str, list[tuple[Fact, ev.LedgerEvent]]] = {}  # by stream, in position order

    def take(self, page: list[Fact], decode: Callable[[Fact], ev.LedgerEvent]) -> None:
        """Keep the wanted facts of the next page read after `after`."""
        wanted = self.wanted
        for f in page:
            if wanted is None or f.stream in wanted:
                self.facts.setdefault(f.stream, []).append((f, decode(f)))
        self.after = page[-1].position
