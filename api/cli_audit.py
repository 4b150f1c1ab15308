"""`ledger audit …`: check an exported bundle and answer questions from it, with no database and no server."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.present import ACCESS_CSV_HEADER, access_csv_rows
from api.settings import Settings
from bootstrap import open_ledger
from ledger.access.vocabulary import Level
from ledger.calendar import LedgerCalendar
from ledger.verify import VerificationError
from projections.queries import AccessAnswer
from storage.bundle import load_bundle, verify_bundle

audit_app = typer.Typer(help="Check an exported audit bundle, with no database and no server.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

BundleDir = Annotated[Path, typer.Argument(exists=True, file_okay=False, help="an exported bundle (ledger export)")]


def show_access(answer: AccessAnswer, title: str, *, as_csv: bool) -> None:
    """Print a who-had-access answer as a table, or as CSV."""
    rows = access_csv_rows(answer)
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(ACCESS_CSV_HEADER)
        writer.writerows(rows)
        return
    table = Table(title=title)
    for column in ACCESS_CSV_HEADER:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    out.print(table)


@audit_app.command("verify")
def audit_verify(directory: BundleDir) -> None:
    """Check a bundle's signatures, its tree and its proofs; exit 1 naming the first problem."""
    started = time.perf_counter()
    try:
        report = verify_bundle(directory)
    except VerificationError as e:
        err.print(f"NOT VERIFIED: {e}")
        raise typer.Exit(1) from None
    elapsed = time.perf_counter() - started
    out.print(
        f"ok: {report.events} events (positions {report.first_position}–{report.last_position}) verified against "
        f"the signed head, consistent with the log's head of size {report.latest_size} ({elapsed:.2f} s)"
    )


@audit_app.command("replay")
def audit_replay(
    directory: BundleDir,
    org: Annotated[str, typer.Option("--org", help="school or district id")],
    from_: Annotated[str, typer.Option("--from", help="start date or instant (inclusive)")],
    to: Annotated[str, typer.Option("--to", help="end date or instant (exclusive)")],
    level: Annotated[Level, typer.Option(help="student-level or aggregate data")] = Level.STUDENT,
    as_csv: Annotated[bool, typer.Option("--csv", help="print CSV")] = False,
) -> None:
    """Who had access to an organization's data between two dates, answered from a verified bundle alone."""
    settings = Settings()
    calendar = LedgerCalendar(settings.timezone, settings.kept_years)
    try:
        start, end = calendar.parse_instant(from_), calendar.parse_instant(to)
    except ValueError as e:
        err.print(f"bad date: {e}")
        raise typer.Exit(2) from None
    system = open_ledger("memory://", calendar=calendar, follow=False)
    try:
        try:
            report = load_bundle(directory, system.service.recorder)
        except VerificationError as e:
            err.print(f"NOT VERIFIED: {e}")
            raise typer.Exit(1) from None
        system.runner.catch_up()
        if not system.queries.org_exists(org):
            err.print(f"unknown organization {org}")
            raise typer.Exit(1)
        answer = system.queries.who_had_access(org, start, end, level)
        title = (
            f"{level.value}-level access to {org}, [{from_}, {to}), from the bundle (position {report.last_position})"
        )
        show_access(answer, title, as_csv=as_csv)
    finally:
        system.close()
