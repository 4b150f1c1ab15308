"""R14: a removal ends the grants at the organization effective at or before it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ledger import events as ev
from ledger.rules.enders import effective_by, first_ender


def removal_ending(
    grant_start: datetime, removals: Sequence[ev.AccessRemoved], t: datetime | None = None
) -> ev.AccessRemoved | None:
    """R14: the removal that ends a grant effective at `grant_start` (by t, if given)."""
    found = first_ender(grant_start, removals, t)
    assert found is None or isinstance(found, ev.AccessRemoved)
    return found


def latest_removal(removals: Sequence[ev.AccessRemoved], t: datetime) -> ev.AccessRemoved | None:
    """R14: the person's latest removal at the organization effective at or before t (removals in valid-time order)."""
    found = effective_by(removals, t)
    return found[-1] if found else None
