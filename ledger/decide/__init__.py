"""Write-time rules: decide(command, facts) → events, or a typed refusal that records nothing.

Rules are judged at the command's `effective_at` against everything recorded so
far. Where a command could break a rule at a later valid time already recorded
(a backdated redemption making six staff on a later day, a void that resurrects
a removed staff member), the check covers every valid time.

`core` holds the machinery; each other module decides the commands of one family.
"""

from __future__ import annotations

from ledger import commands as cmd
from ledger.decide import accounts, admins, codes, organizations, removals, teachers
from ledger.decide.core import Builder, Context, Handler, Prepared, Verdict, effective_time
from ledger.errors import InvalidInput

_HANDLERS: dict[type[cmd.Command], Handler] = {
    **organizations.HANDLERS,
    **accounts.HANDLERS,
    **teachers.HANDLERS,
    **admins.HANDLERS,
    **codes.HANDLERS,
    **removals.HANDLERS,
}


def decide(command: cmd.Command, ctx: Context, prepared: Prepared | None = None) -> Verdict:
    """Decide one command against the streams in `ctx`: the events to append, or a refusal."""
    at = effective_time(command, ctx.calendar, ctx.now)
    builder = Builder(ctx, command, at)
    handler = _HANDLERS.get(type(command))
    if handler is None:  # pragma: no cover - every command model has a handler
        raise InvalidInput(f"unknown command {type(command).__name__}", field="type")
    result = handler(command, ctx, builder, at, prepared or Prepared())
    return Verdict(builder.events, result or {})
