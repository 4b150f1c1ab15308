"""How a fact that ends another is found (shared by every rule family).

A fact that ends another (a withdrawal, a removal, a revocation) ends only facts
effective at or before it: grants effective after a removal count again (R14).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TypeVar

from ledger import events as ev

E = TypeVar("E", bound=ev.LedgerEvent)


def first_ender(start: datetime, enders: Iterable[ev.LedgerEvent], t: datetime | None = None) -> ev.LedgerEvent | None:
    """The earliest ending fact effective in [start, t] (or at/after start when t is None)."""
    found: ev.LedgerEvent | None = None
    for e in enders:
        if e.effective_at < start:
            continue
        if t is not None and e.effective_at > t:
            continue
        if found is None or e.effective_at < found.effective_at:
            found = e
    return found


def effective_by(facts: Iterable[E], t: datetime) -> list[E]:
    """The facts (in valid-time order) that took effect at or before t, whether or not something ended them since."""
    return [f for f in facts if f.effective_at <= t]


def latest_effective(facts: Iterable[E], t: datetime) -> E | None:
    """The last of `facts` (given in valid-time order) effective at or before t: the one in force, latest wins."""
    found: E | None = None
    for f in facts:
        if f.effective_at <= t:
            found = f
    return found
