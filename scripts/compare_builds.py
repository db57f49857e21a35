"""Compare two data folders built from the same generated inbox (``WORKHEALTH_DATA_DIR`` of each):
the latest release's CSVs byte for byte and its Parquet files exactly, every table of the
``marts`` and ``intermediate`` schemas (EXCEPT ALL both ways, column types), and the quality
findings. For refactorings that must not change behaviour:

    WORKHEALTH_DATA_DIR=/tmp/before workhealth generate --seed 7 && workhealth run   # at the old commit
    WORKHEALTH_DATA_DIR=/tmp/after  workhealth generate --seed 7 && workhealth run   # at the new one
    python scripts/compare_builds.py /tmp/before /tmp/after

Exit 0 when everything is equal, 1 otherwise; prints one line per table.
"""

from __future__ import annotations

import filecmp
import json
import sys
from pathlib import Path

import duckdb
import pandas as pd

TABLES = ("courses", "outcomes", "trajectories")


def _columns(con, catalog: str, schema: str, table: str) -> dict[str, str]:
    return dict(con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = ? "
                            "AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                            [catalog, schema, table]).fetchall())


def _findings(result: Path):
    r = json.loads(result.read_text())
    # descriptions are documentation, not findings
    keys = sorted(json.dumps({k: v for k, v in f.items() if k != "description"}, sort_keys=True, default=str)
                  for f in r["findings"])
    return r["publishable"], r["periods"], keys


def compare(base: Path, new: Path) -> bool:
    ok = True
    for t in TABLES:
        a, b = base / "out/releases/latest" / f"{t}.csv", new / "out/releases/latest" / f"{t}.csv"
        same = filecmp.cmp(a, b, shallow=False)
        pd.testing.assert_frame_equal(pd.read_parquet(a.with_suffix(".parquet")),
                                      pd.read_parquet(b.with_suffix(".parquet")), check_exact=True)
        print(f"release {t}: {'csv identical, parquet equal' if same else 'CSV DIFFERS'}")
        ok &= same
    con = duckdb.connect(str(new / "warehouse/workhealth.duckdb"), read_only=True)
    con.execute(f"ATTACH '{base / 'warehouse/workhealth.duckdb'}' AS base (READ_ONLY)")
    for schema in ("marts", "intermediate"):
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog = "
                                           "'base' AND table_schema = ? ORDER BY 1", [schema]).fetchall()]
        for t in names:
            old, now = _columns(con, "base", schema, t), _columns(con, "workhealth", schema, t)
            if not now:
                print(f"{schema}.{t}: MISSING")
                ok = False
                continue
            common = ", ".join(f'"{c}"' for c in old if c in now)
            diff = [con.execute(f"SELECT count(*) FROM (SELECT {common} FROM {x}.{schema}.{t} EXCEPT ALL "
                                f"SELECT {common} FROM {y}.{schema}.{t})").fetchone()[0]
                    for x, y in (("base", "workhealth"), ("workhealth", "base"))]
            types = sorted(c for c in old if c in now and old[c] != now[c])
            gone_or_new = sorted(set(old) ^ set(now))
            equal = diff == [0, 0] and not types
            print(f"{schema}.{t}: {'equal' if equal else 'DIFFERS'} (-{diff[0]} +{diff[1]})"
                  + (f"; columns only on one side: {gone_or_new}" if gone_or_new else "")
                  + (f"; types differ: {types}" if types else ""))
            ok &= equal
    same = _findings(base / "out/quality/result.json") == _findings(new / "out/quality/result.json")
    print(f"quality findings: {'equal' if same else 'DIFFER'}")
    return ok and same


if __name__ == "__main__":
    sys.exit(0 if compare(Path(sys.argv[1]), Path(sys.argv[2])) else 1)
