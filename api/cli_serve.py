"""`ledger serve`: the HTTP API and the console under uvicorn, in one process or several workers."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from api.cli_common import err, out
from api.settings import Settings
from bootstrap.store import parse_database_url


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
    out.print(
        "LEDGER_API_KEYS is not set: generated one API key per role for this run (not stored anywhere):",
        soft_wrap=True,
    )
    for _, role, secret in generated:
        out.print(f"  {role.value:<9}  Authorization: Bearer {secret}", soft_wrap=True)
    return ",".join(f"{client_id}:{role.value}:{secret}" for client_id, role, secret in generated)
