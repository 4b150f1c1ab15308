"""`ledger demo` and `ledger import`: loading commands into the ledger."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from api.cli_common import err, open_system, out
from api.settings import Settings
from ledger.commands import Command, parse_command
from ledger.errors import LedgerError


class _ScriptedClock:
    """The demo's clock: the instant at which the ledger is to learn each command."""

    def __init__(self) -> None:
        self.now = datetime.now().astimezone()

    def __call__(self) -> datetime:
        return self.now


def demo(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="do nothing if the ledger already holds events")] = False,
) -> None:
    """Load the small demo history (one district, three schools, a dozen teachers, three school years)."""
    from api import demo as demo_history

    settings = Settings()
    clock = _ScriptedClock()
    system = open_system(settings, clock=clock)
    try:
        if system.last_position() and if_empty:
            out.print("The ledger already holds events: demo not loaded.")
            return
        labels: dict[str, Any] = {}
        calendar = system.calendar
        steps = list(demo_history.resolved(demo_history.steps(), calendar))
        for recorded, n, raw in steps:
            command = dict(raw)
            label = command.pop("_label", None)
            for key, value in list(command.items()):
                if isinstance(value, str) and value.startswith("@"):
                    command[key] = labels[value[1:]]
            command["idempotency_key"] = f"demo-{n}"
            clock.now = recorded
            outcome = system.service.execute(parse_command(command), "demo")
            if label == "code":
                labels[label] = outcome.result.get("code")
            elif label:
                labels[label] = outcome.events[0].event_id
        system.runner.catch_up()
        out.print(f"Demo loaded: {len(steps)} commands, ledger position {system.last_position()}.")
    finally:
        system.close()


def _import_key(command: dict[str, Any], seen: Counter[str]) -> str:
    body = orjson.dumps(command, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(body).hexdigest()[:32]
    seen[digest] += 1
    return f"import-{digest}-{seen[digest]}"


def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines: one command per line")],
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="commands per atomic batch")] = 500,
    actor: Annotated[str, typer.Option(help="client id recorded as the actor")] = "import",
) -> None:
    """Append commands from a JSON Lines file in atomic batches; safe to re-run (idempotency keys)."""
    settings = Settings()
    lines = file.read_text().splitlines()
    commands: list[tuple[int, Command]] = []
    seen: Counter[str] = Counter()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
            if isinstance(raw, dict) and not raw.get("idempotency_key"):
                raw["idempotency_key"] = _import_key(raw, seen)
            commands.append((number, parse_command(raw)))
        except (orjson.JSONDecodeError, ValidationError) as e:
            err.print(f"line {number}: {e}".splitlines()[0])
            raise typer.Exit(2) from None
    system = open_system(settings)
    appended = replayed = events = 0
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("import", total=len(commands), rate="")
            for start in range(0, len(commands), batch_size):
                chunk = commands[start : start + batch_size]
                try:
                    outcomes = system.service.execute_batch([c for _, c in chunk], actor)
                except LedgerError as e:
                    index = getattr(e, "index", 0)
                    err.print(f"line {chunk[index][0]}: refused ({e.code}, rule {e.rule}): {e.message}")
                    err.print("Earlier batches are recorded; fix the line and re-run: recorded commands are skipped.")
                    raise typer.Exit(1) from None
                replayed += sum(1 for o in outcomes if o.replayed)
                appended += sum(1 for o in outcomes if not o.replayed)
                events += sum(len(o.events) for o in outcomes if not o.replayed)
                rate = (start + len(chunk)) / max(time.perf_counter() - started, 1e-9)
                progress.update(task, advance=len(chunk), rate=f"{rate:,.0f} commands/s")
    finally:
        system.close()
    seconds = time.perf_counter() - started
    out.print(
        f"{appended} commands appended, {replayed} already recorded (skipped): {events} events in {seconds:.1f} s."
    )
