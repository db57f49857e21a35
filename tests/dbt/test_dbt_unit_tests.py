"""dbt's own unit tests (the ``unit_tests:`` YAML of dbt_project/models), the cheap way.

A unit test needs its model's parents to exist as relations (dbt reads their columns), not
their rows: ``dbt build --empty`` builds seeds and every model with zero rows on the
hand-written fixture warehouse, and runs the unit tests; data tests are left out (they judge
rows, and run in test_dbt_build.py's full build). About 15 s, so it is part of ``make check``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from fixture_warehouse import create

MODELS = Path(__file__).resolve().parents[2] / "dbt_project" / "models"


def _declared_unit_tests() -> set[str]:
    names = set()
    for f in MODELS.rglob("*.yml"):
        for test in (yaml.safe_load(f.read_text()) or {}).get("unit_tests") or []:
            names.add(f"{test['model']}.{test['name']}")
    return names


def test_every_dbt_unit_test_passes(tmp_path, dbt_build):
    warehouse = create(tmp_path / "warehouse.duckdb")
    proc, results = dbt_build(warehouse, tmp_path, "build", "--empty", "--exclude", "test_type:data")
    unit = {r["unique_id"].split(".", 2)[2]: r for r in results if r["unique_id"].startswith("unit_test.")}
    bad = [(r["unique_id"], r["status"], r.get("message")) for r in results if r["status"] not in ("success", "pass")]
    assert proc.returncode == 0 and bad == [], (bad, proc.stdout[-3000:])
    declared = _declared_unit_tests()
    assert len(declared) >= 20
    assert set(unit) == declared, "every declared unit test ran"
