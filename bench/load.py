"""Load a generated history through the ledger's own write path, with a scripted clock.

Commands go through `LedgerService.execute_batch` (the import path) in batches; the
clock reads the instant of the batch's last command, so `recorded_at` never
decreases and every command's explicit `effective_at` is at or before it.

A command naming a placeholder (`@code:…`, `@ev:…`) that an unflushed command
defines is held back until that batch is appended: codes are returned only by
their issuance, and redemptions are verified against what is already stored.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.generate import Item
from ledger.commands import Command, parse_command
from ledger.errors import BatchRefused
from storage.outcomes import Outcome
from storage.service import LedgerService

ACTOR = "bench"
FREEZE_EVERY = 100  # batches between two freezes of what the load keeps


class ScriptedClock:
    """The instant at which the ledger learns the commands being appended."""

    def __init__(self, start: int = 0) -> None:
        self.now = datetime.fromtimestamp(start, UTC)

    def set(self, t: int) -> None:
        self.now = datetime.fromtimestamp(t, UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class LoadStats:
    commands: int = 0
    events: int = 0
    batches: int = 0
    generate_s: float = 0.0  # time spent producing items (the generator, interleaved)
    append_s: float = 0.0  # time spent in parse_command and execute_batch
    per_type: dict[str, int] = field(default_factory=dict)


def _refs(command: dict[str, Any]) -> list[str]:
    return [v[1:] for k, v in command.items() if k in ("code", "event_id") and isinstance(v, str) and v[:1] == "@"]


class Loader:
    """Appends items in batches, resolving placeholders from earlier outcomes."""

    def __init__(self, service: LedgerService, clock: ScriptedClock, batch_size: int = 500) -> None:
        self.service = service
        self.clock = clock
        self.batch_size = batch_size
        self.labels: dict[str, str] = {}
        self.pending: list[tuple[Item, Command]] = []
        self.dirty: set[str] = set()  # labels (re)defined by pending commands
        self.stats = LoadStats()

    def add(self, item: Item) -> None:
        command = item.command
        refs = _refs(command)
        if refs and any(r in self.dirty or r not in self.labels for r in refs):
            self.flush()
        if refs:
            command = dict(command)
            for key in ("code", "event_id"):
                value = command.get(key)
                if isinstance(value, str) and value[:1] == "@":
                    command[key] = self.labels[value[1:]]
        started = time.perf_counter()
        parsed = parse_command(command)
        self.stats.append_s += time.perf_counter() - started
        self.pending.append((item, parsed))
        if item.label:
            self.dirty.add(item.label)
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        self.dirty.clear()
        self.clock.set(max(item.t for item, _ in batch))
        started = time.perf_counter()
        try:
            outcomes = self.service.execute_batch([c for _, c in batch], ACTOR)
        except BatchRefused as e:
            item = batch[e.index][0]
            raise RuntimeError(f"the generated history was refused at {item}: {e.error!r}") from e
        self.stats.append_s += time.perf_counter() - started
        for (item, _), outcome in zip(batch, outcomes, strict=True):
            self._learn(item, outcome)
        self.stats.batches += 1

    def _learn(self, item: Item, outcome: Outcome) -> None:
        kind = item.command["type"]
        self.stats.commands += 1
        self.stats.events += len(outcome.events)
        self.stats.per_type[kind] = self.stats.per_type.get(kind, 0) + 1
        if item.label is None:
            return
        if item.label.startswith("code:"):
            self.labels[item.label] = str(outcome.result["code"])
        else:
            self.labels[item.label] = outcome.events[0].event_id


def timed(items: Iterable[Item], stats: LoadStats) -> Iterator[Item]:
    """Items, with the time spent producing them added to `stats.generate_s`."""
    iterator = iter(items)
    while True:
        started = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            stats.generate_s += time.perf_counter() - started
            return
        stats.generate_s += time.perf_counter() - started
        yield item


def load(
    service: LedgerService,
    clock: ScriptedClock,
    items: Iterable[Item],
    *,
    batch_size: int = 500,
    progress: Callable[[LoadStats], None] | None = None,
    every: int = 50,
) -> LoadStats:
    """Append every item; returns counts and where the time went."""
    loader = Loader(service, clock, batch_size)
    frozen_at = 0
    for item in timed(items, loader.stats):
        loader.add(item)
        if loader.stats.batches - frozen_at >= FREEZE_EVERY:
            # The generator's schedule and the loader's labels grow to millions of long-lived objects:
            # left in the collector's generations, every full pass walks them all (at the national
            # tier, 40 % of the load's time went to the collector). Frozen, they are never walked again.
            frozen_at = loader.stats.batches
            gc.freeze()
        if progress is not None and loader.stats.batches % every == 0 and not loader.pending:
            progress(loader.stats)
    loader.flush()
    gc.unfreeze()
    return loader.stats
