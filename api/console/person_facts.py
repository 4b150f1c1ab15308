"""What the person page says in words where the ledger gives a decision: why no access is held."""

from __future__ import annotations

from api.console.display import Formatter
from api.console.refs import PageRefs
from ledger import events as ev
from ledger.access.check import Decision


def no_access_text(why: Decision, records: dict[str, ev.LedgerEvent], refs: PageRefs, fmt: Formatter) -> str:
    """Why no role is held, in words: a removal says when it took effect, who removed, and when it was recorded."""
    last = records.get(why.evidence[-1]) if why.evidence else None
    if isinstance(last, ev.AccessRemoved):
        return (
            f"removed effective {fmt.text(last.effective_at)} by {refs.who(last.removed_by, last)}, "
            f"recorded {fmt.text(last.recorded_at)}"
        )
    if isinstance(last, ev.DistrictAccessRemoved):
        return (
            f"district access removed effective {fmt.text(last.effective_at)} by "
            f"{refs.who(last.requested_by, last)}, recorded {fmt.text(last.recorded_at)}"
        )
    return why.reason
