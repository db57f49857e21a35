"""Disclosure control of the evaluation's ``effects`` table (evaluation.md section 7 as written into
docs/evaluation.md): hand-made examples, and random tables checked by an independent rank test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workhealth.publish.disclosure import EFFECT_COLUMNS, EFFECT_RATIOS, suppress_effects

SEX = ("1", "2")
AGE = ("16-29", "30-49", "50-66")


def _row(intervention, dim, value, outcome, k, n_treated, n_unmatched=0, n_comparison=None, rate=0.5):
    return {"intervention": intervention, "subgroup_dim": dim, "subgroup_value": value, "outcome": outcome, "k": k,
            "n_treated": n_treated, "n_comparison": 3 * n_treated if n_comparison is None else n_comparison,
            "n_unmatched": n_unmatched, "rate_treated": rate if n_treated else None,
            "rate_comparison": 0.4 if n_treated else None, "risk_difference": rate - 0.4 if n_treated else None,
            "ci_low": 0.0 if n_treated else None, "ci_high": 0.2 if n_treated else None,
            "naive_difference": 0.15 if n_treated else None, "e_value": 1.8 if n_treated else None,
            "max_abs_smd": 0.05, "imbalanced": False, "imprecise": n_treated < 100}


def _table(by_sex: dict, outcomes=(("rtw", 12), ("hrb", 12))) -> pd.DataFrame:
    rows = []
    for outcome, k in outcomes:
        rows.append(_row("HA_COURSE", "all", "all", outcome, k, sum(by_sex.values())))
        rows += [_row("HA_COURSE", "sex", s, outcome, k, n) for s, n in by_sex.items()]
    return pd.DataFrame(rows)


def _get(pub, outcome, dim, value):
    return pub[(pub.outcome == outcome) & (pub.subgroup_dim == dim) & (pub.subgroup_value == value)].iloc[0]


def test_a_small_subgroup_and_its_complement_are_hidden_with_their_rates():
    pub = suppress_effects(_table({"1": 3, "2": 27}))
    assert list(pub.columns) == EFFECT_COLUMNS
    for outcome in ("rtw", "hrb"):
        one, two, total = (_get(pub, outcome, "sex", "1"), _get(pub, outcome, "sex", "2"),
                           _get(pub, outcome, "all", "all"))
        assert pd.isna(one.n_treated) and one.n_treated_flag == "primary"
        # 30 - 3 would give 27 away: the smallest published non-zero cell of the margin is hidden
        assert pd.isna(two.n_treated) and two.n_treated_flag == "secondary"
        assert total.n_treated == 30 and pd.isna(total.n_treated_flag)
        for m in EFFECT_RATIOS:
            assert pd.isna(one[m]) and one[f"{m}_flag"] == "primary"
            assert pd.isna(two[m]) and two[f"{m}_flag"] == "secondary", m
            assert total[m] == pytest.approx(_row("x", "", "", "", 0, 30)[m])
        assert one.n_comparison_flag is pd.NA and one.n_comparison == 9, "9 distinct comparison persons: shown"
    assert _get(pub, "rtw", "all", "all")["flags"] == "imprecise"


def test_rates_over_five_to_nine_treated_are_hidden_and_counts_shown():
    pub = suppress_effects(_table({"1": 7, "2": 40}))
    one = _get(pub, "rtw", "sex", "1")
    assert one.n_treated == 7 and pd.isna(one.n_treated_flag)
    assert pd.isna(one.rate_treated) and one.rate_treated_flag == "primary"
    # the treated numerator 0.5 * 7 would follow from the all row and sex 2: that row's rates go too
    two = _get(pub, "rtw", "sex", "2")
    assert two.n_treated == 40 and pd.isna(two.rate_treated) and two.rate_treated_flag == "secondary"


def test_counts_equal_across_outcomes_are_hidden_together():
    t = _table({"1": 30, "2": 27}, outcomes=(("rtw", 3), ("rtw", 24)))
    # At k = 24 fewer are followed: sex 1 has 3 there (primary), 27 at sex 2 is its complement...
    t.loc[(t.k == 24) & (t.subgroup_value == "1"), "n_treated"] = 3
    t.loc[(t.k == 24) & (t.subgroup_dim == "all"), "n_treated"] = 30
    pub = suppress_effects(t)
    # ... and sex 2's 27 at k = 3 is the same number: a reader would see it, so it is hidden too.
    assert _get(pub[pub.k == 24], "rtw", "sex", "2").n_treated_flag == "secondary"
    assert _get(pub[pub.k == 3], "rtw", "sex", "2").n_treated_flag == "secondary"


def test_no_treated_and_missing_rates_are_no_units_and_zeros_published():
    t = _table({"1": 0, "2": 40})
    t.loc[(t.subgroup_value == "2") & (t.outcome == "hrb"), "rate_comparison"] = None
    pub = suppress_effects(t)
    zero = _get(pub, "rtw", "sex", "1")
    assert zero.n_treated == 0 and pd.isna(zero.n_treated_flag)
    assert all(zero[f"{m}_flag"] == "no_units" for m in EFFECT_RATIOS)
    two = _get(pub, "hrb", "sex", "2")
    assert pd.isna(two.rate_comparison) and two.rate_comparison_flag == "no_units"
    assert two.rate_treated == 0.5


def _determined(a: np.ndarray, unknown: np.ndarray) -> list[int]:
    """Hidden cells whose value follows from the equations a @ x = 0 and the published cells: e_j
    in the row space of a restricted to the hidden cells (independent of disclosure's QR)."""
    cols = np.flatnonzero(unknown)
    sub = a[:, cols]
    rank = np.linalg.matrix_rank(sub) if sub.size else 0
    out = []
    for j, c in enumerate(cols):
        e = np.zeros((1, len(cols)))
        e[0, j] = 1
        if np.linalg.matrix_rank(np.vstack([sub, e])) == rank:
            out.append(int(c))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(SEX), st.sampled_from(AGE), st.booleans()), min_size=1, max_size=80),
       st.sampled_from([(("rtw", 12),), (("rtw", 3), ("hrb", 3))]))
