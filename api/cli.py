"""The `ledger` command line: serve, demo, import, replay, rebuild, verify, checkpoints.

Every command reads LEDGER_DATABASE_URL (default sqlite:///./ledger.db) and the
other LEDGER_* settings.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from api.cli_audit import CLIP_HELP, audit_app, show_access
from api.settings import Settings
from bootstrap import calendar_of, open_from_settings
from bootstrap.store import (
    Checkpoint,
    LogEvidence,
    SigningKeyError,
    checkpoint_json,
    parse_checkpoints,
    parse_database_url,
    previous_public_keys,
    resolve_key,
    write_new_key,
)
from ledger.access.vocabulary import Level
from ledger.commands import Command, parse_command
from ledger.errors import LedgerError
from ledger.verify import log_id, public_key_bytes
from projections.system import LedgerSystem

app = typer.Typer(
    help="AP score-reports access ledger: who could see what, when, as known when, and why.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)


def _open(settings: Settings, *, clock: Any = None, follow: bool = False) -> LedgerSystem:
    """The ledger the settings name (the same composition root as the server's); not followed by default."""
    if clock is None:
        return open_from_settings(settings, follow=follow)
    return open_from_settings(settings, clock=clock, follow=follow)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1, envvar="LEDGER_WORKERS", help="worker processes, each following the log with its own cache"
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API (and the console) with uvicorn."""
    import uvicorn

    from api.bootstrap import create_app
    from api.server_limits import HEAD_LIMITED

    settings = Settings()
    if workers > 1 and settings.database_url.startswith("memory:"):
        err.print("memory:// is private to one process: use SQLite or PostgreSQL with --workers")
        raise typer.Exit(2)
    out.print(
        f"Serving the ledger ({parse_database_url(settings.database_url).display}) on http://{host}:{port}",
        soft_wrap=True,
    )
    out.print(f"  API docs: http://{host}:{port}/docs   console: http://{host}:{port}/console", soft_wrap=True)
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False, http=HEAD_LIMITED)
        return
    if settings.api_keys is None:
        # Every worker must accept the same keys (and sign console sessions alike): make them here, once.
        os.environ["LEDGER_API_KEYS"] = _generated_keys()
    out.print(f"  {workers} worker processes", soft_wrap=True)
    from api.observability import configure_logging

    configure_logging(settings.log_level)  # the supervisor's own lines (a worker died, was replaced)
    uvicorn.run(
        "api.bootstrap:create_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        # A worker starting on a busy machine may not answer the supervisor's ping within uvicorn's 5 s;
        # it would be killed and replaced, again and again.
        timeout_worker_healthcheck=60,
        http=HEAD_LIMITED,
    )


def _generated_keys() -> str:
    """One fresh key per role, printed once; returned as a LEDGER_API_KEYS value."""
    from api.security import KeyRing

    _, generated = KeyRing.generate()
    out.print("LEDGER_API_KEYS is not set: generated one API key per role for this run (not stored anywhere):")
    for _, role, secret in generated:
        out.print(f"  {role.value:<9}  Authorization: Bearer {secret}", soft_wrap=True)
    return ",".join(f"{client_id}:{role.value}:{secret}" for client_id, role, secret in generated)


class _ScriptedClock:
    """The demo's clock: the instant at which the ledger is to learn each command."""

    def __init__(self) -> None:
        self.now = datetime.now().astimezone()

    def __call__(self) -> datetime:
        return self.now


@app.command()
def demo(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="do nothing if the ledger already holds events")] = False,
) -> None:
    """Load the small demo history (one district, three schools, a dozen teachers, three school years)."""
    from api import demo as demo_history

    settings = Settings()
    clock = _ScriptedClock()
    system = _open(settings, clock=clock)
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


@app.command("import")
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
    system = _open(settings)
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


@app.command()
def replay(
    org: Annotated[str, typer.Option("--org", help="school or district id")],
    from_: Annotated[str, typer.Option("--from", help="start date or instant (inclusive)")],
    to: Annotated[str, typer.Option("--to", help="end date or instant (exclusive)")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="ledger position or instant (default: latest)")] = None,
    level: Annotated[Level, typer.Option(help="student-level or aggregate data")] = Level.STUDENT,
    clip: Annotated[bool, typer.Option("--clip", help=CLIP_HELP)] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="print CSV (a header row, then by person and start)")] = False,
) -> None:
    """Who had access to an organization's data between two dates, through which grant (for auditors).

    Each interval names the person, role, organization acted for and grant (event type, log position, id);
    times are in the ledger's zone with their offset."""
    settings = Settings()
    system = _open(settings)
    try:
        system.runner.catch_up()
        calendar = system.calendar
        try:
            start, end = calendar.parse_instant(from_), calendar.parse_instant(to)
            position: int | datetime | None = None
            if as_of is not None:
                position = int(as_of) if as_of.isdigit() else calendar.parse_instant(as_of)
        except ValueError as e:
            err.print(f"bad date: {e}")
            raise typer.Exit(2) from None
        if not system.queries.org_exists(org):
            err.print(f"unknown organization {org}")
            raise typer.Exit(1)
        answer = system.queries.who_had_access(org, start, end, level, as_of=position, clip=clip)
        show_access(
            answer,
            f"{level.value}-level access to {org}, [{from_}, {to}), as of position {answer.position}",
            calendar.zone,
            as_csv=as_csv,
        )
    finally:
        system.close()


