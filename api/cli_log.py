"""The log's integrity from the command line: `ledger verify`, `checkpoints`, `keygen` and `export`."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import orjson
import typer

from api.cli_common import err, open_system, out
from api.present import verify_result
from api.settings import Settings
from bootstrap import calendar_of
from bootstrap.store import (
    Checkpoint,
    LogEvidence,
    SigningKeyError,
    checkpoint_json,
    parse_checkpoints,
    previous_public_keys,
    resolve_key,
    write_new_key,
)
from ledger.verify import log_id, public_key_bytes
from projections.system import LedgerSystem


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
    system = open_system(settings)
    try:
        report = system.verify(evidence(system), full=full, external=external, source="cli")
    finally:
        system.close()
    if as_json:
        body = verify_result(report).model_dump(mode="json", exclude={"head"})
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


def checkpoints(
    latest: Annotated[bool, typer.Option("--latest", help="only the most recent checkpoint")] = False,
) -> None:
    """Print the integrity checkpoints as JSON, to keep outside the database (`ledger verify --checkpoint FILE`)."""
    settings = Settings()
    system = open_system(settings)
    try:
        found = system.checkpoints()
    finally:
        system.close()
    if latest:
        found = found[-1:]
    print(orjson.dumps({"checkpoints": [checkpoint_json(c) for c in found]}, option=orjson.OPT_INDENT_2).decode())


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
    system = open_system(settings)
    try:
        count = system.export_bundle(evidence(system), directory, start, end)
    finally:
        system.close()
    out.print(f"{count} events written to {directory}")
