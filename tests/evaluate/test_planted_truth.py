"""The evaluation recovers the generator's planted effects (docs/evaluation.md, "Checking it on
synthetic data"; docs/synthetic_data.md, "Planted effects and the truth file"): on the generated
inbox of conftest.py (scale 0.05, four years), the 95 % intervals of ``evaluation.effects`` cover
the true effect on the treated in at least 90 % of the rows with at least 200 treated entries,
and where the planted selection is strong the naive difference lies outside the interval.
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from workhealth.evaluate.stage import INTERVENTIONS

pytestmark = pytest.mark.slow

MIN_TREATED, MIN_COVERAGE = 200, 0.90
STRONG_SMD = 0.8
KEY = ["intervention", "subgroup_dim", "subgroup_value", "outcome", "k"]


@pytest.fixture(scope="module")
def planted(evaluated_warehouse):
    """(truth, effects, largest |SMD| before matching per subgroup) of the evaluated inbox, as plain data."""
    s, _ = evaluated_warehouse
    with duckdb.connect(str(s.warehouse), read_only=True) as con:
        effects = con.sql("select * from evaluation.effects where outcome in ('rtw', 'hrb')").df()
        balance = con.sql("select intervention, subgroup_dim, subgroup_value, "
                          "max(abs(smd_before)) as max_abs_smd_before from evaluation.balance "
                          "group by all").df()
    truth = json.loads((s.data_dir / "truth.json").read_text())
    return truth, effects.to_dict("records"), balance.to_dict("records")


@pytest.fixture(scope="module")
def joined(planted) -> pd.DataFrame:
    """Truth and estimates side by side (inner join on the row's names)."""
    truth, effects, _ = planted
    t, e = pd.DataFrame(truth), pd.DataFrame(effects)
    out = t.merge(e, on=KEY, how="inner", suffixes=("_true", ""), validate="one_to_one")
    out["covered"] = (out["ci_low"] <= out["true_att"]) & (out["true_att"] <= out["ci_high"])
    return out


def test_truth_and_effects_name_the_same_rows(planted, joined):
    """Every truth row with enough treated entries has its estimate (the names match: sex and
    care_level as '1', '2', 'all'/'all', ...), and the two counts of treated entries agree (the
    evaluation's are the matched ones among the truth's): generator and marts define the entries,
    their subgroups and their follow-up alike."""
    truth, effects, _ = planted
    t = pd.DataFrame(truth)
    big = t[t["n_treated"] >= MIN_TREATED]
    assert len(big) >= 200
    found = big.merge(pd.DataFrame(effects)[KEY], on=KEY, how="left", indicator=True)
    assert (found["_merge"] == "both").all(), found.loc[found["_merge"] != "both", KEY].head(10)
    assert set(big["intervention"]) == set(INTERVENTIONS)
    rows = joined[joined["n_treated_true"] >= MIN_TREATED]
    ratio = rows["n_treated"] / rows["n_treated_true"]
    off = ~ratio.between(0.85, 1.05)
    assert not off.any(), rows.loc[off, [*KEY, "n_treated", "n_treated_true", "n_unmatched"]]


def test_intervals_cover_the_true_effect(joined):
    rows = joined[joined["n_treated"] >= MIN_TREATED]
    assert len(rows) >= 200
    coverage = rows["covered"].mean()
    assert coverage >= MIN_COVERAGE, (
        f"coverage {coverage:.3f} over {len(rows)} rows; by intervention:\n"
        f"{rows.groupby('intervention')['covered'].mean()}\nmissed:\n"
        f"{rows.loc[~rows['covered'], [*KEY, 'n_treated', 'true_att', 'ci_low', 'ci_high']].head(20)}")


def test_naive_difference_is_biased_where_selection_is_strong(planted, joined):
    """Strong selection, judged without the outcomes: the subgroup's largest |SMD| before
    matching (evaluation.balance) is large (at least 0.8). There the naive difference lies
    outside the 95 % interval in at least 90 % of the rows with enough treated entries."""
    _, _, balance = planted
    smd = pd.DataFrame(balance)
    rows = joined[joined["n_treated"] >= MIN_TREATED].merge(smd, on=["intervention", "subgroup_dim", "subgroup_value"])
    strong = rows[rows["max_abs_smd_before"] >= STRONG_SMD]
    assert len(strong) >= 100
    # both kinds of planted selection: courses (duration, history) and measures (AAP, history)
    assert {"HA_COURSE", "NAV_MEASURE"} <= set(strong["intervention"])
    outside = ~strong["naive_difference"].between(strong["ci_low"], strong["ci_high"])
    assert outside.mean() >= 0.9, strong.loc[~outside, [*KEY, "n_treated", "naive_difference", "ci_low", "ci_high"]]
