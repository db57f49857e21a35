"""Benchmark the whole pipeline: generate -> ingest -> dbt build -> validate -> evaluate -> publish.

    .venv/bin/python benchmarks/pipeline.py --scale 0.1 --start 2016-01 --end 2018-12
    .venv/bin/python benchmarks/pipeline.py --scale 1 --start 2017-01 --end 2018-12

Uses the real generator, ingestion, dbt project, quality gate, evaluation and publishing. Prints
wall time per stage and its share, the evaluation's time against the dbt build's (issue 14: at
most half), the peak RSS of this process (everything but dbt runs in-process) and
of dbt (a child process), the ten slowest dbt nodes and the size of the marts. Then the cost of
one further month: the next month's deliveries (the generator is deterministic, so the months
already loaded are identical) go through ingest, build, validate, evaluate and publish, against the full
run above. dbt rebuilds every model from the loaded raw tables each time, so a further month
costs its own ingestion plus a full build, validation and publication.
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


def _next_month(period: str) -> str:
    year, month = map(int, period.split("-"))
    return f"{year + month // 12}-{month % 12 + 1:02d}"


def _downstream(s, stages: dict[str, float]) -> tuple:
    """ingest -> build -> validate -> evaluate -> publish on ``s``, timing each stage into ``stages``."""
    from workhealth import transform
    from workhealth.evaluate import evaluate
    from workhealth.ingest.load import ingest_inbox
    from workhealth.publish import publish
    from workhealth.quality import validate

    t = time.perf_counter()
    results = ingest_inbox(s)
    stages["ingest"] = time.perf_counter() - t
    t = time.perf_counter()
    build = transform.build(s)
    stages["dbt build"] = time.perf_counter() - t
    quality = release = None
    if build.ok:
        t = time.perf_counter()
        quality = validate(s)
        stages["validate"] = time.perf_counter() - t
        if quality.publishable:
            t = time.perf_counter()
            evaluate(s, withheld_years=quality.to_dict().get("withheld") or {})
            stages["evaluate"] = time.perf_counter() - t
            t = time.perf_counter()
            release = publish(s, quality.to_dict(), dictionary=transform.data_dictionary)
            stages["publish"] = time.perf_counter() - t
    return results, build, quality, release


def _print_stages(stages: dict[str, float]) -> None:
    total = sum(stages.values())
    for name, sec in stages.items():
        print(f"  {name:<10}{sec:>9.1f} s {sec / total:>6.0%}")
    print(f"  {'total':<10}{total:>9.1f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--start", default="2016-01")
    ap.add_argument("--end", default="2018-12")
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    ap.add_argument("--no-increment", action="store_true", help="skip the one-further-month run")
    args = ap.parse_args(argv)

    import duckdb

    from workhealth.core import settings
    from workhealth.generate import generate

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="workhealth-bench-pipeline-"))
    s = dataclasses.replace(
        settings.load(), inbox=root / "inbox", warehouse=root / "warehouse.duckdb", archive=root / "archive",
        rejected=root / "rejected", restricted=root / "restricted", out=root / "out")
    stages: dict[str, float] = {}
    further: dict[str, float] = {}
    try:
        t = time.perf_counter()
        summary = generate(s.inbox, start=args.start, end=args.end, scale=args.scale, seed=args.seed)
        stages["generate"] = time.perf_counter() - t
        results, build, quality, release = _downstream(s, stages)
        con = duckdb.connect(str(s.warehouse), read_only=True)
        sizes = con.execute(
            "SELECT table_name, estimated_size FROM duckdb_tables() WHERE schema_name = 'marts' ORDER BY 1").fetchall()
        con.close()
        db_mib = s.warehouse.stat().st_size / 2**20
        rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        rss_dbt = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20

        if not args.no_increment and release is not None:
            # The next month, generated deterministically beside the inbox; only its deliveries move in.
            month = _next_month(args.end)
            side = root / "next-month"
            t = time.perf_counter()
            generate(side, start=args.start, end=month, scale=args.scale, seed=args.seed)
            further["generate"] = time.perf_counter() - t
            s.inbox.mkdir(parents=True, exist_ok=True)
            for folder in side.iterdir():
                if f"_{month}_" in folder.name:
                    shutil.move(str(folder), s.inbox / folder.name)
            shutil.rmtree(side)
            _, further_build, further_quality, further_release = _downstream(s, further)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    rows = sum(summary["rows_per_register"].values())
    print(f"scale {args.scale}, {args.start}..{args.end}: {summary['persons']:,} persons, "
          f"{len(summary['deliveries'])} deliveries, {rows:,} rows")
    print(f"accepted {sum(r.status == 'accepted' for r in results)} of {len(results)} deliveries; "
          f"dbt {'ok' if build.ok else 'FAILED'} ({len(build.nodes)} nodes); "
          f"quality {'-' if quality is None else 'publishable' if quality.publishable else 'WITHHELD'}; "
          f"release {'-' if release is None else release.release_id}")
    _print_stages(stages)
    if "evaluate" in stages:
        print(f"evaluate / dbt build = {stages['evaluate'] / stages['dbt build']:.2f} (goal <= 0.5)")
    print(f"peak RSS: this process {rss_self:.2f} GiB, dbt {rss_dbt:.2f} GiB")
    print("slowest dbt nodes:")
    for n in sorted(build.nodes, key=lambda n: -n.seconds)[:10]:
        print(f"  {n.seconds:>8.1f} s  {n.unique_id}")
    print(f"warehouse {db_mib:,.0f} MiB; marts rows: " + ", ".join(f"{t} {n:,}" for t, n in sizes))
    if further:
        downstream = sum(v for k, v in further.items() if k != "generate")
        full = sum(v for k, v in stages.items() if k != "generate")
        print(f"one further month ({_next_month(args.end)}): dbt {'ok' if further_build.ok else 'FAILED'}, "
              f"release {'-' if further_release is None else further_release.release_id}"
              f"{'' if further_quality is None or further_quality.publishable else ' (WITHHELD)'}")
        _print_stages(further)
        print(f"  ingest..publish of one further month {downstream:.1f} s against {full:.1f} s for the full "
              f"run ({downstream / full:.0%})")
    if not build.ok:
        print(build.summary())
    return 0 if build.ok else 1


if __name__ == "__main__":
    sys.exit(main())
