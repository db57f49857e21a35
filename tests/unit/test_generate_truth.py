"""The generator's planted effects and the truth file (docs/synthetic_data.md, "Planted effects
and the truth file"): its schema and names, that untreated twins never reach a delivery, the
planted direction, confounded selection, and the county disability shares."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from workhealth.core import codelists
from workhealth.generate import generate
from workhealth.generate import calibration as P
from workhealth.generate.cli import generate_command

INTERVENTIONS = {"HA_COURSE", "HA_COURSE_1", "HA_COURSE_2", "HA_COURSE_3", "IPS", "NAV_MEASURE"}
NAMES = {
    "all": {"all"},
    "diagnosis_group": {r["diagnosis_group"] for r in codelists.load("diagnosis_groups")},
    "age_group": {r["age_group"] for r in codelists.load("age_groups")},
    "sex": {"1", "2"},
    "duration_band": {"1-2", "3-5", "6-11", "12+"},
    "state_prev": {"SYK", "AAP"},
    "era": {"RASKERE_TILBAKE", "HELSE_OG_ARBEID"},
    "rhf": {r["rhf"] for r in codelists.load("regions")},
    "care_level": {r["care_level"] for r in codelists.load("care_levels")},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Three years and a quarter at scale 0.01 (entries from the 13th month on, some followed to
    24 months), with the truth."""
    root = tmp_path_factory.mktemp("truth")
    summary = generate(root / "inbox", start="2016-01", end="2019-03", scale=0.01, seed=3, truth=root / "truth.json")
    return root, summary, json.loads((root / "truth.json").read_text())


def _row(truth, intervention, dim, value, outcome, k):
    (r,) = [r for r in truth if (r["intervention"], r["subgroup_dim"], r["subgroup_value"], r["outcome"], r["k"])
            == (intervention, dim, value, outcome, k)]
    return r


def test_truth_file_schema_and_names(run):
    _, summary, truth = run
    assert summary["truth_entries"] > 300
    keys = {"intervention", "subgroup_dim", "subgroup_value", "outcome", "k", "true_att"}
    assert all(keys <= set(r) for r in truth)
    assert {r["intervention"] for r in truth} == INTERVENTIONS
    assert {r["outcome"] for r in truth} == {"rtw", "hrb"}
    assert {r["k"] for r in truth} == set(P.TRUTH_FOLLOW_UP)
    for r in truth:
        assert r["subgroup_value"] in NAMES[r["subgroup_dim"]], r
        assert -1 <= r["true_att"] <= 1 and r["n_treated"] > 0
        assert r["true_att"] == pytest.approx(r["rate_treated"] - r["rate_untreated"], abs=1e-5)
        assert r["subgroup_dim"] != "care_level" or r["intervention"] == "HA_COURSE"
    # the subgroups of a dimension partition the entries of "all"
    for intervention in INTERVENTIONS:
        n_all = _row(truth, intervention, "all", "all", "rtw", 3)["n_treated"]
        for dim in ("diagnosis_group", "age_group", "sex", "duration_band", "state_prev", "era", "rhf"):
            assert sum(r["n_treated"] for r in truth if (r["intervention"], r["subgroup_dim"], r["outcome"], r["k"])
                       == (intervention, dim, "rtw", 3)) == n_all
    # fewer entries are followed to 24 months than to 3 within the span
    assert _row(truth, "HA_COURSE", "all", "all", "rtw", 24)["n_treated"] < \
        _row(truth, "HA_COURSE", "all", "all", "rtw", 3)["n_treated"]


def test_planted_direction(run):
    _, _, truth = run

    def att(intervention, dim, value, outcome="rtw", ks=(3, 6, 12)):
        rows = [_row(truth, intervention, dim, value, outcome, k) for k in ks]
        return sum(r["true_att"] * r["n_treated"] for r in rows) / sum(r["n_treated"] for r in rows)

    # inpatient courses for musculoskeletal disorders: a clear gain; outpatient courses: about none
    assert _row(truth, "HA_COURSE_1", "diagnosis_group", "MSK", "rtw", 12)["true_att"] > \
        _row(truth, "HA_COURSE_3", "diagnosis_group", "MSK", "rtw", 12)["true_att"]
    assert att("HA_COURSE_1", "diagnosis_group", "MSK") > att("HA_COURSE_3", "diagnosis_group", "MSK") + 0.1
    assert abs(att("HA_COURSE_3", "all", "all")) < 0.04
    assert att("HA_COURSE_1", "all", "all") > att("HA_COURSE_2", "all", "all") > att("HA_COURSE_3", "all", "all")
    # fewer on health-related benefits after an effective course
    assert att("HA_COURSE_1", "all", "all", "hrb") < -0.05
    # IPS for persons on AAP, above all with a mental disorder
    assert att("IPS", "state_prev", "AAP") > 0.03
    assert att("IPS", "diagnosis_group", "MENTAL") > 0.05


def test_selection_is_confounded(run):
    """Treated entries have been on sick leave longer and have more benefit history than
    eligible persons who start nothing of the kind that month; and return to work less often
    without the intervention than with it (the planted effect)."""
    _, summary, truth = run
    sel = summary["selection"]
    t, pool = sel["course"]["SYK"]["treated"], sel["course"]["SYK"]["pool"]
    assert t[0] > 100 and pool[0] > 10 * t[0]
    assert t[1] / t[0] > 1.2 * pool[1] / pool[0]                      # duration (months)
    assert (t[2] - t[1]) / t[0] > (pool[2] - pool[1]) / pool[0]        # history outside the spell
    t, pool = sel["nav_measure"]["AAP"]["treated"], sel["nav_measure"]["AAP"]["pool"]
    assert t[2] / t[0] > pool[2] / pool[0]                            # more SYK/AAP months in 24


