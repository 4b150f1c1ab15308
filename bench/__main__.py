"""`python -m bench`: load (or re-use) a tier's history on each store and measure every figure of BENCHMARKS.md."""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import evidence, http_figures, measure, report
from bench.generate import GENERATOR_VERSION, TIERS
from bench.report import git_revision
from bench.stores import ensure_loaded, ensure_meta, fingerprint, make_store, pg_drop, pg_server_version

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--tier", default="10k", choices=[*TIERS, "national"], help="history size (default 10k)")
    p.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where the JSON goes")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="fewer samples and shorter HTTP runs (smoke test)")
    p.add_argument("--profile", action="store_true", help="also write pyinstrument profiles to <out>/profiles")
    p.add_argument("--only", default="", help="comma-separated subset: writes, rebuild, reads, http, evidence")
    p.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "data", help="cached SQLite databases")
    p.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="an administrative PostgreSQL URL (databases are created beside it)",
    )
    p.add_argument("--pg-db", default=None, help="cached PostgreSQL database name (default ledger_bench_<tier>)")
    p.add_argument("--reload", action="store_true", help="load the history again even if a cached copy matches")
    p.add_argument("--drop-pg", action="store_true", help="drop the PostgreSQL database afterwards (no cache)")
    p.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    p.add_argument("--no-markdown", action="store_true", help="leave BENCHMARKS.md alone")
    p.add_argument("--no-latest", action="store_true", help="do not overwrite <out>/latest.json")
    return p.parse_args(argv)


def run_store(
    kind: str, args: argparse.Namespace, sizes: measure.Sizes, meta_path: Path
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Figures, details and timings of one store."""
    store = make_store(kind, args.tier, args.seed, args.data_dir, args.pg_url, args.pg_db)
    timings: dict[str, Any] = {}
    figures: dict[str, Any] = {}
    details: dict[str, Any] = {}
    errors: dict[str, str] = {}
    try:
        loaded = ensure_loaded(store, args.tier, args.seed, meta_path, log, reload=args.reload)
        timings["load"] = loaded
        meta = ensure_meta(args.tier, args.seed, meta_path)
        only = {x for x in args.only.split(",") if x}
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("rebuild", lambda: measure.measure_rebuild(store)),
            ("reads", lambda: measure.measure_reads(store, meta, sizes, args.seed)),
            ("http", lambda: http_figures.measure_http(store, meta, sizes, args.seed, args.out / "logs")),
            ("writes", lambda: measure.measure_writes(store, meta, sizes, args.seed)),
            ("evidence", lambda: evidence.measure_evidence(store, meta, sizes, args.seed)),
        ]
        started = time.perf_counter()
        for name, step in steps:
            if only and name not in only:
                continue
            log(f"[{kind}] measuring {name}…")
            step_started = time.perf_counter()
            try:
                result = step()
            except Exception as e:  # one failing measurement must not lose the others
                traceback.print_exc()
                errors[name] = f"{type(e).__name__}: {e}"
                continue
            details.update(result.pop("details", {}))
            figures.update(result)
            timings[f"{name}_s"] = round(time.perf_counter() - step_started, 1)
            log(f"[{kind}]   {', '.join(f'{k}={v}' for k, v in result.items())}")
        timings["measure_s"] = round(time.perf_counter() - started, 1)
        if args.profile:
            from bench.profile import profile_http, profile_store

            log(f"[{kind}] profiling…")
            profile_started = time.perf_counter()
            written = profile_store(store, meta, sizes, args.seed, args.out / "profiles", f"{args.tier}-{kind}", log)
            http_profile = profile_http(
                store, meta, sizes, args.seed, args.out / "profiles", f"{args.tier}-{kind}", args.out / "logs"
            )
            if http_profile is not None:
                written.append(http_profile)
            timings["profile_s"] = round(time.perf_counter() - profile_started, 1)
            log(f"[{kind}]   wrote {len(written)} profiles to {args.out / 'profiles'}")
    finally:
        if args.drop_pg and store.kind == "postgres" and store.pg_admin_url and store.pg_dbname:
            pg_drop(store.pg_admin_url, store.pg_dbname)
    if errors:
        details["errors"] = errors
    return figures, details, timings


def main(argv: list[str] | None = None) -> int:
    # SIGTERM unwinds like Ctrl-C, so servers and work databases are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    sizes = measure.Sizes.for_run(args.quick)
    meta_path = args.data_dir / f"{fingerprint(args.tier, args.seed)}.meta.json"
    pg_version = pg_server_version(args.pg_url) if "postgres" in stores else None
    if "postgres" in stores and pg_version is None:
        raise SystemExit(f"no PostgreSQL answers at {args.pg_url} (use --stores sqlite to skip it)")
    started = time.perf_counter()
    result: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": report.machine(pg_version),
        "tier": args.tier,
        "tier_events": 0,
        "seed": args.seed,
        "generator_version": GENERATOR_VERSION,
        "commit": git_revision(),
        "quick": args.quick,
        "stores": {},
        "details": {},
        "timings": {},
    }
    for kind in stores:
        figures, details, timings = run_store(kind, args, sizes, meta_path)
        result["stores"][kind] = {name: figures.get(name) for name in report.FIGURES}
        result["details"][kind] = details
        result["timings"][kind] = timings
        result["tier_events"] = timings.get("load", {}).get("events", result["tier_events"])
    meta = ensure_meta(args.tier, args.seed, meta_path)
    result["history"] = {
        k: meta[k]
        for k in (
            "scale",
            "events",
            "districts",
            "schools",
            "homeschools",
            "teachers",
            "persons",
            "start",
            "now",
            "counts",
        )
    }
    missed = {kind: details.get("figures_missed", []) for kind, details in result["details"].items()}
    result["targets"] = report.targets(result["stores"], missed)
    result["timings"]["total_s"] = round(time.perf_counter() - started, 1)
    written = report.write_results(result, args.out, update_latest=not args.no_latest)
    if not args.no_markdown:
        report.update_markdown(args.markdown, args.out)
    log(f"wrote {', '.join(str(p) for p in written)} in {result['timings']['total_s']}s")
    missing = [
        f"{s}.{n}"
        for s, figs in result["stores"].items()
        for n, v in figs.items()
        if v is None and n not in missed.get(s, [])
    ]
    if missing:
        log(f"figures not measured: {', '.join(missing)}")
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["soak"]:
        from bench import soak

        raise SystemExit(soak.main(sys.argv[2:]))
    if sys.argv[1:2] == ["audit-verify"]:
        from bench import audit_verify

        raise SystemExit(audit_verify.main(sys.argv[2:]))
    raise SystemExit(main())
