"""Benchmark ingestion: generate a span of months, ingest every delivery, report per register.

    .venv/bin/python benchmarks/ingest.py                     # scale 1, two months (2018-01..02)
    .venv/bin/python benchmarks/ingest.py --scale 0.1 --start 2016-01 --end 2016-12

Prints, per register, deliveries, rows and the slowest delivery's seconds; the total wall time
of ingestion (generation excluded), split into its phases (reading the files, the identity-number
guard, the row rules with duplicate keys, the rest: writing into the warehouse, audit, commit,
move), and the peak RSS of this process (DuckDB runs in-process). The phases are timed by wrapping
the ``workhealth.ingest.checks`` functions; the yardstick is not touched by that.

The yardstick (issue 13): just before each delivery is ingested, DuckDB's own ``read_csv`` of
the same data files into a table of a separate database file on the same disk (types
auto-detected, no checks). Timing the two back to back, delivery by delivery, keeps the ratio
fair on a shared machine. The ratio is workhealth's throughput over DuckDB's
(= DuckDB seconds / workhealth seconds; 1 would be checks for free; the goal is >= 0.5).
DuckDB's time stops at its last ``CREATE TABLE``; its checkpoint when the file is closed
writes part of the data (up to a second for a 3 M row table), while workhealth's time includes
committing and closing its warehouse. A second ratio, "closed", counts both to a closed file;
the goal is judged on the first, which favours DuckDB.
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
from collections import defaultdict
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--start", default="2018-01")
    ap.add_argument("--end", default="2018-02")
    ap.add_argument("--seed", type=int, default=20240101)
    args = ap.parse_args(argv)

    from workhealth.core import settings
    from workhealth.ingest.inbox import scan_inbox
    from workhealth.ingest.load import ingest_delivery
    from workhealth.generate import generate

    root = Path(tempfile.mkdtemp(prefix="workhealth-bench-ingest-"))
    try:
        s = dataclasses.replace(
            settings.load(), inbox=root / "inbox", warehouse=root / "wh.duckdb", archive=root / "archive",
            rejected=root / "rejected", restricted=root / "restricted", out=root / "out")
        t0 = time.perf_counter()
        generate(s.inbox, start=args.start, end=args.end, scale=args.scale, seed=args.seed)
        gen = time.perf_counter() - t0
        per = defaultdict(lambda: [0, 0, 0.0])  # deliveries, rows, slowest seconds
        phases = _time_phases()
        statuses = defaultdict(int)
        wall = duck = duck_closed = 0.0
        for folder in scan_inbox(s.inbox):
            if folder.state != "ready":
                continue
            d, d_closed = _duckdb_read_csv(folder.path, root / "yardstick.duckdb")
            duck += d
            duck_closed += d_closed
            t1 = time.perf_counter()
            r = ingest_delivery(folder.path, s)
            dt = time.perf_counter() - t1
            statuses[r.status] += 1
            p = per[r.register]
            p[0] += 1
            p[1] += r.rows_loaded
            p[2] = max(p[2], dt)
            wall += dt
        size = (root / "wh.duckdb").stat().st_size
    finally:
        shutil.rmtree(root, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    total_rows = sum(p[1] for p in per.values())
    print(f"scale {args.scale}, {args.start}..{args.end}; generated in {gen:.1f} s")
    print(f"{'register':<18}{'deliveries':>11}{'rows loaded':>14}{'slowest s':>11}")
    for register, (n, rows, slowest) in sorted(per.items()):
        print(f"{register:<18}{n:>11}{rows:>14,}{slowest:>11.1f}")
    print(f"statuses        {dict(statuses)}")
    print(f"ingest wall     {wall:.1f} s ({total_rows / wall:,.0f} rows/s)")
    split = ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())
    print(f"  phases        {split}, rest {wall - sum(phases.values()):.1f} s")
    print(f"duckdb read_csv {duck:.1f} s ({total_rows / duck:,.0f} rows/s), same files, same run")
    print(f"  closed        {duck_closed:.1f} s, with the checkpoint when DuckDB closes its file")
    print(f"ratio           {duck / wall:.2f} (workhealth rows/s over DuckDB read_csv rows/s; goal >= 0.5)")
    print(f"  closed        {duck_closed / wall:.2f} (both to a closed database file)")
    print(f"warehouse size  {size / 2**20:,.0f} MiB")
    print(f"peak RSS        {peak:.2f} GiB (generation and ingestion, one process)")
    return 0


def _time_phases() -> dict[str, float]:
    """Seconds spent in each check phase of ``ingest_delivery``, summed over deliveries (filled
    while ingesting): the phase functions of ``workhealth.ingest.checks`` wrapped with a timer."""
    import functools

    from workhealth.ingest import checks

    phases: dict[str, float] = {}
    for label, name in (("read", "stage_files"), ("identity", "find_identity_numbers"),
                        ("row rules", "find_row_defects")):
        phases[label] = 0.0

        def timed(*a, _f=getattr(checks, name), _label=label, **k):
            t = time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                phases[_label] += time.perf_counter() - t

        setattr(checks, name, functools.wraps(getattr(checks, name))(timed))
    return phases


def _duckdb_read_csv(folder: Path, database: Path) -> tuple[float, float]:
    """Seconds DuckDB takes to read the delivery's data files into a table (its own CSV reader,
    types auto-detected, no checks), in a database file next to the warehouse: up to the last
    table's statement, and up to the file closed (DuckDB's checkpoint writes part of the data
    then; workhealth's time includes closing its warehouse)."""
    import duckdb

    files = [folder / f["path"] for f in json.loads((folder / "manifest.json").read_text())["files"]]
    con = duckdb.connect(str(database))
    try:
        t0 = time.perf_counter()
        for i, f in enumerate(files):
            reader = "read_parquet" if f.name.endswith(".parquet") else "read_csv"
            opts = "" if reader == "read_parquet" else ", delim = ';', header = true"
            con.execute(f"CREATE OR REPLACE TABLE t{i} AS SELECT * FROM {reader}('{f}'{opts})")
        read = time.perf_counter() - t0
        con.close()
        return read, time.perf_counter() - t0
    finally:
        con.close()
        database.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
