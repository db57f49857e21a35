"""The dbt publication models (dbt_project/models/publication) on the session's built warehouse:
they exist with their enforced contracts, hold every column disclosure control needs, and the
release period is the data horizon."""

from __future__ import annotations

import json

import duckdb
import pytest

from conftest import END, START

pytestmark = pytest.mark.slow  # the built warehouse (publish/conftest.py)

MODELS = ("pub_courses", "pub_outcomes", "pub_trajectories", "pub_release_period")


@pytest.fixture(scope="module")
def manifest(built_warehouse) -> dict:
    return json.loads((built_warehouse / "out" / "dbt" / "target" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def con(built_warehouse):
    c = duckdb.connect(str(built_warehouse / "warehouse" / "wh.duckdb"), read_only=True)
    yield c
    c.close()


def test_models_are_built_with_enforced_contracts(manifest, built_warehouse, con):
    nodes = {n["name"]: n for n in manifest["nodes"].values()
             if n["resource_type"] == "model" and n["schema"] == "publication"}
    assert set(nodes) == set(MODELS)
    results = json.loads((built_warehouse / "out" / "dbt" / "target" / "run_results.json").read_text())["results"]
    for name, node in nodes.items():
        assert node["contract"]["enforced"], name
        assert node["description"].startswith("One row"), name  # descriptions start with the grain
        declared = [(c["name"], c["data_type"].upper()) for c in node["columns"].values()]
        built = con.execute("select column_name, data_type from information_schema.columns "
                            "where table_schema = 'publication' and table_name = ? order by ordinal_position",
                            [name]).fetchall()
        assert built == declared, name
        # the model and its data tests ran in the build and passed
        tests = {uid for uid, n in manifest["nodes"].items()
                 if n["resource_type"] == "test" and node["unique_id"] in n["depends_on"]["nodes"]}
        ran = {r["unique_id"]: r["status"] for r in results if r["unique_id"] in tests | {node["unique_id"]}}
        assert tests and set(ran) == tests | {node["unique_id"]}, name
        assert set(ran.values()) <= {"success", "pass"}, (name, ran)


def test_tables_hold_what_disclosure_control_needs(con):
    from workhealth.publish import indicators

    tables = indicators.compute(con)
    for spec in indicators.TABLES:
        df = tables[spec.name]
        assert len(df) > 0, spec.name
        needed = list(spec.dims) + [m.name for m in spec.measures]
        needed += [f"_units_{m.name}" for m in spec.measures if m.kind in ("ratio", "median")]
        needed += [f"_num_{m.name}" for m in spec.measures if m.kind == "ratio"]
        assert set(needed) <= set(df.columns), (spec.name, set(needed) - set(df.columns))
        assert not df.duplicated(list(spec.dims)).any(), spec.name


def test_release_period_is_the_data_horizon(con):
    period = con.execute("select strftime(first_month, '%Y-%m'), strftime(horizon_month, '%Y-%m') "
                         "from publication.pub_release_period").fetchall()
    person_months = con.execute("select strftime(min(month), '%Y-%m'), strftime(max(month), '%Y-%m') "
                                "from marts.fct_person_month").fetchall()
    assert period == person_months == [(START, END)]
