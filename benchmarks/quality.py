"""Benchmark the quality gate on an existing, built warehouse (read-only; nothing is copied).

    .venv/bin/python benchmarks/quality.py --warehouse /work/bench/s1/warehouse.duckdb
    .venv/bin/python benchmarks/quality.py --warehouse data/warehouse/workhealth.duckdb --runs 2

Runs ``workhealth.quality.validate`` (DuckDB frames, GX on pandas batches, Data Docs, samples,
report) into a temporary OUT and prints the wall time of each run, the per-step timings of the
last, the marts' size, the findings, and the peak RSS of this process (DuckDB runs in-process).
The first run includes importing Great Expectations. Compare with the dbt build time of the
same warehouse (benchmarks/pipeline.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", required=True, type=Path, help="a built warehouse (marts present)")
    ap.add_argument("--runs", type=int, default=1, help="validate this many times (the first imports GX)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary OUT with the report")
    args = ap.parse_args(argv)
    if not args.warehouse.exists():
        print(f"no warehouse at {args.warehouse}", file=sys.stderr)
        return 2

    import duckdb

    from workhealth.core import settings

    con = duckdb.connect(str(args.warehouse), read_only=True)
    try:
        sizes = dict(con.execute("""SELECT table_name, estimated_size FROM duckdb_tables()
                                    WHERE schema_name = 'marts' ORDER BY table_name""").fetchall())
    finally:
        con.close()

    out = Path(tempfile.mkdtemp(prefix="workhealth-bench-quality-"))
    s = dataclasses.replace(settings.load(), warehouse=args.warehouse.resolve(), out=out)
    try:
        walls = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            from workhealth.quality import validate

            result = validate(s)
            walls.append(time.perf_counter() - t0)
        timings = json.loads((out / "quality" / "result.json").read_text())["timings"]
        print(f"warehouse             {args.warehouse} ({args.warehouse.stat().st_size / 2**30:.2f} GiB)")
        for table, rows in sizes.items():
            print(f"  marts.{table:28} {rows:>13,} rows")
        for i, wall in enumerate(walls, 1):
            print(f"validate run {i:<8} {wall:8.1f} s")
        for step, seconds in timings.items():
            print(f"  {step:32} {seconds:8.2f} s")
        print(f"periods               {len(result.periods)}")
        print(f"findings              {len(result.critical)} critical, {len(result.warnings)} warning")
        print(f"publishable           {result.publishable}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"peak RSS              {peak:.2f} GiB")
        if args.keep:
            print(f"report                {result.report_path}")
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
