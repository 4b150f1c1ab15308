"""The fact index, served from memory: decoded streams kept up to date incrementally.

Reads at the latest position are the hot path (the portal's checks). This
source keeps, for the streams queries have touched, their decoded facts and the
folded state at the cache's position, and takes in each new batch of facts the
follower projects (`refresh`). A stream is loaded from the index on first use,
so start-up does not grow with the log; an LRU bound on the number of facts kept
bounds memory.

Consistency: the cache's `tracked()` position only advances by reading the
index's rows after it, in order, so every cached stream holds exactly the facts
at or before that position (and a void's row marks its target as it arrives).
It never goes back: every answer of the process states a position at or after
the previous one. When the index is behind it (another process dropped it to
rebuild), the streams held stay true (a rebuild writes the same facts at the same
positions) and questions that need the index answer `ProjectionTimeout` until
the index is back at the cache's position.
Questions the cache does not hold answers to (who is mentioned where, instant →
position) go to the index with `as_of` no later than the cache's position.
"""

from __future__ import annotations

import bisect
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from ledger import events as ev
from ledger.streams import Stream
from projections.fact_index import Fact, FactIndex, to_us
from projections.held import NOTHING_HELD, Gap, HeldStream
from projections.runner import ProjectionTimeout
from projections.source import FactRecord, IndexSource, streams_as_of
from storage.mapper import LedgerMapper

# The default bound of the cache, in facts (counted exactly, unlike bytes): at about 370 bytes of a
# process's memory each (decoded events included, measured by RSS while warming a million), about
# 1.1 GB, which leaves room under 1.5 GB per worker for the rest of the process and the recorded times.
CACHE_MAX_FACTS = 3_000_000


