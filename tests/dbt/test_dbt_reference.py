"""The marts agree, row by row and value by value, with a plain-Python reading of the definitions.

reference_marts.py implements docs/definitions.md (person-month states to coding quality)
directly (loops, a day-range test per person and month) without sharing code with the SQL; random_warehouse.py draws warehouses whose
rows sit on the definitions' edges. Each seed is a full ``dbt build`` (about a minute on the
2-core CI machine): one in ``make test``, five with ``WORKHEALTH_TESTS=thorough``.
"""

from __future__ import annotations

import duckdb
import pytest

from fixture_warehouse import create as fixture_create
from random_warehouse import create
from reference_marts import compare
from shared_fixtures import THOROUGH

pytestmark = pytest.mark.slow  # a full dbt build per case


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5] if THOROUGH else [1])
def test_marts_agree_with_reference_on_random_warehouse(seed, tmp_path, dbt_build):
    warehouse = create(tmp_path / "warehouse.duckdb", seed)
    proc, results = dbt_build(warehouse, tmp_path)
    # persons missing from the population register make the dim_person relationships warn
    bad = [(r["unique_id"], r["status"], r.get("message")) for r in results
           if r["status"] not in ("success", "pass", "warn")]
    assert proc.returncode == 0 and results and bad == [], proc.stdout[-3000:]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert compare(con) == []
    finally:
        con.close()


def test_no_horizon_builds_empty_follow_up_marts(tmp_path, dbt_build):
    """The first delivered month lacks nav_aap: no horizon, so no person-months, courses or
    trajectories (a warning says why); coding quality still reports every accepted month."""
    warehouse = fixture_create(tmp_path / "warehouse.duckdb")
    con = duckdb.connect(str(warehouse))
    con.execute("update audit.deliveries set status = 'rejected' where delivery = 'nav_aap_2017-09_v1'")
    con.close()
    proc, results = dbt_build(warehouse, tmp_path)
    status = {r["unique_id"].split(".")[-1]: r["status"] for r in results}
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert status["warn_no_horizon_yet"] == "warn"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        counts = {t: con.execute(f"select count(*) from marts.{t}").fetchall()[0][0] for t in (
            "fct_person_month", "fct_treatment_courses", "fct_course_trajectories", "fct_sick_leave_cases",
            "coding_quality_monthly", "dim_person")}
        assert counts == {"fct_person_month": 0, "fct_treatment_courses": 0, "fct_course_trajectories": 0,
                          "fct_sick_leave_cases": 0, "coding_quality_monthly": counts["coding_quality_monthly"],
                          "dim_person": 5}
        assert counts["coding_quality_monthly"] > 0
        assert compare(con) == []
    finally:
        con.close()
