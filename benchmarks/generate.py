"""Benchmark the synthetic delivery generator: wall time, rows/s, bytes written, peak RSS.

    .venv/bin/python benchmarks/generate.py                  # scale 1, one year (2018)
    .venv/bin/python benchmarks/generate.py --scale 0.1 --start 2016-01 --end 2016-12
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--start", default="2018-01")
    ap.add_argument("--end", default="2018-12")
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--format", dest="fmt", default="csv.gz", choices=("csv", "csv.gz", "parquet"))
    ap.add_argument("--keep", help="write here and keep the inbox (default: a temporary folder, removed)")
    args = ap.parse_args(argv)

    from workhealth.generate import generate

    target = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="workhealth-bench-"))
    try:
        t0 = time.perf_counter()
        summary = generate(target, start=args.start, end=args.end, scale=args.scale, seed=args.seed, fmt=args.fmt)
        wall = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    finally:
        if not args.keep:
            shutil.rmtree(target, ignore_errors=True)
    rows = sum(summary["rows_per_register"].values())
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(f"scale {args.scale}, {args.start}..{args.end}, format {args.fmt}, seed {args.seed}")
    print(f"deliveries      {len(summary['deliveries']):>14,}")
    print(f"persons         {summary['persons']:>14,}")
    for register, n in sorted(summary["rows_per_register"].items()):
        print(f"  {register:<18}{n:>12,} rows")
    print(f"rows            {rows:>14,}")
    print(f"wall time       {wall:>14.1f} s")
    print(f"rows/s          {rows / wall:>14,.0f}")
    print(f"bytes written   {size:>14,} ({size / 2**20:,.0f} MiB)")
    print(f"peak RSS        {peak_kb / 2**20:>14.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
