"""The library's Mapper with an orjson transcoder for the ledger's dataclass events.

orjson encodes datetimes and dates natively (RFC 3339); decoding turns them
back into `datetime`/`date` by the event class's field types, resolved once per
class. The stored bytes are canonical JSON: the integrity chain hashes them, so
an event's fields are always written in their declared order.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import orjson
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from ledger.events import LedgerEvent


class OrjsonTranscoder(Transcoder):
    """JSON via orjson; datetimes and dates become ISO strings."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


def _converter(hint: Any) -> Callable[[Any], Any] | None:
    args = typing.get_args(hint)
    candidates = args or (hint,)
    if datetime in candidates:
        return _instant
    if date in candidates:
        return date.fromisoformat
    if str in candidates:
        return _shared
    return None


# Decoded events stay in memory by the million (the query cache), so what they repeat is held once:
# ids, subjects and actors as interned strings, instants (many events share a day or a second) from a
# bounded table. Values unique to one event are left alone: interning them would only cost.
_UNIQUE_TEXT = frozenset({"event_id", "idempotency_key", "code_digest", "email", "voided_event_id"})
_INSTANTS: dict[str, datetime] = {}
_MAX_INSTANTS = 65_536


def _shared(value: Any) -> Any:
    return sys.intern(value) if type(value) is str else value


def _instant(value: str) -> datetime:
    found = _INSTANTS.get(value)
    if found is None:
        if len(_INSTANTS) >= _MAX_INSTANTS:
            _INSTANTS.clear()
        found = _INSTANTS[value] = datetime.fromisoformat(value)
    return found


_NO_DEFAULT: Any = object()


@dataclasses.dataclass(frozen=True)
class _Plan:
    """How one event class is encoded and decoded: its stored fields in declaration order (the stored
    JSON's key order, which the integrity chain hashes), each with its decoding and its default."""

    stored: tuple[str, ...]
    decoded: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...]


_PLANS: dict[type, _Plan] = {}
_TOPICS: dict[type, str] = {}
_CLASSES: dict[str, type] = {}
_ORIGINATOR = ("originator_id", "originator_version")


def _plan(cls: type) -> _Plan:
    found = _PLANS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        fields = [f for f in dataclasses.fields(cls) if f.name not in _ORIGINATOR]
        decoded = []
        for f in fields:
            conv = _converter(hints[f.name])
            if conv is _shared and f.name in _UNIQUE_TEXT:
                conv = None
            default = f.default if f.default is not dataclasses.MISSING else _NO_DEFAULT
            decoded.append((f.name, conv, default))
        found = _PLANS[cls] = _Plan(tuple(f.name for f in fields), tuple(decoded))
    return found


def _topic_of(cls: type) -> str:
    found = _TOPICS.get(cls)
    if found is None:
        found = _TOPICS[cls] = get_topic(cls)
    return found


def _class_of(topic: str) -> type:
    found = _CLASSES.get(topic)
    if found is None:
        resolved = resolve_topic(topic)
        assert isinstance(resolved, type)
        found = _CLASSES[topic] = resolved
    return found


class LedgerMapper(Mapper[str]):
    """Converts ledger events to and from the library's StoredEvent."""

    def __init__(self, transcoder: Transcoder | None = None, **_: Any) -> None:
        super().__init__(transcoder=transcoder or OrjsonTranscoder())

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        state = {name: getattr(domain_event, name) for name in _plan(cls).stored}
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=_topic_of(cls),
            state=self.transcoder.encode(state),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = _class_of(stored_event.topic)
        state: dict[str, Any] = self.transcoder.decode(stored_event.state)
        event: Any = object.__new__(cls)
        setattr_ = object.__setattr__  # the events are frozen
        setattr_(event, "originator_id", sys.intern(str(stored_event.originator_id)))
        setattr_(event, "originator_version", stored_event.originator_version)
        get = state.get
        for name, conv, default in _plan(cls).decoded:
            value = get(name, default)
            if value is _NO_DEFAULT:
                continue  # (not stored, no default: reading it raises, as for any missing attribute)
            setattr_(event, name, value if conv is None or value is None else conv(value))
        return event

    def raw_state_of(self, state: bytes) -> dict[str, Any]:
        """A stored event's fields as stored (JSON types; instants as ISO strings), without typing them."""
        fields: dict[str, Any] = self.transcoder.decode(state)
        return fields

    def decode(self, stored_event: StoredEvent) -> LedgerEvent:
        """A stored event back as a typed ledger event."""
        event = self.to_domain_event(stored_event)
        assert isinstance(event, LedgerEvent)
        return event