def test_county_disability_shares_follow_nav(run):
    root, _, _ = run
    inbox = root / "inbox"
    con = duckdb.connect()
    rows = con.execute(f"""
        WITH p AS (SELECT person_id, any_value(birth_year)::int AS birth_year, any_value(municipality) AS m
                   FROM read_csv('{inbox}/population_*/*.csv.gz', delim=';', header=true, all_varchar=true)
                   GROUP BY 1),
        d AS (SELECT decision_id, arg_max(person_id, filename) AS person_id, arg_max(start_date, filename)::date s,
                     arg_max(end_date, filename)::date e
              FROM read_csv('{inbox}/nav_disability_*/*.csv.gz', delim=';', header=true, all_varchar=true,
                            filename=true) GROUP BY 1),
        dead AS (SELECT DISTINCT person_id FROM read_csv('{inbox}/population_*/*.csv.gz', delim=';', header=true,
                                                         all_varchar=true) WHERE death_date::date < DATE '2018-07-01')
        SELECT left(m, 2), count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM d WHERE d.person_id = p.person_id
                   AND d.s <= DATE '2018-06-30' AND (d.e IS NULL OR d.e >= DATE '2018-06-01')))
        FROM p WHERE 2018 - birth_year BETWEEN 18 AND 67 AND person_id NOT IN (SELECT person_id FROM dead)
        GROUP BY 1""").fetchall()
    share = {c: 100 * k / n for c, n, k in rows}
    national = 100 * sum(r[2] for r in rows) / sum(r[1] for r in rows)
    assert 9.0 < national < 11.5
    weights = {c: w for c, w in P.COUNTY_WEIGHTS.items()}
    mean = sum(weights[c] * P.COUNTY_DISABILITY_PCT[c] for c in weights) / sum(weights.values())
    for county, target in P.COUNTY_DISABILITY_PCT.items():
        expected = target / mean * national
        tolerance = 1.5 if weights[county] >= 0.05 else 3.0
        assert abs(share[county] - expected) < tolerance, (county, share[county], expected)
    assert share["03"] < share["32"] < min(share["34"], share["42"], share["31"])
    assert share["31"] > 2 * share["03"]


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_twins_never_reach_a_delivery(tmp_path):
    """The inbox is byte-identical with and without the truth; the twins' person_ids (their
    originals') occur once in the population; no decision or spell id skips a number."""
    a = generate(tmp_path / "a", start="2017-01", end="2018-08", scale=0.003, seed=5, truth=tmp_path / "t.json")
    b = generate(tmp_path / "b", start="2017-01", end="2018-08", scale=0.003, seed=5)
    assert a["truth_entries"] > 10  # twins were simulated
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert a["rows_per_register"] == b["rows_per_register"]
    assert not list((tmp_path / "a").rglob("*.json*")) or all(
        p.name == "manifest.json" for p in (tmp_path / "a").rglob("*.json"))
    con = duckdb.connect()
    inbox = tmp_path / "a"
    assert con.execute(f"""SELECT count(*) = count(DISTINCT person_id) FROM read_csv(
        '{inbox}/population_2017-01_v1/*.csv.gz', delim=';', header=true, all_varchar=true)""").fetchone()[0]
    assert a["persons"] == con.execute(f"""SELECT count(DISTINCT person_id) FROM read_csv(
        '{inbox}/population_*/*.csv.gz', delim=';', header=true, all_varchar=true)""").fetchone()[0]
    for register, column, prefix in (("nav_aap", "decision_id", "A"), ("nav_measures", "spell_id", "T")):
        n, top = con.execute(f"""SELECT count(DISTINCT {column}), max(substr({column}, 2)::bigint) FROM read_csv(
            '{inbox}/{register}_*/*.csv.gz', delim=';', header=true, all_varchar=true)""").fetchone()
        assert top < 10**9 and n > 0, register
    # AAP ids are consecutive from 1 (the opening balance and every new decision)
    n, top = con.execute(f"""SELECT count(DISTINCT decision_id), max(substr(decision_id, 2)::bigint) FROM read_csv(
        '{inbox}/nav_aap_*/*.csv.gz', delim=';', header=true, all_varchar=true)""").fetchone()
    assert n == top


def test_truth_is_refused_inside_the_inbox(tmp_path):
    with pytest.raises(ValueError, match="inside the inbox"):
        generate(tmp_path / "in", start="2018-01", end="2018-01", scale=0.001, truth=tmp_path / "in" / "t.json")
    runner = CliRunner()
    result = runner.invoke(generate_command, ["--inbox", str(tmp_path / "in"), "--start", "2018-01", "--end",
                                              "2018-01", "--scale", "0.001", "--truth", str(tmp_path / "in/x/t.json")])
    assert result.exit_code == 2 and "inside the inbox" in result.output
    result = runner.invoke(generate_command, ["--inbox", str(tmp_path / "in"), "--start", "2018-01", "--end",
                                              "2018-01", "--scale", "0.001", "--truth", str(tmp_path / "t.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "t.json").read_text()) == []  # one month: nothing followed yet
