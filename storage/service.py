"""The write path: commands in, events out, through the eventsourcing library.

`LedgerService` runs commands on a `storage.application.LedgerApplication`:

1. outside any lock: validate idempotency keys, generate a code and its slow
   digest (`issue_access_code`), verify a presented code (`redeem_access_code`);
2. under the store's append lock, in one transaction: catch the process's
   aggregate cache up with other writers, stamp `recorded_at = max(clock, last
   recorded_at)`, decide every command of the batch in order (each sees the
   events of the ones before), chain-hash and insert the events, store
   idempotency records;
3. after commit: keep the new aggregate states in the cache.

Any refusal rolls the whole transaction back: nothing is recorded. The one
exception, asked for by R10, is an access code judged in vain — a wrong code, or a
right one whose command or batch is refused all the same: the transaction then
holds only those failures (never a code), committed before the refusal is raised,
so the lockout counts them before the next guess is decided and auditors see them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from eventsourcing.persistence import ApplicationRecorder, OperationalError, StoredEvent

from ledger import commands as cmd
from ledger import events as ev
from ledger.calendar import LedgerCalendar
from ledger.decide import decide
from ledger.decide.codes import failed_redemption
from ledger.decide.core import Context, Prepared
from ledger.errors import (
    BatchRefused,
    IdempotencyConflict,
    InvalidInput,
    LedgerError,
    RuleViolation,
    StalePreparation,
    WrongCode,
)
from ledger.rules.codes import LockoutPolicy
from ledger.streams import Stream, evolve, fold
from ledger.world import Views
from storage.application import LedgerApplication
from storage.code_checks import plan_code_checks, run_code_checks
from storage.codes import CodeHasher
from storage.collector import collector_paused
from storage.ids import uuid7
from storage.integrity import GENESIS, chain_hash
from storage.mapper import LedgerMapper
from storage.outcomes import EventReceipt, Outcome, Preview
from storage.recorders import AppendTxn, IdempotencyRecord, LedgerRecorder, Row


def request_hash(command: cmd.Command) -> str:
    """Fingerprint of a command body for idempotency (secrets excluded, see Command.SECRET_FIELDS)."""
    return hashlib.sha256(orjson.dumps(command.body_for_idempotency(), option=orjson.OPT_SORT_KEYS)).hexdigest()


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


class LedgerService:
    """Runs commands against one store; one instance per process, shared by threads."""

    def __init__(
        self,
        app: LedgerApplication,
        calendar: LedgerCalendar,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = uuid7,
        hasher: CodeHasher | None = None,
        lockout: LockoutPolicy | None = None,
        cache_size: int = 20_000,
        max_code_checks: int | None = None,
    ) -> None:
        self.app = app
        recorder = app.recorder
        assert isinstance(recorder, LedgerRecorder), type(recorder)
        self.recorder: LedgerRecorder = recorder
        self.library_recorder: ApplicationRecorder = app.recorder
        mapper = app.mapper
        assert isinstance(mapper, LedgerMapper)
        self.mapper: LedgerMapper = mapper
        self.calendar = calendar
        self.clock = clock
        self.new_id = new_id
        self.hasher = hasher or CodeHasher()
        self.lockout = lockout or LockoutPolicy()
        # argon2id hashes one request may cause: set by the HTTP API; local imports are not capped
        self.max_code_checks = max_code_checks
        self._cache: OrderedDict[str, Stream] = OrderedDict()
        self._cache_size = cache_size
        self.views = Views(limit=2 * cache_size)  # views of the cached states, built once
        self._known: int | None = None  # the cache reflects the log up to this position
        self._last_recorded_at: datetime | None = None
        # Threads of one process queue here rather than on the database lock.
        self._lock = threading.Lock()
        self.listeners: list[Callable[[int], None]] = []  # told the last position after each append

    # --- public API ---------------------------------------------------------------------

    def execute(self, command: cmd.Command, actor: str) -> Outcome:
        """Run one command; refusals raise a LedgerError and record nothing."""
        return self._run([command], actor, batch=False)[0]

    def execute_batch(self, commands: Sequence[cmd.Command], actor: str) -> list[Outcome]:
        """Run commands atomically: all are appended, or none (BatchRefused names the first refusal)."""
        if not commands:
            raise InvalidInput("a batch needs at least one command", field="commands")
        return self._run(list(commands), actor, batch=True)

    def preview(self, commands: Sequence[cmd.Command], actor: str, *, batch: bool | None = None) -> Preview:
        """Decide commands as `execute` (one) or `execute_batch` would, and append nothing: the events
        they would record. `batch` (default: more than one command) refuses as a batch does, naming
        the command's index.

        The decision runs under the append lock against the log's head, inside a transaction
        that is always rolled back: no event, no idempotency record and no failed redemption
        (R10) is recorded. Refusals raise exactly as they would on the real append — except that
        a redemption is refused unjudged: a preview judging its code would test a guess without
        a trace or a count toward the lockout.
        """
        batch = len(commands) > 1 if batch is None else batch
        if not commands:
            raise InvalidInput("a batch needs at least one command", field="commands")
        keys = [c.idempotency_key for c in commands if c.idempotency_key]
        if len(keys) != len(set(keys)):
            raise InvalidInput("an idempotency key appears twice in this batch", field="idempotency_key")
        for index, command in enumerate(commands):
            if isinstance(command, cmd.RedeemAccessCode):
                unjudged = RuleViolation(
                    "a redemption cannot be previewed: its code is judged only when the redemption is run",
                    code="redemption_not_previewable",
                    rule="R10",
                )
                raise BatchRefused(index, unjudged) if batch else unjudged
        for _ in range(8):
            prepared = [self._prepare_at(index, c, batch=batch) for index, c in enumerate(commands)]
            try:
                with self._lock, self.recorder.append_txn() as txn:
                    raise _RolledBack(self._decide_only(txn, list(commands), prepared, actor, batch=batch))
            except _RolledBack as done:
                return done.preview
            except StalePreparation:
                continue
        raise OperationalError("the ledger was too busy to preview; try again")

    def _decide_only(
        self, txn: AppendTxn, commands: list[cmd.Command], prepared: list[Prepared], actor: str, *, batch: bool
    ) -> Preview:
        working: dict[str, Stream] = {}
        pending: list[ev.LedgerEvent] = []
        last, ctx = self._context(txn, actor, working)
        stored_keys = txn.idempotency([c.idempotency_key for c in commands if c.idempotency_key])
        ctx.locate = lambda event_id: (
            next((str(e.originator_id) for e in pending if e.event_id == event_id), None) or txn.locate(event_id)
        )
        results: list[dict[str, Any]] = []
        replayed: list[bool] = []
        for index, (command, prep) in enumerate(zip(commands, prepared, strict=True)):
            if command.idempotency_key and command.idempotency_key in stored_keys:
                self._replay(command, stored_keys[command.idempotency_key], index if batch else None)
                results.append({})
                replayed.append(True)  # the first result would be answered again; nothing would change
                continue
            try:
                verdict = decide(command, ctx, prep)
            except LedgerError as error:
                if batch:
                    raise BatchRefused(index, error) from error
                raise
            for new in verdict.events:
                working[new.originator_id] = evolve(ctx.stream(new.originator_id), new)
            pending.extend(verdict.events)
            results.append({k: v for k, v in verdict.result.items() if k != "code"})  # no code is issued
            replayed.append(False)
        after = last.position if last is not None else 0
        positioned = tuple((after + n, e) for n, e in enumerate(pending, start=1))
        return Preview(after, ctx.now, positioned, tuple(results), tuple(replayed))

    def last_position_cached(self) -> int:
        """The last position this process appended or caught up to (no database round trip)."""
        return self._known or 0

    def stream(self, stream_id: str) -> Stream:
        """A stream's current state, read from the store (outside the append lock)."""
        events = [self.mapper.decode(s) for s in self.library_recorder.select_events(stream_id)]
        return fold(stream_id, events)

    def close(self) -> None:
        """Release the store's connections."""
        self.app.close()

    # --- the write path -------------------------------------------------------------------

    def _run(self, commands: list[cmd.Command], actor: str, *, batch: bool) -> list[Outcome]:
        keys = [c.idempotency_key for c in commands if c.idempotency_key]
        if len(keys) != len(set(keys)):
            raise InvalidInput("an idempotency key appears twice in this batch", field="idempotency_key")
        replays = self._replays_outside_lock(commands, batch=batch)
        if replays is not None:
            return replays
        for attempt in range(8):
            prepared = self._prepare_all(commands, batch=batch)
            try:
                with self._lock, collector_paused() if len(commands) > 1 else nullcontext():
                    return self._append(commands, prepared, actor, batch=batch)
            except StalePreparation:
                continue
            except OperationalError:
                if attempt == 7:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise OperationalError("the ledger was too busy to append; try again")

    def _prepare_all(self, commands: list[cmd.Command], *, batch: bool) -> list[Prepared]:
        """Slow work that must not hold the append lock: new codes' digests, and the codes presented.

        What is hashed is planned first (storage.code_checks): cheap refusals, the lockout and
        the per-request cap are judged before any hashing.
        """
        plan = None
        if any(isinstance(c, cmd.RedeemAccessCode | cmd.IssueAccessCode) for c in commands):
            plan = plan_code_checks(
                commands, self.stream, self.calendar, self.lockout, self.clock(), self.max_code_checks
            )
        prepared = [self._prepare_at(index, c, batch=batch) for index, c in enumerate(commands)]
        if plan is not None:
            for index, checked in run_code_checks(plan, self.hasher).items():
                prepared[index] = checked
        return prepared

    def _prepare_at(self, index: int, command: cmd.Command, *, batch: bool) -> Prepared:
        try:
            return self._prepare(command)
        except LedgerError as error:
            if batch:
                raise BatchRefused(index, error) from error
            raise

    def _replays_outside_lock(self, commands: list[cmd.Command], *, batch: bool) -> list[Outcome] | None:
        """Fast path: every command carries a key already answered (one read for the whole batch)."""
        keys = [c.idempotency_key for c in commands if c.idempotency_key]
        if len(keys) < len(commands):
            return None
        records = self.recorder.find_idempotencies(keys) if len(keys) > 1 else self._find_one(keys[0])
        if len(records) < len(keys):
            return None
        return [
            self._replay(c, records[key], index if batch else None)
            for index, (c, key) in enumerate(zip(commands, keys, strict=True))
        ]

    def _find_one(self, key: str) -> dict[str, IdempotencyRecord]:
        record = self.recorder.find_idempotency(key)
        return {} if record is None else {key: record}

    def _replay(self, command: cmd.Command, record: IdempotencyRecord, index: int | None = None) -> Outcome:
        """The first result of a repeated command; another body under the same key is refused."""
        if record.request_hash != request_hash(command):
            conflict = IdempotencyConflict(
                f"idempotency key {command.idempotency_key!r} was used before with another body"
            )
            raise conflict if index is None else BatchRefused(index, conflict)
        return Outcome.from_json(orjson.loads(record.response), replayed=True)

    def _prepare(self, command: cmd.Command) -> Prepared:
        """A new code and its slow digest (codes presented are checked by `_prepare_all`)."""
        if isinstance(command, cmd.IssueAccessCode):
            code, digest = self.hasher.new_code()
            return Prepared(code=code, code_digest=digest)
        return Prepared()

    def _cached(self, stream_id: str) -> Stream | None:
        found = self._cache.get(stream_id)
        if found is not None:
            self._cache.move_to_end(stream_id)
        return found

    def _remember(self, stream: Stream) -> None:
        self._cache[stream.id] = stream
        self._cache.move_to_end(stream.id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _catch_up(self, txn: AppendTxn) -> tuple[Row | None, datetime | None]:
        """Bring the aggregate cache up to the log's last position (other processes may have written)."""
        last = txn.last_row()
        if last is None:
            self._known, self._last_recorded_at = 0, None
            return None, None
        if self._known == last.position and self._last_recorded_at is not None:
            return last, self._last_recorded_at
        if self._known is None or last.position - self._known > 2000:
            self._cache.clear()
        else:
            for row in txn.rows_after(self._known, last.position - self._known):
                cached = self._cache.get(str(row.stored.originator_id))
                if cached is not None and row.stored.originator_version == cached.version + 1:
                    self._cache[cached.id] = evolve(cached, self.mapper.decode(row.stored))
                elif cached is not None:
                    self._cache.pop(cached.id, None)
        self._known = last.position
        self._last_recorded_at = self.mapper.decode(last.stored).recorded_at
        return last, self._last_recorded_at

    def _context(self, txn: AppendTxn, actor: str, working: dict[str, Stream]) -> tuple[Row | None, Context]:
        """Catch up with the log and open a decision context at a `recorded_at` that never decreases."""
        last, last_recorded_at = self._catch_up(txn)
        now = self.clock()
        if last_recorded_at is not None and now < last_recorded_at:
            now = last_recorded_at  # recorded_at never decreases along the position

        def load(stream_id: str) -> Stream:
            cached = self._cached(stream_id)
            if cached is not None:
                return cached
            stream = fold(stream_id, [self.mapper.decode(s) for s in txn.stream_events([stream_id])])
            self._remember(stream)
            return stream

        ctx = Context(
            calendar=self.calendar,
            now=now,
            actor=actor,
            new_id=self.new_id,
            streams=working,
            load=load,
            locate=txn.locate,
            lockout=self.lockout,
            views=self.views,
        )
        return last, ctx

    def _write(self, txn: AppendTxn, last: Row | None, pending: list[ev.LedgerEvent]) -> list[int]:
        """Insert the decided events at the next positions, each chained to the one before."""
        positions = txn.reserve_positions(len(pending))
        chain = last.chain if last is not None else GENESIS
        rows = []
        for pos, new in zip(positions, pending, strict=True):
            stored = self.mapper.to_stored_event(new)
            chain = chain_hash(chain, pos, stored, new.event_id)
            rows.append(Row(pos, stored, new.event_id, chain))
        txn.insert(rows)
        return positions

    def _committed(self, working: dict[str, Stream], position: int, now: datetime) -> None:
        """After the commit: the working states are the ledger's states now; tell the listeners."""
        for stream in working.values():
            self._remember(stream)
        self._known = position
        self._last_recorded_at = now
        for listener in self.listeners:
            listener(position)

    def _append(
        self, commands: list[cmd.Command], prepared: list[Prepared], actor: str, *, batch: bool
    ) -> list[Outcome]:
        with self.recorder.append_txn(bulk=len(commands) > 1) as txn:
            decided = self._decide_and_write(txn, commands, prepared, actor, batch=batch)
        # Committed: only now do the decided states become the ledger's states.
        if decided.position is not None:
            self._committed(decided.working, decided.position, decided.now)
        if decided.refusal is not None:
            raise decided.refusal
        return decided.outcomes

    def _remember_stored(self, stream_ids: list[str], stored_events: list[StoredEvent]) -> None:
        """Fold and cache these streams from their stored events (read under the lock)."""
        loaded: dict[str, list[ev.LedgerEvent]] = {sid: [] for sid in stream_ids}
        for stored in stored_events:
            loaded[str(stored.originator_id)].append(self.mapper.decode(stored))
        for sid, events in loaded.items():
            self._remember(fold(sid, events))

    def _decide_and_write(
        self, txn: AppendTxn, commands: list[cmd.Command], prepared: list[Prepared], actor: str, *, batch: bool
    ) -> _AppendResult:
        """Decide every command under the append lock and insert the events (the caller commits)."""
        working: dict[str, Stream] = {}
        pending: list[ev.LedgerEvent] = []
        # One read for the keys, and one for every stream the commands name that is not cached, asked
        # before the catch-up's read of the last row (with it, where the store pipelines). They are
        # read under the lock, so they hold whatever other writers did before: remembered after the
        # catch-up, they replace nothing newer.
        keys = [c.idempotency_key for c in commands if c.idempotency_key]
        named = {sid for c in commands for sid in c.streams()}
        missing = sorted(sid for sid in named if sid not in self._cache)
        txn.ask(keys, missing)
        last, ctx = self._context(txn, actor, working)
        stored_keys, stored_events = txn.answers()
        self._remember_stored(missing, stored_events)
        late = sorted(sid for sid in named if sid not in self._cache)  # dropped by the catch-up
        if late:
            self._remember_stored(late, txn.stream_events(late))

        def locate(event_id: str) -> str | None:
            # An event decided earlier in this batch is not in the table yet.
            for new in pending:
                if new.event_id == event_id:
                    return str(new.originator_id)
            return txn.locate(event_id)

        ctx.locate = locate
        decided: list[tuple[int, cmd.Command, list[ev.LedgerEvent], dict[str, Any]] | Outcome] = []
        judged: list[cmd.RedeemAccessCode] = []  # redemptions of this batch whose code was found right
        for index, (command, prep) in enumerate(zip(commands, prepared, strict=True)):
            try:
                if command.idempotency_key and command.idempotency_key in stored_keys:
                    decided.append(self._replay(command, stored_keys[command.idempotency_key]))
                    continue
                verdict = decide(command, ctx, prep)
            except LedgerError as error:
                attempts = judged_attempts(judged, command, error, index if batch else None)
                if not attempts:
                    if batch:
                        raise BatchRefused(index, error) from error
                    raise
                refusal: LedgerError = BatchRefused(index, error) if batch else error
                return self._write_failed_attempts(txn, last, ctx, attempts, refusal)
            if isinstance(command, cmd.RedeemAccessCode):
                judged.append(command)
            for new in verdict.events:
                working[new.originator_id] = evolve(ctx.stream(new.originator_id), new)
            pending.extend(verdict.events)
            decided.append((index, command, verdict.events, verdict.result))

        if not pending:
            return _AppendResult([d for d in decided if isinstance(d, Outcome)], working, None, ctx.now)
        positions = self._write(txn, last, pending)
        position_of = {e.event_id: p for e, p in zip(pending, positions, strict=True)}

        outcomes: list[Outcome] = []
        records: list[IdempotencyRecord] = []
        for d in decided:
            if isinstance(d, Outcome):
                outcomes.append(d)
                continue
            _, command, events, result = d
            receipts = tuple(
                EventReceipt(e.event_id, e.type, position_of[e.event_id], e.recorded_at, e.effective_at) for e in events
            )
            outcome = Outcome(receipts[-1].position, ctx.now, receipts, result)
            outcomes.append(outcome)
            if command.idempotency_key:
                stored_result = {k: (None if k == "code" else v) for k, v in result.items()}
                body = {**outcome.to_json(), "result": stored_result}
                records.append(IdempotencyRecord(command.idempotency_key, request_hash(command), orjson.dumps(body)))
        txn.put_idempotency(records)
        return _AppendResult(outcomes, working, positions[-1], ctx.now)

    def _write_failed_attempts(
        self,
        txn: AppendTxn,
        last: Row | None,
        ctx: Context,
        attempts: list[tuple[cmd.RedeemAccessCode, str]],
        refusal: LedgerError,
    ) -> _AppendResult:
        """R10: record each code judged (never the code) instead of the batch, in the same transaction.

        Recording them under the same lock means the next guess, however close behind, already
        counts them toward the lockout.
        """
        working: dict[str, Stream] = {}  # the batch's decided states are dropped
        fresh = replace(ctx, streams=working)
        events = []
        for command, reason in attempts:
            event = failed_redemption(command, fresh, reason)
            working[event.originator_id] = evolve(fresh.stream(event.originator_id), event)
            events.append(event)
        positions = self._write(txn, last, list(events))
        return _AppendResult([], working, positions[-1], ctx.now, refusal)


def judged_attempts(
    judged: list[cmd.RedeemAccessCode], command: cmd.Command, error: LedgerError, index: int | None
) -> list[tuple[cmd.RedeemAccessCode, str]]:
    """R10: the redemptions a refusal leaves unrecorded although their code was judged, with why each failed.

    A wrong code is one; so is a right code in a batch refused later, or refused itself once the
    code was found right (R8, R9): answering "refused" there without a trace would confirm a
    guessed code without counting toward the lockout.
    """
    what = f"command {index} of the batch" if index is not None else "the command"
    reason = f"right code, but {what} was refused ({error.code})"
    attempts = [(c, reason) for c in judged]
    if isinstance(command, cmd.RedeemAccessCode) and isinstance(error, WrongCode):
        attempts.append((command, "wrong code"))
    elif isinstance(command, cmd.RedeemAccessCode) and error.code_judged:
        attempts.append((command, f"right code, but refused ({error.code})"))
    return attempts


class _RolledBack(Exception):  # a control-flow signal, not an error
    """Leaves a preview's transaction through its rollback path, carrying what was decided."""

    def __init__(self, preview: Preview) -> None:
        super().__init__("preview")
        self.preview = preview


@dataclass(frozen=True)
class _AppendResult:
    """What one append transaction decided: the outcomes, or the refusal to raise after the commit."""

    outcomes: list[Outcome]
    working: dict[str, Stream]
    position: int | None  # the last position written, if anything was
    now: datetime
    refusal: LedgerError | None = None
