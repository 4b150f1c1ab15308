"""A world: the streams known at one ledger position, and the views the rules read over them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from ledger import events as ev
from ledger.streams import DistrictView, OrgView, PersonView, ReleasesView, SchoolView, Stream

V = TypeVar("V")


class Views:
    """Views over stream states, each built once, kept by whoever builds worlds over shared states.

    The read side's queries and the write path each keep one for all the worlds they build,
    so a state served to many of them (from a cache) is sorted, indexed and judged once; a
    world built alone keeps its own. Keyed by the state itself (its identity), so a what-if
    state is never taken for a recorded one; the oldest views are dropped beyond `limit`.
    """

    def __init__(self, limit: int = 50_000) -> None:  # as many states as the read cache keeps folded
        self._limit = limit
        self._by_state: dict[int, tuple[Stream, object]] = {}
        self._lock = threading.Lock()

    def view(self, stream: Stream, make: Callable[[Stream], V]) -> V:
        """The view `make` builds over this stream state, built on first use."""
        found = self._by_state.get(id(stream))
        if found is not None and found[0] is stream:
            return found[1]  # type: ignore[return-value]
        view = make(stream)
        with self._lock:
            self._by_state[id(stream)] = (stream, view)
            while len(self._by_state) > self._limit:
                del self._by_state[next(iter(self._by_state))]
        return view


@dataclass
class World:
    """A set of streams known at one ledger position: what the rules read.

    Streams that are absent are unknown (empty). Views are built once per stream state
    and kept in `views` (shared by the worlds of one reader or writer, if it passes one).
    """

    streams: Mapping[str, Stream]
    # Schools of a district, when the caller knows them without loading every school stream.
    district_schools: Callable[[str], list[str]] | None = None
    views: Views = field(default_factory=Views, repr=False)
    _views: dict[str, object] = field(default_factory=dict, repr=False)

    def stream(self, stream_id: str) -> Stream:
        return self.streams.get(stream_id) or Stream(stream_id)

    def _view(self, key: str, make: Callable[[Stream], V]) -> V:
        view = self._views.get(key)
        if view is None:
            stream = self.streams.get(key)
            # An absent stream's empty view is not worth keeping beyond this world.
            view = make(Stream(key)) if stream is None else self.views.view(stream, make)
            self._views[key] = view
        return view  # type: ignore[return-value]

    def person(self, person_id: str) -> PersonView:
        return self._view(ev.person_stream(person_id), lambda s: PersonView(s, person_id))

    def school(self, school_id: str) -> SchoolView:
        return self._view(ev.school_stream(school_id), lambda s: SchoolView(s, school_id))

    def district(self, district_id: str) -> DistrictView:
        return self._view(ev.district_stream(district_id), lambda s: DistrictView(s, district_id))

    def releases(self) -> ReleasesView:
        return self._view(ev.CALENDAR_STREAM, ReleasesView)

    def org(self, org_id: str) -> OrgView | None:
        """The school or district with this id, if one is registered."""
        school = self.school(org_id)
        if school.registration is not None:
            return school
        district = self.district(org_id)
        if district.registration is not None:
            return district
        return None

    def schools_of(self, district_id: str) -> list[str]:
        """Ids of the schools registered in a district."""
        if self.district_schools is not None:
            return self.district_schools(district_id)
        ids = (ev.parse_stream_id(sid) for sid in self.streams)
        return sorted(key for kind, key in ids if kind == "school" and self.school(key).district_id == district_id)