def test_random_effects_tables_are_safe(entries, outcomes):
    """Random treated entries (sex, age group, matched or not) give a consistent table; after
    suppression no hidden count, and no hidden rate numerator, can be recovered by the margins."""
    e = pd.DataFrame(entries, columns=["sex", "age_group", "unmatched"])
    rows = []
    for outcome, k in outcomes:
        for dim, col in (("all", None), ("sex", "sex"), ("age_group", "age_group")):
            groups = [("all", e)] if col is None else list(e.groupby(col))
            for value, g in groups:
                r = _row("IPS", dim, value, outcome, k, len(g), n_unmatched=int(g.unmatched.sum()),
                         rate=0.25 + 0.5 * len(g) % 2)
                rows.append(r)
    t = pd.DataFrame(rows)
    pub = suppress_effects(t)
    assert (pub[EFFECT_COLUMNS[:5]].to_numpy() == t[EFFECT_COLUMNS[:5]].to_numpy()).all()
    for (outcome, k), block in pub.groupby(["outcome", "k"]):
        idx = block.index.to_numpy()
        total = idx[(block.subgroup_dim == "all").to_numpy()][0]
        eqs = []
        for dim in ("sex", "age_group"):
            parts = idx[(block.subgroup_dim == dim).to_numpy()]
            row = np.zeros(len(pub))
            row[total], row[parts] = 1, -1
            eqs.append(row)
        a = np.array(eqs)
        for m in ("n_treated", "n_unmatched", "rate_treated"):
            hidden = pub[m].isna().to_numpy() & np.isin(np.arange(len(pub)), idx)
            if m == "rate_treated":
                hidden &= (t["n_treated"] > 0).to_numpy()  # no_units rows: numerator known 0
            shown = pub[m].dropna()
            if m != "rate_treated":
                assert not shown.between(1, 4).any()
                assert ((pub[f"{m}_flag"] == "primary") == t[m].between(1, 4)).all()
            leaked = [c for c in _determined(a, hidden) if t.loc[c, m] != 0]
            assert not leaked, f"{outcome} {k} {m}: recoverable rows {leaked}"
        assert (pub.loc[idx, "rate_treated"].notna() <= (t.loc[idx, "n_treated"] >= 10)).all()
