"""`ledger replay` (who had access, from the projections) and `ledger rebuild` (the projections, from the log)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from api.cli_audit import CLIP_HELP, show_access
from api.cli_common import err, open_system, out
from api.settings import Settings
from ledger.access.vocabulary import Level


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
    system = open_system(settings)
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


def rebuild() -> None:
    """Drop the projections and rebuild them from position 0."""
    settings = Settings()
    system = open_system(settings)
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
