"""Benchmark the pipeline so far: generate -> ingest -> dbt build, with each stage's share.

    .venv/bin/python benchmarks/pipeline.py --scale 0.1 --start 2016-01 --end 2018-12
    .venv/bin/python benchmarks/pipeline.py --scale 1 --start 2017-01 --end 2018-12

Uses the real generator, ingestion and dbt project. Prints wall time per stage and its share,
the peak RSS of this process (generation and ingestion run in-process) and of dbt (a child
process), the ten slowest dbt nodes, and the size of the marts.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--start", default="2016-01")
    ap.add_argument("--end", default="2018-12")
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    args = ap.parse_args(argv)

    import duckdb

    from workhealth import settings, transform
    from workhealth.deliveries.ingest import ingest_inbox
    from workhealth.generate import generate

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="workhealth-bench-pipeline-"))
    s = dataclasses.replace(
        settings.load(), inbox=root / "inbox", warehouse=root / "warehouse.duckdb", archive=root / "archive",
        rejected=root / "rejected", restricted=root / "restricted", out=root / "out")
    stages: dict[str, float] = {}
    try:
        t = time.perf_counter()
        summary = generate(s.inbox, start=args.start, end=args.end, scale=args.scale, seed=args.seed)
        stages["generate"] = time.perf_counter() - t
        t = time.perf_counter()
        results = ingest_inbox(s)
        stages["ingest"] = time.perf_counter() - t
        t = time.perf_counter()
        build = transform.build(s)
        stages["dbt build"] = time.perf_counter() - t
        con = duckdb.connect(str(s.warehouse), read_only=True)
        sizes = con.execute(
            "SELECT table_name, estimated_size FROM duckdb_tables() WHERE schema_name = 'marts' ORDER BY 1").fetchall()
        con.close()
        db_mib = s.warehouse.stat().st_size / 2**20
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    total = sum(stages.values())
    rows = sum(summary["rows_per_register"].values())
    print(f"scale {args.scale}, {args.start}..{args.end}: {summary['persons']:,} persons, "
          f"{len(summary['deliveries'])} deliveries, {rows:,} rows")
    print(f"accepted {sum(r.status == 'accepted' for r in results)} of {len(results)} deliveries; "
          f"dbt {'ok' if build.ok else 'FAILED'} ({len(build.nodes)} nodes)")
    for name, sec in stages.items():
        print(f"  {name:<10}{sec:>9.1f} s {sec / total:>6.0%}")
    print(f"  {'total':<10}{total:>9.1f} s")
    print(f"peak RSS: this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB, "
          f"dbt {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20:.2f} GiB")
    print("slowest dbt nodes:")
    for n in sorted(build.nodes, key=lambda n: -n.seconds)[:10]:
        print(f"  {n.seconds:>8.1f} s  {n.unique_id}")
    print(f"warehouse {db_mib:,.0f} MiB; marts rows: " + ", ".join(f"{t} {n:,}" for t, n in sizes))
    if not build.ok:
        print(build.summary())
    return 0 if build.ok else 1


if __name__ == "__main__":
    sys.exit(main())
