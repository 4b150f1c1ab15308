"""What the write path answers: a command's outcome and its events' receipts, and a preview's events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger import events as ev


@dataclass(frozen=True)
class EventReceipt:
    event_id: str
    type: str
    position: int
    recorded_at: datetime
    effective_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "position": self.position,
            "recorded_at": self.recorded_at.isoformat(),
            "effective_at": self.effective_at.isoformat(),
        }


@dataclass(frozen=True)
class Outcome:
    """What a command answers: its events, last position, recorded_at and result."""

    position: int
    recorded_at: datetime
    events: tuple[EventReceipt, ...]
    result: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "recorded_at": self.recorded_at.isoformat(),
            "events": [e.to_json() for e in self.events],
            "result": self.result,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, replayed: bool) -> Outcome:
        return cls(
            position=data["position"],
            recorded_at=datetime.fromisoformat(data["recorded_at"]),
            events=tuple(
                EventReceipt(
                    e["event_id"],
                    e["type"],
                    e["position"],
                    datetime.fromisoformat(e["recorded_at"]),
                    datetime.fromisoformat(e["effective_at"]),
                )
                for e in data["events"]
            ),
            result=data["result"],
            replayed=replayed,
        )


@dataclass(frozen=True)
class Preview:
    """What commands would record: their events at the positions they would take, appended after `position`."""

    position: int
    recorded_at: datetime
    events: tuple[tuple[int, ev.LedgerEvent], ...]
    results: tuple[dict[str, Any], ...]
    replayed: tuple[bool, ...]
