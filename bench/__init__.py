"""National-scale benchmark harness: a seeded synthetic history, its loader, and the measurements (BENCHMARKS.md).

`python -m bench --tier 100k` generates (or reuses) the tier's history on each store,
measures every figure against a baseline taken in the same run, and writes
`bench/results/latest.json` and the table in BENCHMARKS.md.
"""
