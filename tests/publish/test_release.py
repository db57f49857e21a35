"""Releases from a real (small) warehouse: files, format, metadata, values, immutability, and
that only changed inputs (a corrected delivery) make a new release."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import stat
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from workhealth.core.definitions import DEFINITIONS_VERSION

from conftest import END, SCALE, SEED, START
from shared_fixtures import settings_for

pytestmark = pytest.mark.slow  # the built warehouse (publish/conftest.py)

TOTAL_DIMS = {"geo": ("country", "NO"), "care_level": "all", "diagnosis_group": "all", "era": "all"}


@pytest.fixture(scope="module")
def release(built_warehouse, tmp_path_factory):
    from workhealth.publish import publish
    from workhealth.transform import data_dictionary

    root = tmp_path_factory.mktemp("release")
    s = settings_for(root, warehouse=built_warehouse / "warehouse" / "wh.duckdb")
    quality = {"run_id": "q1", "publishable": True, "periods": {"2018-05": "passed", "2018-06": "warning"}}
    return s, publish(s, quality, dictionary=data_dictionary)


def _marts(warehouse: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_release_has_every_table_as_csv_and_parquet_with_exact_columns(release):
    from workhealth.publish.indicators import TABLES

    s, result = release
    assert result.created and result.path == s.out / "releases" / result.release_id
    assert [t.name for t in TABLES] == ["courses", "outcomes", "cooperation", "trajectories"]
    meta = json.loads((result.path / "metadata.json").read_text())
    assert list(meta["tables"]) == [*(t.name for t in TABLES), "effects"], "metadata lists every table"
    assert meta["tables"]["cooperation"]["files"] == ["cooperation.csv", "cooperation.parquet"]
    for spec in TABLES:
        csv_text = (result.path / f"{spec.name}.csv").read_text(encoding="utf-8")
        header = csv_text.splitlines()[0].split(";")
        assert header == spec.columns, spec.name
        for m in spec.measures:  # the flag column right after its measure
            assert header[header.index(m.name) + 1] == f"{m.name}_flag"
        csv = pd.read_csv(io.StringIO(csv_text), sep=";", dtype=str, keep_default_na=False)
        parquet = pd.read_parquet(result.path / f"{spec.name}.parquet")
        assert list(parquet.columns) == spec.columns and len(parquet) == len(csv) > 0
        for m in spec.measures:
            empty = csv[m.name] == ""
            assert (empty == csv[f"{m.name}_flag"].isin(["primary", "secondary", "no_units", "withheld"])).all(), \
                "empty iff flagged"
            assert (empty == parquet[m.name].isna()).all()
            assert not csv[m.name].str.contains(",").any(), "decimal mark is '.'"
        # trajectories go down to the RHF only, without age groups; the others also by health trust
        assert ("age_group" in header) == (spec.name != "trajectories")
        levels = set(csv["geo_level"])
        assert levels == ({"country", "rhf"} if spec.name == "trajectories" else {"country", "rhf", "health_trust"})
    assert set(pd.read_csv(result.path / "trajectories.csv", sep=";")["month_offset"]) == set(range(-12, 25))


def test_release_files_are_read_only_and_latest_points_to_it(release):
    s, result = release
    for f in result.path.rglob("*"):
        if f.is_file():
            assert not f.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), f
    latest = s.out / "releases" / "latest"
    assert latest.is_symlink() and str(latest.readlink()) == result.release_id  # relative
    assert not list((s.out / "releases").glob(".tmp-*"))


def test_metadata_names_deliveries_horizon_definitions_quality_and_rules(release, built_warehouse):
    from workhealth.ingest.log import list_deliveries
    from workhealth.publish.disclosure import RULES

    s, result = release
    meta = json.loads((result.path / "metadata.json").read_text())
    accepted = [(d["register"], d["period"], d["version"]) for d in list_deliveries(s.warehouse)
                if d["status"] == "accepted"]
    assert sorted((d["register"], d["period"], d["version"]) for d in meta["deliveries"]) == sorted(accepted)
    assert all(len(d["manifest_sha256"]) == 64 for d in meta["deliveries"])
    horizon = _marts(s.warehouse, "select strftime(max(month), '%Y-%m') as h from marts.fct_person_month")["h"][0]
    assert meta["horizon"] == horizon == END
    assert meta["quality"]["periods"] == {"2018-05": "passed", "2018-06": "warning"}
    assert meta["disclosure_rules"] == RULES
    assert "dbt_project/models/marts/treatment/fct_treatment_courses.sql" in meta["definitions"]["files"]
    assert meta["definitions"]["version"] == DEFINITIONS_VERSION and len(meta["definitions"]["hash"]) == 16
    assert set(meta["codelists"]["files"]) >= {"health_trusts", "diagnosis_groups", "icd10_categories"}
    assert meta["fingerprint"] == result.fingerprint and meta["release_id"] == result.release_id
    assert meta["internal"]["folder"] == f"internal/{result.release_id}"
    assert result.internal_path == s.out / meta["internal"]["folder"]
    for name in ("fct_treatment_courses", "coding_quality_monthly", "fct_person_month"):
        exported = pd.read_parquet(result.internal_path / "marts" / f"{name}.parquet")
        n = _marts(s.warehouse, f"select count(*) as n from marts.{name}")["n"][0]
        assert len(exported) == n == meta["internal"]["marts"][f"marts/{name}.parquet"]


def test_effects_are_the_evaluation_after_disclosure_control(release):
    """The public ``effects`` (CSV and Parquet) is suppress_effects of the warehouse's
    evaluation.effects, listed in metadata.json with its columns, suppression counts and rules;
    the unsuppressed tables and the cohort are in the internal part only."""
    from workhealth.publish.disclosure import RULES, suppress_effects
    from workhealth.publish.release import EVALUATION_TABLES, read_effects

    s, result = release
    con = duckdb.connect(str(s.warehouse), read_only=True)
    try:
        expected = suppress_effects(read_effects(con))
        n_cohort = con.execute("select count(*) from marts.fct_evaluation_cohort").fetchone()[0]
    finally:
        con.close()
    csv_text = (result.path / "effects.csv").read_text(encoding="utf-8")
    header = csv_text.splitlines()[0].split(";")
    assert header == list(expected.columns) and header[:5] == ["intervention", "subgroup_dim", "subgroup_value",
                                                              "outcome", "k"]
    csv = pd.read_csv(io.StringIO(csv_text), sep=";", dtype=str, keep_default_na=False)
    parquet = pd.read_parquet(result.path / "effects.parquet")
    assert list(parquet.columns) == header and len(parquet) == len(csv) == len(expected) > 0
    assert set(csv["subgroup_dim"]) >= {"all", "age_group", "sex"} and set(csv["outcome"]) == {
        "rtw", "hrb", "sustained_rtw"}
    flagged = [c[: -len("_flag")] for c in header if c.endswith("_flag")]
    assert {"n_treated", "rate_treated", "risk_difference", "ci_low", "e_value"} <= set(flagged)
    for c in flagged:
        empty = csv[c] == ""
        assert (empty == (csv[f"{c}_flag"] != "")).all(), f"{c}: empty iff flagged"
        assert (empty == parquet[c].isna()).all(), c
        assert (parquet[c].astype("Float64").fillna(-1).to_numpy()
                == expected[c].astype("Float64").fillna(-1).to_numpy()).all(), c
    # published counts of 1-4 never appear; the report's small groups are gone too
    n = pd.to_numeric(csv["n_treated"], errors="coerce")
    assert not n.between(1, 4).any()
    meta = json.loads((result.path / "metadata.json").read_text())
    entry = meta["tables"]["effects"]
    assert entry["files"] == ["effects.csv", "effects.parquet"] and entry["columns"] == header
    assert entry["rows"] == len(csv) and entry["disclosure_rules"] == RULES["effects"]
    assert entry["suppressed"]["n_treated"] == {f: int(n) for f, n in csv["n_treated_flag"][
        csv["n_treated_flag"] != ""].value_counts().sort_index().items()}
    assert len(meta["evaluation"]["effects_sha256"]) == 64
    internal = meta["internal"]
    assert internal["marts"]["marts/fct_evaluation_cohort.parquet"] == n_cohort > 0
    assert set(internal["evaluation"]) == {f"evaluation/{t}.parquet" for t in EVALUATION_TABLES}
    assert not (result.path / "fct_evaluation_cohort.parquet").exists()


def test_the_fingerprint_changes_with_the_effects():
    """A new seed or evaluation variable changes the effects but no delivery or model: still a new
    release. Noise below the 10th decimal (a float sum in another order) is not."""
    from workhealth.publish.release import effects_hash, fingerprint

    effects = pd.DataFrame({"intervention": ["IPS", "IPS"], "k": [3, 6], "risk_difference": [0.1, -0.05],
                            "imbalanced": [False, True]})
    inputs = {"deliveries": [], "first_month": "2017-01", "horizon": "2018-06", "definitions": {"files": {}},
              "codelists": {"files": {}}}

    def fp(df):
        return fingerprint({**inputs, "evaluation": {"effects_sha256": effects_hash(df)}})

    changed = effects.assign(risk_difference=[0.1, -0.04])
    noise = effects.assign(risk_difference=effects["risk_difference"] + 1e-13)
    assert fp(effects) != fp(changed) and fp(effects) == fp(noise)
    assert fp(effects) != fingerprint(inputs)


def _expected_courses(courses: pd.DataFrame) -> pd.DataFrame:
    """Recompute the courses table unsuppressed with pandas: each course counted in all 48 cells."""
    import itertools

    rows = []
    for c in courses.itertuples():
        for geo in (("country", "NO"), ("rhf", c.rhf), ("health_trust", c.health_trust)):
            age = "UNKNOWN" if pd.isna(c.age_group) else c.age_group
            for mask in itertools.product((0, 1), repeat=4):
                cats = [str(v) if keep else "all"
                        for v, keep in zip((c.care_level, c.diagnosis_group, c.era, age), mask)]
                rows.append((c.course_start.year, *geo, *cats, c.person_id, c.on_sick_leave_at_start,
                             c.sick_leave_days_at_start, c.waiting_days))
    df = pd.DataFrame(rows, columns=["year", "geo_level", "geo_code", "care_level", "diagnosis_group", "era",
                                     "age_group", "person_id", "sick", "sick_days", "waiting"])
    return df.groupby(["year", "geo_level", "geo_code", "care_level", "diagnosis_group", "era", "age_group"]).agg(
        n_courses=("person_id", "size"), n_patients=("person_id", "nunique"),
        share_on_sick_leave_at_start=("sick", "mean"), median_sick_leave_days_at_start=("sick_days", "median"),
        median_waiting_days=("waiting", "median")).reset_index()


def test_published_values_equal_an_independent_recount(release):
    s, result = release
    courses = _marts(s.warehouse, "select * from marts.fct_treatment_courses")
    expected = _expected_courses(courses)
    published = pd.read_csv(result.path / "courses.csv", sep=";", dtype={"care_level": str, "age_group": str},
                            keep_default_na=False, na_values=[""])
    keys = ["year", "geo_level", "geo_code", "care_level", "diagnosis_group", "era", "age_group"]
    assert sorted(map(tuple, published[keys].astype(str).values)) == sorted(map(tuple, expected[keys].astype(str).values)), \
        "a row for exactly every combination with at least one course"
    merged = published.merge(expected, on=keys, suffixes=("", "_expected"))
    shown = 0
    for col in ("n_courses", "n_patients", "share_on_sick_leave_at_start", "median_sick_leave_days_at_start",
                "median_waiting_days"):
        sel = merged[col].notna()
        shown += int(sel.sum())
        assert (merged.loc[sel, col] - merged.loc[sel, f"{col}_expected"].astype(float)).abs().max() < 1e-4, col
    assert shown > 0, "something is published"
    nat = merged[(merged.geo_level == "country") & (merged.care_level == "all") & (merged.diagnosis_group == "all")
                 & (merged.era == "all") & (merged.age_group == "all")]
    assert (nat["n_courses"] == nat["n_courses_expected"]).all(), "national totals per year are published"


def test_refused_when_the_quality_gate_did_not_pass(built_warehouse, tmp_path):
    from workhealth.publish import publish
    from workhealth.transform import data_dictionary

    s = settings_for(tmp_path, warehouse=built_warehouse / "warehouse" / "wh.duckdb")
    with pytest.raises(ValueError, match="publication withheld"):
        publish(s, {"publishable": False, "periods": {"2018-12": "critical"}}, dictionary=data_dictionary)
    assert not (s.out / "releases").exists() or not any((s.out / "releases").iterdir())


def _tree_hashes(folder: Path) -> dict[str, str]:
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file()}


def test_unchanged_inputs_make_no_release_and_a_correction_makes_a_new_one(own_warehouse, quality_ok, tmp_path):
    from workhealth import transform
    from workhealth.evaluate import evaluate
    from workhealth.ingest.load import ingest_inbox
    from workhealth.generate import generate
    from workhealth.publish import publish
    from workhealth.transform import data_dictionary

    s = settings_for(own_warehouse)
    first = publish(s, quality_ok, dictionary=data_dictionary)
    assert first.created
    again = publish(s, quality_ok, dictionary=data_dictionary)
    assert not again.created and again.release_id == first.release_id
    assert len([p for p in (s.out / "releases").iterdir() if not p.name.startswith(".")]) == 2  # release + latest
    before = _tree_hashes(first.path)

    # The same generator run with its correction defect writes an identical v1 plus a v2 of the
    # middle npr_episodes month: deliver only that v2.
    other = tmp_path / "with-correction"
    summary = generate(other, start=START, end=END, scale=SCALE, seed=SEED, defects=["correction"])
    v2 = next(d for d in summary["deliveries"] if d["version"] == 2)
    shutil.copytree(other / v2["delivery"], s.inbox / v2["delivery"])
    assert [r.status for r in ingest_inbox(s)] == ["accepted"]
    assert transform.build(s).ok
    evaluate(s)  # as the pipeline does between the gate and publishing

    corrected = publish(s, quality_ok, dictionary=data_dictionary)
    assert corrected.created and corrected.release_id != first.release_id
    assert _tree_hashes(first.path) == before, "the older release is left intact"
    assert (s.out / "releases" / "latest").resolve() == corrected.path
    meta = json.loads((corrected.path / "metadata.json").read_text())
    assert meta["previous_release"] == first.release_id
    used = {(d["register"], d["period"]): d["version"] for d in meta["deliveries"]}
    assert used[("npr_episodes", v2["period"])] == 2


def test_the_years_suppressed_in_parallel_processes_equal_all_at_once(built_warehouse):
    """suppress_release splits the tables by year into worker processes (large releases): the
    published tables are exactly those of one pass over every year."""
    from workhealth.publish import disclosure, indicators

    con = duckdb.connect(str(built_warehouse / "warehouse" / "wh.duckdb"), read_only=True)
    try:
        raw, geo = indicators.compute(con), indicators.geo_parents(con)
    finally:
        con.close()
    assert raw["courses"]["year"].nunique() >= 2
    specs = {t.name: t for t in indicators.TABLES}
    apart = disclosure.suppress_release(raw, specs, geo, workers=2)
    together = disclosure.suppress_release(raw, specs, geo, workers=1)
    assert apart.keys() == together.keys()
    for name in together:
        pd.testing.assert_frame_equal(apart[name], together[name])
