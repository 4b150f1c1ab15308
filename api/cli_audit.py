"""`ledger audit …`: check an exported bundle and answer questions from it, with no database and no server."""

from __future__ import annotations

import csv
import sys
import time
from datetime import tzinfo
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from api.present_access import ACCESS_CSV_HEADER, access_csv_rows, access_text
from api.settings import Settings
from bootstrap import calendar_of, open_ledger
from bootstrap.store import BundleReport, verify_bundle
from ledger.access.vocabulary import Level
from ledger.verify import VerificationError, parse_public_key
from projections.answers import AccessAnswer

audit_app = typer.Typer(help="Check an exported audit bundle, with no database and no server.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

BundleDir = Annotated[Path, typer.Argument(exists=True, file_okay=False, help="an exported bundle (ledger export)")]
LogId = Annotated[
    str | None,
    typer.Option("--log-id", help="the log id to trust (hex; from GET /v1/log/key or the operator, not the bundle)"),
]
PublicKey = Annotated[
    Path | None,
    typer.Option(
        "--public-key",
        exists=True,
        dir_okay=False,
        help="the public key to trust: PEM, base64, or the JSON of GET /v1/log/key (obtained apart from the bundle)",
    ),
]


def pins(log_id: str | None, public_key: Path | None) -> tuple[bytes | None, str | None]:
    """The trust anchor the auditor gave (exit 2 naming the option if it is not one)."""
    key = None
    if public_key is not None:
        try:
            key = parse_public_key(public_key.read_bytes())
        except VerificationError as e:
            err.print(f"--public-key {public_key}: {e}")
            raise typer.Exit(2) from None
    if log_id is not None:
        log_id = log_id.strip().lower()
        if len(log_id) != 64 or any(c not in "0123456789abcdef" for c in log_id):
            err.print("--log-id: a log id is 64 hex digits (the SHA-256 of the log's public key)")
            raise typer.Exit(2)
    return key, log_id


def say_trust(report: BundleReport) -> None:
    """Warn when the key was the bundle's own: a forger can sign a bundle with a key of theirs."""
    if not report.pinned:
        err.print(
            "warning: no --log-id or --public-key given: the key was taken from the bundle itself, which proves only "
            "that the bundle is consistent with itself. Compare this log id with one obtained independently "
            f"(GET /v1/log/key, or from the log's operator):\nlog id {report.log_id}",
            soft_wrap=True,
        )


CLIP_HELP = "cut each interval to [--from, --to); without it intervals are shown whole (open ones with no end)"


def show_access(answer: AccessAnswer, title: str, zone: tzinfo, *, as_csv: bool) -> None:
    """Print a who-had-access answer as text, or as CSV; by person then start, times in the ledger's zone."""
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(ACCESS_CSV_HEADER)
        writer.writerows(access_csv_rows(answer, zone))
        return
    # Plain text, not rich markup: names are data and may hold brackets.
    typer.echo("\n".join([title, *access_text(answer, zone)]))


@audit_app.command("verify")
def audit_verify(directory: BundleDir, log_id: LogId = None, public_key: PublicKey = None) -> None:
    """Check a bundle's signatures, its tree and its proofs; exit 1 naming the first problem.

    Pin the log's key (--log-id or --public-key, obtained apart from the bundle) to prove that the
    bundle is the log's; without a pin the bundle's own key is used, and its log id printed to compare."""
    key, expected = pins(log_id, public_key)
    started = time.perf_counter()
    try:
        report = verify_bundle(directory, public_key=key, expected_log_id=expected)
    except VerificationError as e:
        err.print(f"NOT VERIFIED: {e}", soft_wrap=True)
        raise typer.Exit(1) from None
    elapsed = time.perf_counter() - started
    out.print(
        f"ok: {report.events} events (positions {report.first_position}–{report.last_position}) verified against "
        f"the signed head, consistent with the log's head of size {report.latest_size} ({elapsed:.2f} s)",
    )
    how = "the pinned key" if report.pinned else "the key in the bundle"
    out.print(f"signed by {how}: log id {report.log_id}", soft_wrap=True)
    say_trust(report)


@audit_app.command("replay")
def audit_replay(
    directory: BundleDir,
    org: Annotated[str, typer.Option("--org", help="school or district id")],
    from_: Annotated[str, typer.Option("--from", help="start date or instant (inclusive)")],
    to: Annotated[str, typer.Option("--to", help="end date or instant (exclusive)")],
    level: Annotated[Level, typer.Option(help="student-level or aggregate data")] = Level.STUDENT,
    clip: Annotated[bool, typer.Option("--clip", help=CLIP_HELP)] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="print CSV (a header row, then by person and start)")] = False,
    log_id: LogId = None,
    public_key: PublicKey = None,
) -> None:
    """Who had access to an organization's data between two dates, answered from a verified bundle alone.

    Each interval names the person, role, organization acted for and grant (event type, log position, id);
    times are in the ledger's zone with their offset."""
    key, expected = pins(log_id, public_key)
    settings = Settings()
    calendar = calendar_of(settings)
    try:
        start, end = calendar.parse_instant(from_), calendar.parse_instant(to)
    except ValueError as e:
        err.print(f"bad date: {e}")
        raise typer.Exit(2) from None
    system = open_ledger("memory://", calendar=calendar, follow=False)
    try:
        try:
            report = system.load_bundle(directory, public_key=key, expected_log_id=expected)
        except VerificationError as e:
            err.print(f"NOT VERIFIED: {e}", soft_wrap=True)
            raise typer.Exit(1) from None
        how = "the pinned key" if report.pinned else "the key in the bundle"
        err.print(f"bundle verified, signed by {how}: log id {report.log_id}", soft_wrap=True)
        say_trust(report)
        system.runner.catch_up()
        if not system.queries.org_exists(org):
            err.print(f"unknown organization {org}")
            raise typer.Exit(1)
        answer = system.queries.who_had_access(org, start, end, level, clip=clip)
        title = (
            f"{level.value}-level access to {org}, [{from_}, {to}), from the bundle (position {report.last_position})"
        )
        show_access(answer, title, calendar.zone, as_csv=as_csv)
    finally:
        system.close()
