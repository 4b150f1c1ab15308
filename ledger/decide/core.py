"""The decision machinery: context (clock, ids, streams), prepared work, the event builder, valid time.

The clock, the id source and the slow code hashing are passed in: this package
does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger import commands as cmd
from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.errors import InvalidInput, LedgerError
from ledger.rules.codes import LockoutPolicy
from ledger.streams import Stream
from ledger.world import Views, World


@dataclass
class Prepared:
    """Work done before the append lock is taken (slow hashing must not hold it)."""

    code: str | None = None  # issue_access_code: the new code, returned once
    code_digest: str | None = None
    # redeem_access_code: the issuance whose digest matched the code presented (None = no match),
    # and every issuance the code was compared with
    matched_code_event_id: str | None = None
    checked_code_event_ids: frozenset[str] = frozenset()
    # a refusal decided while preparing (the code was not judged), raised in the batch's order
    refusal: LedgerError | None = None


@dataclass
class Context:
    """What a decision may read: the clock, ids, the calendar and the streams known so far."""

    calendar: LedgerCalendar
    now: datetime  # the recorded_at of this append; effective_at defaults to it
    actor: str
    new_id: Callable[[], str]
    streams: dict[str, Stream]
    load: Callable[[str], Stream]
    locate: Callable[[str], str | None]  # event id → stream id, for voids
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    views: Views = field(default_factory=Views)  # the writer's, shared by its decisions

    def stream(self, stream_id: str) -> Stream:
        found = self.streams.get(stream_id)
        if found is None:
            found = self.load(stream_id)
            self.streams[stream_id] = found
        return found

    def world(self, *stream_ids: str) -> World:
        for sid in stream_ids:
            self.stream(sid)
        return World(_LazyStreams(self), views=self.views)


class _LazyStreams(dict[str, Stream]):
    """A mapping that loads streams on first use, so rule functions can reach any aggregate."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self._ctx = ctx

    def get(self, key: str, default: Any = None) -> Any:
        return self._ctx.stream(key)

    def __getitem__(self, key: str) -> Stream:
        return self._ctx.stream(key)

    def items(self) -> Any:
        return self._ctx.streams.items()

    def __iter__(self) -> Iterator[str]:
        return iter(self._ctx.streams)


@dataclass
class Verdict:
    """What a command decides: the events it appends and what it returns to its caller."""

    events: list[ev.LedgerEvent]
    result: dict[str, Any] = field(default_factory=dict)


class Builder:
    """Stamps the metadata every event carries and numbers events within their stream."""

    def __init__(self, ctx: Context, command: cmd.Command, effective_at: datetime) -> None:
        self.ctx = ctx
        self.command = command
        self.effective_at = effective_at
        self.events: list[ev.LedgerEvent] = []

    def add(self, cls: type[ev.LedgerEvent], stream_id: str, **fields: Any) -> ev.LedgerEvent:
        stream = self.ctx.stream(stream_id)
        pending = sum(1 for e in self.events if e.originator_id == stream_id)
        event = cls(
            originator_id=stream_id,
            originator_version=stream.version + 1 + pending,
            timestamp=self.ctx.now,
            event_id=self.ctx.new_id(),
            effective_at=self.effective_at,
            actor=self.ctx.actor,
            idempotency_key=self.command.idempotency_key,
            **fields,
        )
        self.events.append(event)
        return event


def effective_time(command: cmd.Command, calendar: LedgerCalendar, now: datetime) -> datetime:
    """The command's valid time: its `effective_at` in the ledger's zone, or now."""
    if command.effective_at is None:
        return now
    try:
        return calendar.parse_instant(command.effective_at)
    except ValueError as e:
        raise InvalidInput(f"effective_at is not an ISO-8601 instant or date: {e}", field="effective_at") from None


Handler = Callable[[Any, Context, Builder, datetime, Prepared], dict[str, Any] | None]


def registrar(table: dict[type[cmd.Command], Handler]) -> Callable[[type[cmd.Command]], Callable[[Handler], Handler]]:
    """A decorator filling `table`: `@handles(cmd.X)` marks the function deciding command X."""

    def handles(command_type: type[cmd.Command]) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            table[command_type] = fn
            return fn

        return register

    return handles
