"""The run's JSON (latest.json, a dated copy, latest-<tier>.json) and the results table of BENCHMARKS.md."""

from __future__ import annotations

import json
import os
import platform
import re
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

FIGURES = (
    "append_ratio",
    "import_ratio",
    "rebuild_ratio",
    "rebuild_s",
    "check_p50_us_now",
    "check_p99_us_now",
    "check_p50_us_hist",
    "check_p99_us_hist",
    "cold_check_p99_ms",
    "who_p50_ms",
    "who_p99_ms",
    "http_ratio",
    "http_p99_ms",
    "http_workers_ratio",
    "http_first_pass_ratio",
    "cold_start_s",
    "warm_all_s",
    "rss_mb",
    "append_tree_overhead",
    "proof_inclusion_p50_ms",
    "proof_inclusion_p99_ms",
    "proof_consistency_p50_ms",
    "proof_consistency_p99_ms",
)

# Performance targets (stated at the 1M tier; checked at every tier, where they are easier).
TARGETS: dict[str, tuple[str, float]] = {
    "append_ratio": (">=", 0.5),
    "import_ratio": (">=", 0.3),
    "rebuild_ratio": (">=", 0.3),
    "rebuild_s": ("<=", 60),
    "check_p99_us_now": ("<=", 100),
    "check_p99_us_hist": ("<=", 300),
    "cold_check_p99_ms": ("<=", 2),  # a person's first check in a process, in-process, at now
    "who_p99_ms": ("<=", 10),
    "http_ratio": (">=", 0.8),
    "http_p99_ms": ("<=", 20),
    "http_workers_ratio": (">=", 1.5),  # `--workers 2` against one worker, the same check load
    "http_first_pass_ratio": (">=", 0.5),  # a fresh server, distinct people, against its own /healthz
    "cold_start_s": ("<=", 5),
    "warm_all_s": ("<=", 60),  # from the process's start until warming has loaded every stream
    "rss_mb": ("<=", 1536),
    "append_tree_overhead": ("<=", 0.15),  # time per appended event with the tree and receipt, over without, - 1
    "proof_inclusion_p99_ms": ("<=", 2),
    "proof_consistency_p99_ms": ("<=", 2),
}


def machine(pg_version: str | None) -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "cpu_model": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": pg_version,
        "sqlite": sqlite3.sqlite_version,
    }


def targets(stores: dict[str, dict[str, Any]], missed: dict[str, list[str]] | None = None) -> dict[str, dict[str, Any]]:
    """Pass or miss per figure and store (None when the figure could not be measured).

    `missed` names, per store, figures that were measured but have no value because what they
    time never happened (warming that stopped at the cache limit never completes): misses.
    """
    out: dict[str, dict[str, Any]] = {}
    for store, figures in stores.items():
        out[store] = {}
        for name, (op, bound) in TARGETS.items():
            value = figures.get(name)
            if value is None:
                ok = False if name in (missed or {}).get(store, []) else None
            else:
                ok = value >= bound if op == ">=" else value <= bound
            out[store][name] = {"target": f"{op} {bound:g}", "value": value, "pass": ok}
    return out


def git_revision() -> str | None:
    """The commit measured (with "+dirty" when the tree has changes): the code moves faster than the figures."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def write_results(result: dict[str, Any], out: Path, *, update_latest: bool = True) -> list[Path]:
    """latest.json, latest-<tier>.json and a dated copy."""
    out.mkdir(parents=True, exist_ok=True)
    body = json.dumps(result, indent=2, sort_keys=False) + "\n"
    stamp = result["date"].replace(":", "").replace("-", "")[:15]
    paths = [out / f"{stamp}-{result['tier']}.json", out / f"latest-{result['tier']}.json"]
    if update_latest:
        paths.append(out / "latest.json")
    for path in paths:
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(body)
        tmp.replace(path)
    return paths


START_MARK = "<!-- bench:results:start (written by python -m bench; edit outside these marks) -->"
END_MARK = "<!-- bench:results:end -->"
TIER_ORDER = {"10k": 0, "100k": 1, "1m": 2, "5m": 3, "national": 4}


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)


def results_table(out: Path) -> str:
    """The table of the latest run of each tier found in `out`."""
    runs = []
    for path in out.glob("latest-*.json"):
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    runs.sort(key=lambda r: TIER_ORDER.get(r.get("tier", ""), 99))
    lines: list[str] = []
    if not runs:
        return "No results yet: run `python -m bench`.\n"
    m = runs[-1]["machine"]
    lines.append(
        f"Machine: {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['cpu_model']}; Python {m['python']}, "
        f"PostgreSQL {m['postgresql'] or '—'}, SQLite {m['sqlite']}."
    )
    lines.append("")
    head = ["tier (events)", "store", "date, commit", *FIGURES, "targets met"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for run in runs:
        for store, figures in run["stores"].items():
            marks = run.get("targets", {}).get(store, {})
            met = sum(1 for v in marks.values() if v["pass"])
            cells = []
            for name in FIGURES:
                cell = _fmt(figures.get(name))
                if name in marks and marks[name]["pass"] is False:
                    cell += " ✗"
                cells.append(cell)
            quick = " (quick)" if run.get("quick") else ""
            lines.append(
                f"| {run['tier']} ({run['tier_events']:,}){quick} | {store} | {run['date'][:10]} "
                f"{run.get('commit') or ''} | " + " | ".join(cells) + f" | {met}/{len(marks)} |"
            )
    lines.append("")
    lines.append(
        "✗ = misses its target (`TARGETS` in `bench/report.py`; targets are stated for the 1M tier). Ratios are against baselines "
        "measured in the same run; see `bench/results/latest-<tier>.json` for baselines and details."
    )
    return "\n".join(lines) + "\n"


def update_markdown(path: Path, out: Path) -> None:
    """Rewrite the results block of BENCHMARKS.md (created if missing); the prose around it is left alone."""
    block = f"{START_MARK}\n{results_table(out)}{END_MARK}"
    if path.exists():
        text = path.read_text()
        if START_MARK in text and END_MARK in text:
            text = re.sub(re.escape(START_MARK) + r".*?" + re.escape(END_MARK), lambda _: block, text, flags=re.S)
        else:
            text = text.rstrip() + "\n\n## Results\n\n" + block + "\n"
    else:
        text = "# Benchmarks\n\nRun `python -m bench --tier 100k`.\n\n## Results\n\n" + block + "\n"
    path.write_text(text)
