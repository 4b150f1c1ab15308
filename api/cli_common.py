"""What every `ledger` command shares: its output and the ledger the settings name."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from api.settings import Settings
from bootstrap import open_from_settings
from projections.system import LedgerSystem

out = Console()
err = Console(stderr=True)


def open_system(settings: Settings, *, clock: Any = None, follow: bool = False) -> LedgerSystem:
    """The ledger the settings name (the same composition root as the server's); not followed by default."""
    if clock is None:
        return open_from_settings(settings, follow=follow)
    return open_from_settings(settings, clock=clock, follow=follow)
