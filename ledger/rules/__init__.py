"""The rules of access (R1–R16) as small pure functions over aggregate views, one module per family.

Each function is named as the sentence it decides and cites its rule id. Valid
time `t` is a UTC instant; every fact holds from its `effective_at`. Intervals
are half-open `[from, to)`. Write-time decisions (`ledger.decide`), read-time
decisions (`ledger.access`) and their explanations call these same functions.
"""