@app.command()
def rebuild() -> None:
    """Drop the projections and rebuild them from position 0."""
    settings = Settings()
    system = _open(settings)
    try:
        end = system.last_position()
        with Progress(
            TextColumn("rebuilding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
        ) as progress:
            task = progress.add_task("rebuild", total=end)
            system.runner.rebuild(lambda done, total: progress.update(task, completed=done, total=total))
        out.print(f"Projections rebuilt to position {system.view.tracked()}.")
    finally:
        system.close()


def _log_evidence(settings: Settings) -> Callable[[LedgerSystem], LogEvidence]:
    """The log's signer for a ledger (the key is read, or refused, before the store is opened)."""
    try:
        key = resolve_key(settings.database_url, settings.signing_key_file)
        previous = previous_public_keys(settings.previous_public_keys)
    except SigningKeyError as e:
        err.print(str(e))
        raise typer.Exit(2) from None

    def evidence(system: LedgerSystem) -> LogEvidence:
        try:
            return system.open_evidence(key, previous)
        except SigningKeyError as e:  # the caller closes the store
            err.print(str(e), soft_wrap=True)
            raise typer.Exit(2) from None

    return evidence


@app.command()
def verify(
    full: Annotated[
        bool, typer.Option("--full", help="re-hash from genesis, not from the last verified checkpoint")
    ] = False,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            exists=True,
            dir_okay=False,
            help="a JSON file of exported checkpoints (`ledger checkpoints` output); prove the log extends them",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Re-hash the stored events against the chain and the Merkle tree (from the last checkpoint, or --full);
    record the outcome and, on success, a checkpoint with a signed tree head. Exit 1 if anything was tampered with."""
    external: list[Checkpoint] = []
    for file in checkpoint or []:
        try:
            external += parse_checkpoints(orjson.loads(file.read_bytes()))
        except (orjson.JSONDecodeError, ValueError) as e:
            err.print(f"{file}: not a checkpoint file: {e}")
            raise typer.Exit(2) from None
    settings = Settings()
    evidence = _log_evidence(settings)
    system = _open(settings)
    try:
        report = system.verify(evidence(system), full=full, external=external, source="cli")
    finally:
        system.close()
    if as_json:
        chain = report.chain
        body = {
            "ok": report.ok,
            "checked": report.checked,
            "position": report.position,
            "first_bad_position": report.first_bad_position,
            "full": report.full,
            "from_position": report.from_position,
            "problem": report.problem,
            "checkpoints_compared": chain.checkpoints_compared,
            "checkpoint": checkpoint_json(chain.checkpoint) if report.ok and chain.checkpoint else None,
            "tree_size": report.tree_size,
            "root_hash": report.root_hash,
        }
        print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    elif report.ok:
        how = "from genesis" if report.full else f"from checkpoint {report.from_position}"
        compared = report.chain.checkpoints_compared
        extra = f", {compared} checkpoints compared" if compared else ""
        out.print(f"ok: {report.checked} events verified {how} up to position {report.position}{extra}")
    if not report.ok:
        where = f"first bad position {report.first_bad_position}: " if report.first_bad_position else ""
        err.print(f"TAMPERED: {where}{report.problem}", soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def checkpoints(
    latest: Annotated[bool, typer.Option("--latest", help="only the most recent checkpoint")] = False,
) -> None:
    """Print the integrity checkpoints as JSON, to keep outside the database (`ledger verify --checkpoint FILE`)."""
    settings = Settings()
    system = _open(settings)
    try:
        found = system.checkpoints()
    finally:
        system.close()
    if latest:
        found = found[-1:]
    print(orjson.dumps({"checkpoints": [checkpoint_json(c) for c in found]}, option=orjson.OPT_INDENT_2).decode())


@app.command()
def keygen(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="where to write the key (PEM, mode 0600)")],
) -> None:
    """Make the log's Ed25519 signing key (for LEDGER_SIGNING_KEY_FILE); never overwrites a file."""
    try:
        key = write_new_key(file)
    except FileExistsError:
        err.print(f"{file} already exists: not overwritten")
        raise typer.Exit(1) from None
    public = public_key_bytes(key.public_key())
    out.print(f"Wrote the signing key to {file} (mode 0600). Keep it out of the database and its backups.")
    out.print(f"public key (base64): {base64.b64encode(public).decode()}", soft_wrap=True)
    out.print(f"log id: {log_id(public)}", soft_wrap=True)


@app.command()
def export(
    directory: Annotated[Path, typer.Argument(file_okay=False, help="where to write the bundle")],
    from_: Annotated[str | None, typer.Option("--from", help="first date or instant (inclusive)")] = None,
    to: Annotated[str | None, typer.Option("--to", help="end date or instant (exclusive)")] = None,
) -> None:
    """Write an offline audit bundle: the events recorded in [--from, --to) with their entry bytes, the
    signed heads and proofs that tie them to the log, and the public key (`ledger audit verify DIR`)."""
    settings = Settings()
    calendar = calendar_of(settings)
    try:
        start = calendar.parse_instant(from_) if from_ else None
        end = calendar.parse_instant(to) if to else None
    except ValueError as e:
        err.print(f"bad date: {e}")
        raise typer.Exit(2) from None
    evidence = _log_evidence(settings)
    system = _open(settings)
    try:
        count = system.export_bundle(evidence(system), directory, start, end)
    finally:
        system.close()
    out.print(f"{count} events written to {directory}")


app.add_typer(audit_app, name="audit")


def main() -> None:
    """Entry point of the `ledger` console script."""
    app()


if __name__ == "__main__":
    main()