class CachedSource(IndexSource):
    """A FactSource over the fact index with decoded streams held in memory."""

    def __init__(
        self, view: FactIndex, mapper: LedgerMapper, *, max_facts: int = CACHE_MAX_FACTS, max_folds: int = 50_000
    ) -> None:
        super().__init__(view, mapper)
        self._lock = threading.RLock()
        self._position = view.tracked()
        self._index_behind = False  # the index was seen behind the cache (being rebuilt)
        # Per cached stream, its facts in position order (a void is itself a fact of the
        # stream it voids, so a stream's state changes only at its facts' positions).
        self._streams: OrderedDict[str, HeldStream] = OrderedDict()
        # Folded states by (stream, position of its last fact at or before as_of): the
        # state as of any position up to the next fact. Never stale: facts only arrive later.
        self._folds: OrderedDict[tuple[str, int], Stream] = OrderedDict()
        self._count = 0
        self._max = max_facts
        self._max_folds = max_folds
        # While warming, streams born after it began are held from their first fact (`_births`); once
        # every stream is held (`_complete`), a stream not held has no facts: no need to ask the store.
        # Either ends with the first eviction.
        self._births = False
        self._complete = False
        # Transaction time in memory, once loaded (`load_times`): recorded_at (µs) and position of every
        # fact up to the cache's position, so an `as_of` instant resolves without a round trip.
        self._times_recorded = array("q")
        self._times_positions = array("q")
        self._times_ready = False

    # --- following ---------------------------------------------------------------------

    def tracked(self) -> int:
        return self._position

    def refresh(self, position: int | None = None) -> int:
        """Take in the facts projected after the cache's position; returns the new position.

        `position` is where the index is said to be: when it is the cache's, nothing is read;
        when it is behind the cache, the index is being rebuilt and the cache waits for it.
        """
        if position is not None and position <= self._position:
            self._index_behind = position < self._position
            return self._position
        with self._lock:
            if not self._streams and not self._births and not self._times_ready:  # nothing to update: just move
                self._position = max(self._position, self.view.tracked())
                self._index_behind = False
                return self._position
            while True:
                facts = self.view.facts_after(self._position, 5000)
                if not facts:
                    return self._position
                for f in facts:
                    self._take(f)
                if self._times_ready:  # positions first: lock-free readers never see a time without one
                    self._times_positions.extend(array("q", [f.position for f in facts]))
                    self._times_recorded.extend(array("q", [f.recorded_at for f in facts]))
                self._position = facts[-1].position
                self._index_behind = False

    def _index_at_cache(self) -> None:
        """Refuse (retry shortly) to read the index while it is behind the cache: it is being rebuilt."""
        if self._index_behind:
            tracked = self.view.tracked()
            if tracked < self._position:
                raise ProjectionTimeout(self._position, tracked, 0.0)
            self._index_behind = False

    def _take(self, f: Fact) -> None:
        held = self._streams.get(f.stream)
        if held is None:
            if not self._births or f.version != 1:  # a stream's first fact is its version 1
                return
            if self._count >= self._max:  # no room: new streams load on first use
                self._births = self._complete = False
                return
            held = self._streams[f.stream] = HeldStream()
        held.add(f.position, self._event(f), f.voided_at)
        self._count += 1

    def _event(self, f: Fact) -> ev.LedgerEvent:
        return self.mapper.decode(f.stored())

    # --- streams -------------------------------------------------------------------------

    def _load(self, stream_ids: Sequence[str]) -> dict[str, HeldStream]:
        """These streams as held, loaded if needed: one round trip for all of them.

        The answer holds references taken while the streams were held, so a query reads what it
        asked for even if another thread evicts or starts over meanwhile.
        """
        streams = self._streams
        try:  # the hot path: no lock
            return {s: streams[s] for s in stream_ids}
        except KeyError:
            pass
        with self._lock:
            missing = [s for s in stream_ids if s not in self._streams]
            if not missing or self._complete:
                return self._snapshot(stream_ids)
        # Read and decode outside the lock (readers of cached streams must not wait on I/O).
        read_at, fresh = self._read_streams(missing)
        with self._at_cache(Gap(read_at, fresh)) as gap:
            self._hold(fresh, gap)
            # Evict oldest-used first, never a stream this query asked for.
            for sid in stream_ids:
                self._streams.move_to_end(sid)
            while self._count > self._max and len(self._streams) > len(stream_ids):
                _, dropped = self._streams.popitem(last=False)
                self._count -= len(dropped)
                self._births = self._complete = False
            return self._snapshot(stream_ids)

    def _read_streams(self, stream_ids: Sequence[str]) -> tuple[int, dict[str, HeldStream]]:
        """Every fact of these streams, decoded, and the index position they were read at: one round trip."""
        before = self._position
        read_at, facts = self.view.load_streams(stream_ids)
        if read_at < before:  # never cache a stream read from a half-rebuilt index
            self._index_behind = True
            raise ProjectionTimeout(before, read_at, 0.0)
        fresh = {s: HeldStream() for s in stream_ids}
        for f in facts:
            fresh[f.stream].add(f.position, self._event(f), f.voided_at)
        return read_at, fresh

    @contextmanager
    def _at_cache(self, gap: Gap) -> Iterator[Gap]:
        """Hold the lock, with `gap` read up to the cache's position.

        Requests wait on the lock, so no store read is ever made under it: if the cache has moved on
        by the time the facts between are read, the lock is let go and the rest read too.
        """
        while True:
            with self._lock:
                if self._position <= gap.after:
                    yield gap
                    return
                upto = self._position
            while gap.after < upto:
                page = self.view.facts_after(gap.after, 5000)
                if not page:  # the index went behind the cache: it is being rebuilt
                    self._index_behind = True
                    raise ProjectionTimeout(upto, gap.after, 0.0)
                gap.take(page, self._event)

    def _hold(self, fresh: dict[str, HeldStream], gap: Gap) -> list[str]:
        """Keep the streams of `fresh` not held yet, read at `gap.read_at`, brought to the cache's
        position by `gap` (see `_at_cache`); lock held. Facts after the cache's position are left to
        `refresh`. Which streams it kept."""
        position = self._position
        new = {sid: held for sid, held in fresh.items() if sid not in self._streams}
        if gap.read_at > position:
            for held in new.values():
                held.keep_until(position)
        else:
            for sid, taking in new.items():
                for f, event in gap.facts.get(sid, ()):
                    if gap.read_at < f.position <= position:
                        taking.add(f.position, event, f.voided_at)
        for sid, held in new.items():
            self._streams[sid] = held
            self._count += len(held)
        return list(new)

    def warm(self, stream_ids: Sequence[str]) -> tuple[int, bool]:
        """Load these streams ahead of use (one round trip), in order, while the cache has room for them;
        see `hold_warmed`."""
        missing = [s for s in stream_ids if s not in self._streams]
        if not missing:
            return len(stream_ids), self._count < self._max
        read_at, fresh = self._read_streams(missing)
        held, room = self.hold_warmed(fresh, Gap(read_at, fresh))
        return len(stream_ids) - len(missing) + held, room

    def decoded(self, facts: Iterable[Fact]) -> dict[str, HeldStream]:
        """Facts of whole streams, in stream then position order, decoded (outside the lock) for `hold_warmed`."""
        fresh: dict[str, HeldStream] = {}
        for f in facts:
            held = fresh.get(f.stream)
            if held is None:
                held = fresh[f.stream] = HeldStream()
            held.add(f.position, self._event(f), f.voided_at)
        return fresh

    def hold_warmed(self, fresh: dict[str, HeldStream], gap: Gap) -> tuple[int, bool]:
        """Keep these streams, read at `gap.read_at`, in order, while the cache has room for them; never
        evicts. Streams already held are left as they are (and count as held).

        Returns how many of them are held and whether there is room for more. Warmed streams are kept
        as the least recently used (the last warmed first), so the streams queries use are evicted after them.
        """
        with self._at_cache(gap):
            room = self._max - self._count
            fits: dict[str, HeldStream] = {}
            for sid, held in fresh.items():
                if sid not in self._streams:
                    if len(held) > room:
                        break
                    room -= len(held)
                fits[sid] = held
            for sid in self._hold(fits, gap):
                self._streams.move_to_end(sid, last=False)
            return len(fits), len(fits) == len(fresh) and self._count < self._max

    def size(self) -> tuple[int, int, int]:
        """Streams held, facts held and the most facts the cache keeps."""
        return len(self._streams), self._count, self._max

    def _snapshot(self, stream_ids: Sequence[str]) -> dict[str, HeldStream]:
        # Streams not held are empty when the cache is complete (and held otherwise).
        return {s: self._streams.get(s, NOTHING_HELD) for s in stream_ids}

    def holds(self, stream_ids: Iterable[str]) -> bool:
        """Whether every one of these streams is in memory (a query on them does no I/O)."""
        return self._complete or all(s in self._streams for s in stream_ids)

    def begin_warming(self) -> None:
        """From now on, hold streams born after this position from their first fact (before listing them)."""
        with self._lock:
            self._births = True

    def end_warming(self, everything: bool) -> bool:
        """Warming is over; with `everything` loaded (and nothing evicted since it began) the cache is
        complete: streams it does not hold have no facts. Whether it is."""
        with self._lock:
            self._complete = everything and self._births
            self._births = self._complete
            return self._complete

    def records(self, streams: Sequence[str], as_of: int | None) -> list[FactRecord]:
        held = self._load(streams)
        out: list[FactRecord] = []
        for sid in streams:
            out.extend(r for r in held[sid].records() if as_of is None or r.known_at(as_of))
        out.sort(key=lambda r: r.position)
        return out

    def streams(self, stream_ids: Iterable[str], as_of: int) -> dict[str, Stream]:
        """Stream states as known at `as_of`, each state folded once and shared by every query that needs it."""
        ids = list(dict.fromkeys(stream_ids))
        held = self._load(ids)
        as_of = min(as_of, self._position)
        out: dict[str, Stream] = {}
        for sid in ids:
            stream = held[sid]
            positions = stream.positions
            n = bisect.bisect_right(positions, as_of)
            if n == 0:
                continue  # nothing of this stream was recorded yet
            key = (sid, positions[n - 1])
            folded = self._folds.get(key)
            if folded is None:
                folded = streams_as_of(stream.records(n), as_of).get(sid)
                if folded is None:
                    continue
                with self._lock:
                    self._folds[key] = folded
                    while len(self._folds) > self._max_folds:
                        self._folds.popitem(last=False)
            out[sid] = folded
        return out

    def streams_about_person(self, person_id: str, as_of: int) -> set[str]:
        self._index_at_cache()
        return super().streams_about_person(person_id, as_of)

    def persons_at_org(self, org_id: str, as_of: int) -> set[str]:
        self._index_at_cache()
        return super().persons_at_org(org_id, as_of)

    def schools_of_district(self, district_id: str, as_of: int) -> list[str]:
        self._index_at_cache()
        return super().schools_of_district(district_id, as_of)

    def directory_records(self, after: int, upto: int) -> list[FactRecord]:
        self._index_at_cache()
        return super().directory_records(after, upto)

    def person_records(self, person_id: str) -> list[FactRecord]:
        self._index_at_cache()
        return [r for r in super().person_records(person_id) if r.position <= self._position]

    def position_at(self, instant: datetime) -> int:
        if self._times_ready:
            # recorded_at never decreases along positions: the last fact recorded at or before the instant.
            i = bisect.bisect_right(self._times_recorded, to_us(instant))
            return min(self._times_positions[i - 1] if i else 0, self._position)
        return min(super().position_at(instant), self._position)

    def load_times(self, page: int = 50_000, pause: Callable[[], None] = lambda: None) -> int:
        """Keep the recorded_at of every position in memory from now on (8 bytes each, twice); how many
        (0 if the index is behind the cache: `position_at` keeps asking it).

        Read in pages outside the lock (`pause` between them) up to the cache's position; then, under
        it, trimmed to that position if the cache has not moved on meanwhile (else read on), after
        which `refresh` appends each new fact's.
        """
        recorded, positions = array("q"), array("q")
        after = 0
        while True:
            times = self.view.times_after(after, page)
            if times:
                positions.extend(p for p, _ in times)
                recorded.extend(r for _, r in times)
                after = times[-1][0]
            with self._lock:
                if after >= self._position:
                    del positions[bisect.bisect_right(positions, self._position) :]
                    del recorded[len(positions) :]
                    self._times_recorded, self._times_positions = recorded, positions
                    self._times_ready = True
                    return len(positions)
            if not times:  # the index is behind the cache (being rebuilt): keep asking it
                return 0
            pause()
