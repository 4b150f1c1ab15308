"""Read-time decisions from facts: may P, acting for O, see report R at valid time t — and why.

Everything here is pure: it reads a `World` (the streams known at one ledger
position) and a `LedgerCalendar`; the projections and the reference evaluator
only differ in how they build that world.
"""
