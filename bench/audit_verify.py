"""`python -m bench audit-verify`: how fast `ledger audit verify` checks a large bundle.

A bundle of N events is written directly (entries shaped like the ledger's PersonRegistered events,
their tree and signed heads computed here): exporting a million events from a store takes far longer
than checking them, and the check does not care where the bytes came from. The check timed is the
real one (`storage.bundle.verify_bundle`, what the CLI runs), with all cores (the default for a
large bundle) and in one process. The same run's baseline is the bare hashing of the same entry
bytes (`sha256(0x00 ‖ entry)` for each, already decoded, in memory), which no verifier can beat.
Wall time and CPU time are both reported: on a shared machine the wall time says as much about the
other processes as about this one.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import merkle
from ledger.verify import Entry, encode_entry, log_id, public_key_bytes, sign_head
from storage.bundle import EVENTS, KEY, PROOF, verify_bundle


def entry(position: int) -> tuple[bytes, str]:
    event_id = f"01a2359e-{position >> 32 & 0xFFFF:04x}-7{position >> 20 & 0xFFF:03x}-a{position & 0xFFF:03x}-"
    event_id += f"{position:012x}"
    state = (
        f'{{"timestamp":"2025-03-01T12:00:00+00:00","event_id":"{event_id}","effective_at":'
        f'"2025-03-01T12:00:00+00:00","actor":"bench","idempotency_key":"bench-{position}","person_id":'
        f'"P-{position}","name":"Person {position}","email":"person.{position}@school.example.org"}}'
    ).encode()
    return encode_entry(
        Entry(position, event_id, f"person:P-{position}", 1, "ledger.events:PersonRegistered", state)
    ), (event_id)


def write_bundle(directory: Path, events: int) -> list[bytes]:
    """A whole-log bundle of `events` events signed by a fresh key; answers the entries (for the baseline)."""
    key = Ed25519PrivateKey.generate()
    entries: list[bytes] = []
    compact = merkle.CompactRange(keep=False)
    with (directory / EVENTS).open("wb") as f:
        for start in range(1, events + 1, 10_000):
            block, leaves = [], []
            for position in range(start, min(start + 10_000, events + 1)):
                data, event_id = entry(position)
                leaf = merkle.leaf_hash(data)
                entries.append(data)
                leaves.append(leaf)
                block.append(
                    orjson.dumps(
                        {
                            "position": position,
                            "event_id": event_id,
                            "type": "PersonRegistered",
                            "recorded_at": "2025-03-01T12:00:00+00:00",
                            "entry": base64.b64encode(data).decode(),
                            "leaf_hash": leaf.hex(),
                        }
                    )
                )
            compact.extend(leaves)
            f.write(b"\n".join(block) + b"\n")
    head = sign_head(key, compact.size, compact.root(), int(time.time() * 1000))
    proof = {"first_position": 1, "start_edge": [], "head": head, "latest": head, "consistency": []}
    (directory / PROOF).write_bytes(orjson.dumps(proof))
    public = public_key_bytes(key.public_key())
    body = {"algorithm": "ed25519", "public_key": base64.b64encode(public).decode(), "log_id": log_id(public)}
    (directory / KEY).write_bytes(orjson.dumps(body))
    return entries


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the workers of a parallel check)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    run()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def baseline(entries: list[bytes]) -> None:
    """Hash every entry as a leaf, nothing else."""
    sha256 = hashlib.sha256
    for e in entries:
        sha256(b"\x00" + e).digest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench audit-verify", description=__doc__)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dir", type=Path, default=None, help="where to write the bundle (default: a temporary one)")
    args = p.parse_args(argv)
    n = args.events
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        entries = write_bundle(directory, n)
        size = os.path.getsize(directory / EVENTS)
        print(f"bundle: {n} events, {size / 1e6:.0f} MB, written in {time.perf_counter() - started:.1f} s")
        print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f}")
        runs: dict[str, list[tuple[float, float]]] = {"parallel": [], "one process": [], "baseline": []}
        for _ in range(args.runs):  # interleaved, so that the load of the machine weighs on each alike
            runs["parallel"].append(timed(lambda: verify_bundle(directory)))
            runs["one process"].append(timed(lambda: verify_bundle(directory, workers=1)))
            runs["baseline"].append(timed(lambda: baseline(entries)))
        assert verify_bundle(directory).events == n
        base_wall = statistics.median(w for w, _ in runs["baseline"])
        base_cpu = statistics.median(c for _, c in runs["baseline"])
        for name, figures in runs.items():
            wall, cpu = statistics.median(w for w, _ in figures), statistics.median(c for _, c in figures)
            print(
                f"{name:12s} {n / wall:>10,.0f} events/s wall ({wall:.2f} s, {wall / base_wall:.1f}x the baseline), "
                f"{n / cpu:>10,.0f} events per CPU-second ({cpu:.2f} s, {cpu / base_cpu:.1f}x)"
            )
        print(f"load average after: {os.getloadavg()[0]:.1f}; baseline: sha256(0x00 + entry) of each entry")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
