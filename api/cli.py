"""The `ledger` command line: serve, demo, import, replay, rebuild, verify, checkpoints, keygen, export, audit.

Every command reads LEDGER_DATABASE_URL (default sqlite:///./ledger.db) and the
other LEDGER_* settings.
"""

from __future__ import annotations

import typer

from api.cli_audit import audit_app
from api.cli_load import demo, import_
from api.cli_log import checkpoints, export, keygen, verify
from api.cli_projections import rebuild, replay
from api.cli_serve import serve

__all__ = ["app", "checkpoints", "demo", "export", "import_", "keygen", "main", "rebuild", "replay", "serve", "verify"]

app = typer.Typer(
    help="AP score-reports access ledger: who could see what, when, as known when, and why.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(serve)
app.command()(demo)
app.command("import")(import_)
app.command()(replay)
app.command()(rebuild)
app.command()(verify)
app.command()(checkpoints)
app.command()(keygen)
app.command()(export)
app.add_typer(audit_app, name="audit")


def main() -> None:
    """Entry point of the `ledger` console script."""
    app()


if __name__ == "__main__":
    main()
