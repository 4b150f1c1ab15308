"""The library's Mapper with an orjson transcoder for the ledger's dataclass events.

orjson encodes datetimes and dates natively (RFC 3339); decoding turns them
back into `datetime`/`date` by the event class's field types, resolved once per
class. The stored bytes are canonical JSON: the integrity chain hashes them.
"""

from __future__ import annotations

import dataclasses
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


def _converter(hint: Any) -> Callable[[str], Any] | None:
    """How a stored string becomes the field's type (None stays None)."""
    args = typing.get_args(hint)
    candidates = args or (hint,)
    if datetime in candidates:
        return datetime.fromisoformat
    if date in candidates:
        return date.fromisoformat
    return None


_CONVERTERS: dict[type, tuple[tuple[str, Callable[[str], Any]], ...]] = {}
_TOPICS: dict[type, str] = {}
_CLASSES: dict[str, type] = {}


def _converters(cls: type) -> tuple[tuple[str, Callable[[str], Any]], ...]:
    found = _CONVERTERS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = tuple(
            (f.name, conv) for f in dataclasses.fields(cls) if (conv := _converter(hints[f.name])) is not None
        )
        _CONVERTERS[cls] = found
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
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=_topic_of(type(domain_event)),
            state=self.transcoder.encode(state),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = _class_of(stored_event.topic)
        state: dict[str, Any] = self.transcoder.decode(stored_event.state)
        for name, conv in _converters(cls):
            value = state.get(name)
            if value is not None:
                state[name] = conv(value)
        state["originator_id"] = str(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
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
