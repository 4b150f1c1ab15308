"""The feed: events in ledger order, shaped as the API answers them."""

from __future__ import annotations

from typing import Any

from ledger.events import LedgerEvent
from storage.mapper import LedgerMapper
from storage.recorders import LedgerRecorder


def event_json(position: int, event: LedgerEvent) -> dict[str, Any]:
    """One event as the API shows it: both times, actor, idempotency key and the event's own fields."""
    return {
        "event_id": event.event_id,
        "type": event.type,
        "position": position,
        "recorded_at": event.recorded_at.isoformat(),
        "effective_at": event.effective_at.isoformat(),
        "actor": event.actor,
        "idempotency_key": event.idempotency_key,
        "data": event.data(),
    }


def feed(recorder: LedgerRecorder, mapper: LedgerMapper, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Events after a position, at most `limit`, and the position to continue after."""
    rows = recorder.read_rows(after, limit)
    events = [event_json(r.position, mapper.decode(r.stored)) for r in rows]
    return events, rows[-1].position if rows else after
