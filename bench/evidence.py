"""The verifiable log's figures: what the Merkle tree and the receipt cost an append, and proof latency.

`append_tree_overhead` interleaves single-command appends with the tree and receipt (the command's
`execute` and `LogEvidence.receipt`, what a `201` costs) and the same kind of appends with the tree
switched off (`LedgerRecorder.keep_tree`, a switch only benchmarks use), one new teacher (five
commands) at a time in the order on, off, off, on, … so a drift of the machine's load, or of the
caches, hits both sides; after an off teacher the tree is caught up, untimed. The figure is the time per event with the tree over the time without, minus 1.

Proof figures call `LogEvidence.inclusion` and `LogEvidence.consistency`, what the API answers, in
process on the loaded history: random leaves under random tree sizes, random pairs of sizes, over the
whole log.
"""

from __future__ import annotations

import random
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.generate import NOW, extension
from bench.load import ACTOR, ScriptedClock
from bench.measure import NOW_DT, Sizes, percentile, timed_calls
from bench.stores import Store, work_copy
from ledger.commands import parse_command
from storage.evidence import LogEvidence

COMMANDS_PER_TEACHER = 5  # `extension` writes five commands per new teacher


def measure_evidence(store: Store, meta: dict[str, Any], sizes: Sizes, seed: int) -> dict[str, Any]:
    proofs = measure_proofs(store, sizes, seed)
    append = measure_tree_overhead(store, meta, sizes, seed)
    details = {**proofs.pop("details"), **append.pop("details")}
    return {**append, **proofs, "details": details}


def measure_tree_overhead(store: Store, meta: dict[str, Any], sizes: Sizes, seed: int) -> dict[str, Any]:
    """Single-command appends with the tree and receipt, and without the tree, interleaved, on a copy."""
    warm = 5 * COMMANDS_PER_TEACHER
    items = extension(meta, "XT", sizes.appends + warm, seed)
    commands = [(item.t, parse_command(item.command)) for item in items]
    # Alternate per new teacher (five commands): a slice of many teachers on one side would meet more
    # schools for the first time (streams read from the store) than the other.
    timed = commands[warm:]
    parts = [timed[i : i + COMMANDS_PER_TEACHER] for i in range(0, len(timed), COMMANDS_PER_TEACHER)]
    with work_copy(store) as url:
        clock = ScriptedClock(NOW)
        system = store.open(url, clock=clock)
        try:
            service, recorder = system.service, system.service.recorder
            evidence = LogEvidence(recorder, Ed25519PrivateKey.generate())
            for t, command in commands[:warm]:  # fill the aggregate cache, prepare statements
                clock.set(t)
                outcome = service.execute(command, ACTOR)
                evidence.receipt([e.position for e in outcome.events])
            totals = {True: [0.0, 0.0, 0], False: [0.0, 0.0, 0]}  # wall s, CPU s, events
            for i, part in enumerate(parts):
                tree_on = i % 4 in (0, 3)  # on, off, off, on, …
                recorder.keep_tree = tree_on
                spent = totals[tree_on]
                for t, command in part:
                    clock.set(t)
                    started, started_cpu = time.perf_counter(), time.thread_time()
                    outcome = service.execute(command, ACTOR)
                    if tree_on:
                        evidence.receipt([e.position for e in outcome.events])
                    spent[1] += time.thread_time() - started_cpu
                    spent[0] += time.perf_counter() - started
                    spent[2] += len(outcome.events)
                if not tree_on:
                    recorder.keep_tree = True
                    recorder.catch_up_tree()
            assert recorder.tree_size() == recorder.last_position()
        finally:
            system.close()
    on, off = totals[True], totals[False]
    us = {k: (1e6 * v[0] / v[2], 1e6 * v[1] / v[2]) for k, v in totals.items()}
    return {
        "append_tree_overhead": round(us[True][0] / us[False][0] - 1, 3),
        "details": {
            "append_tree_events_per_s": round(on[2] / on[0], 1),
            "append_no_tree_events_per_s": round(off[2] / off[0], 1),
            "append_tree_us_per_event": round(us[True][0], 1),
            "append_no_tree_us_per_event": round(us[False][0], 1),
            "append_tree_cpu_us_per_event": round(us[True][1], 1),
            "append_no_tree_cpu_us_per_event": round(us[False][1], 1),
            "append_tree_cpu_overhead": round(us[True][1] / us[False][1] - 1, 3),
            "append_tree_events": int(on[2]),
            "append_no_tree_events": int(off[2]),
        },
    }


def measure_proofs(store: Store, sizes: Sizes, seed: int) -> dict[str, Any]:
    """Inclusion proofs of random events in random trees that hold them, and consistency proofs between
    random pairs of sizes, over the whole loaded log."""
    rng = random.Random(f"ledger-bench-proofs:{seed}")
    system = store.open(clock=lambda: NOW_DT)
    try:
        recorder = system.service.recorder
        evidence = LogEvidence(recorder, Ed25519PrivateKey.generate())
        n = recorder.tree_size()
        samples = sizes.checks
        targets = []
        for _ in range(samples):
            position = rng.randint(1, n)
            (row,) = recorder.read_rows(position - 1, 1)  # the event's id, read before the timing
            targets.append((row.event_id, rng.randint(position, n)))
        pairs = []
        for _ in range(samples):
            first = rng.randint(1, n)
            pairs.append((first, rng.randint(first, n)))
        inclusion = [lambda e=e, s=s: evidence.inclusion(e, s) for e, s in targets]
        consistency = [lambda f=f, s=s: evidence.consistency(f, s) for f, s in pairs]
        budget = sizes.read_budget_s
        inc_us, inc_cpu = timed_calls(inclusion, budget)
        con_us, con_cpu = timed_calls(consistency, budget)
        latest_us, _ = timed_calls([lambda: evidence.inclusion(targets[0][0], None)] * min(200, samples), budget)
    finally:
        system.close()
    return {
        "proof_inclusion_p50_ms": round(percentile(inc_us, 50) / 1000, 3),
        "proof_inclusion_p99_ms": round(percentile(inc_us, 99) / 1000, 3),
        "proof_consistency_p50_ms": round(percentile(con_us, 50) / 1000, 3),
        "proof_consistency_p99_ms": round(percentile(con_us, 99) / 1000, 3),
        "details": {
            "proof_tree_size": n,
            "proof_inclusions": len(inc_us),
            "proof_consistencies": len(con_us),
            "proof_inclusion_cpu_p50_ms": round(percentile(inc_cpu, 50) / 1000, 3),
            "proof_inclusion_cpu_p99_ms": round(percentile(inc_cpu, 99) / 1000, 3),
            "proof_consistency_cpu_p50_ms": round(percentile(con_cpu, 50) / 1000, 3),
            "proof_consistency_cpu_p99_ms": round(percentile(con_cpu, 99) / 1000, 3),
            "proof_inclusion_latest_p50_ms": round(percentile(latest_us, 50) / 1000, 3),
            "proof_inclusion_latest_p99_ms": round(percentile(latest_us, 99) / 1000, 3),
        },
    }
