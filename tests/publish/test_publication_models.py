"""The dbt publication models (dbt_project/models/publication) on the session's built warehouse:
they exist with their enforced contracts, hold every column disclosure control needs, and the
release period is the data horizon."""

from __future__ import annotations

import json

import duckdb
import pytest

from conftest import END, START

pytestmark = pytest.mark.slow  # the built warehouse (publish/conftest.py)

MODELS = ("pub_courses", "pub_outcomes", "pub_cooperation", "pub_trajectories", "pub_release_period")


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


def test_cooperation_and_age_groups_recomputed_from_the_mart(con):
    """pub_cooperation and the age_group rows of pub_courses/pub_outcomes, recomputed in pandas
    from marts.fct_treatment_courses (per year and age group, other categories all, Norway)."""
    from workhealth.publish import indicators

    tables = indicators.compute(con)
    marts = con.execute("select * from marts.fct_treatment_courses").df()
    marts["age_group"] = marts["age_group"].fillna("UNKNOWN")
    assert set(tables["cooperation"].filter(like="n_known_").columns) == {
        f"n_known_{a}" for a in indicators.COOPERATION_ATTRIBUTES}, "the spec and the model list the same attributes"
    bands = {r[0] for r in con.execute("select age_group from codelists.age_groups").fetchall()}

    def national(df):
        return df[(df.geo_level == "country") & (df.care_level == "all") & (df.diagnosis_group == "all")
                  & (df.era == "all") & (df.age_group != "all")].set_index(["year", "age_group"])

    coop, courses, outcomes = (national(tables[t]) for t in ("cooperation", "courses", "outcomes"))
    assert set(coop.index.get_level_values("age_group")) - {"UNKNOWN"} <= bands
    assert len(set(coop.index.get_level_values("age_group")) & bands) >= 2
    for (year, age), g in marts.groupby([marts.course_start.dt.year, "age_group"]):
        row = coop.loc[(year, age)]
        assert row["n_courses"] == len(g) == courses.loc[(year, age), "n_courses"]
        for a in indicators.COOPERATION_ATTRIBUTES:
            known = g[a].dropna()
            assert row[f"n_known_{a}"] == len(known), (year, age, a)
            if len(known):
                assert abs(row[f"share_{a}"] - known.astype(float).mean()) < 1e-12, (year, age, a)
            else:
                assert row[f"share_{a}"] != row[f"share_{a}"], "no share over 0 units"
    for (year, age), g in marts.groupby([marts.course_end.dt.year, "age_group"]):
        assert outcomes.loc[(year, age), "n_followed_12m"] == g["state_12m"].notna().sum()
    # cooperation attributes are missing at the horizon's end, known for some courses
    assert tables["cooperation"]["n_known_gp_after_3m"].max() > 0
