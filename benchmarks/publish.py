"""Benchmark publishing on an existing, built warehouse (read-only): one release and the report.

    .venv/bin/python benchmarks/publish.py --warehouse /path/to/warehouse.duckdb [--out DIR] [--keep]

Opens the warehouse read-only (nothing else may hold it read-write meanwhile: DuckDB's lock).
Writes the release into a temporary OUT (or --out) and prints the time of each phase (inputs
and fingerprint, reading the indicator tables from dbt's publication models, Parquet export of
the marts into the internal part, the data dictionary (dbt docs generate), disclosure control,
writing, report), the rows and suppressed cells per table, the release's size on disk, and
the peak RSS of this process (DuckDB runs in-process). A second call shows the cost of the
"nothing changed" path. The quality result passed in is a synthetic passing one.
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
    ap.add_argument("--warehouse", required=True, type=Path)
    ap.add_argument("--out", type=Path, help="OUT folder (default: a temporary one, removed unless --keep)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    if not args.warehouse.is_file():
        print(f"no warehouse file at {args.warehouse}", file=sys.stderr)
        return 2

    from workhealth.core import settings
    from workhealth.publish import publish
    from workhealth.transform import data_dictionary

    out = args.out or Path(tempfile.mkdtemp(prefix="workhealth-bench-publish-"))
    s = dataclasses.replace(settings.load(), warehouse=args.warehouse.resolve(), out=out)
    quality = {"run_id": "benchmark", "publishable": True, "periods": {}}
    try:
        t0 = time.perf_counter()
        result = publish(s, quality, dictionary=data_dictionary)
        total = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = publish(s, quality, dictionary=data_dictionary)
        unchanged = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB -> GiB

        meta = json.loads((result.path / "metadata.json").read_text())
        size = sum(f.stat().st_size for folder in (result.path, result.internal_path)
                   for f in folder.rglob("*") if f.is_file())
        print(f"release {result.release_id} (horizon {result.horizon}) from {args.warehouse}")
        print(f"  publish total     {total:8.1f} s")
        for phase, seconds in result.timings.items():
            print(f"    {phase:14} {seconds:8.1f} s  {100 * seconds / total:4.0f}%")
        print(f"  nothing changed   {unchanged:8.1f} s  (created={again.created})")
        for name, t in meta["tables"].items():
            # every flag but the two that are not suppressions (the effects table has flags of its own)
            hidden = sum(n for v in t["suppressed"].values() for flag, n in v.items()
                         if flag not in ("no_units", "withheld"))
            cells = t["rows"] * len(t["suppressed"])
            print(f"  {name:13} {t['rows']:8,} rows; {hidden:,} of {cells:,} cells suppressed "
                  f"({100 * hidden / max(cells, 1):.0f}%)")
        print(f"  release size {size / 1024 ** 2:,.1f} MiB (public and internal part)")
        print(f"  peak RSS {peak:.2f} GiB")
    finally:
        if args.out is None and not args.keep:
            shutil.rmtree(out, ignore_errors=True)
        elif args.keep:
            print(f"kept: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
