"""The evaluation stage on hand-made candidates (no warehouse): sets, weights and estimates
computed by hand, and errors that name the interventions and the step."""

from __future__ import annotations

import dataclasses
import math

import duckdb
import pandas as pd
import pytest

from workhealth.evaluate import EvaluationError, evaluate
from workhealth.evaluate import stage


def candidates() -> pd.DataFrame:
    """Two treated entries (HA_COURSE) in two strata (sex 1, sex 2) and three pool persons;
    every covariate is constant, so the propensity score ties everyone and matching is by
    strata only: t1 gets {p1, p2} (weights 1/2), t2 gets {p3} (weight 1)."""
    people = [  # person, intervention, sex, rtw_3, event_type, event_month
        ("t1", "HA_COURSE", 1, 1.0, "sustained_rtw", 2),
        ("t2", "HA_COURSE", 2, 1.0, "censored", 5),
        ("p1", None, 1, 1.0, "sustained_rtw", 0),
        ("p2", None, 1, 0.0, "dead", 1),
        ("p3", None, 2, 0.0, "censored", 24),
    ]
    rows = []
    for person, intervention, sex, rtw_3, event_type, event_month in people:
        row = {c: 0.0 for c in stage.COVARIATES}
        row.update(family="course", index_month=pd.Timestamp("2019-01-01"), person_id=person,
                   intervention=intervention, care_level=3 if intervention else None, sex=sex, age_group="30-49",
                   state_prev="SYK", duration_band="3-5", diagnosis_group="MSK", rhf="HSO", era="HELSE_OG_ARBEID",
                   event_type=event_type, event_month=event_month)
        for k in stage.FOLLOW_UP_MONTHS:
            row[f"rtw_{k}"] = rtw_3 if k == 3 else None
            row[f"hrb_{k}"] = 1.0 - rtw_3 if k == 3 else None
        rows.append(row)
    return pd.DataFrame(rows)


def test_sets_weights_and_estimates_by_hand():
    out = stage._Output()
    summary, next_offset = stage.evaluate_intervention("HA_COURSE", stage.Family(candidates()), "HA_COURSE", None,
                                                       out, set_offset=10)
    assert (summary.n_treated, summary.n_matched, summary.n_unmatched, summary.n_sets_with_fewer) == (2, 2, 0, 2)
    assert next_offset == 12
    cohort = out.cohort[0]
    assert cohort[["set_id", "person_id", "role", "weight"]].values.tolist() == [
        [11, "t1", "treated", 1.0], [11, "p1", "comparison", 0.5], [11, "p2", "comparison", 0.5],
        [12, "t2", "treated", 1.0], [12, "p3", "comparison", 1.0]]
    effects = pd.DataFrame(out.effects).set_index(["subgroup_dim", "subgroup_value", "outcome", "k"])
    rtw = effects.loc[("all", "all", "rtw", 3)]
    # treated 1, 1; comparisons: set 1 (1 + 0) / 2, set 2: 0 -> 0.25; pool (1 + 0 + 0) / 3
    assert (rtw.n_treated, rtw.n_comparison, rtw.n_unmatched) == (2, 3, 0)
    assert rtw.rate_treated == 1.0 and rtw.rate_comparison == pytest.approx(0.25)
    assert rtw.risk_difference == pytest.approx(0.75)
    assert rtw.naive_difference == pytest.approx(1 - 1 / 3)
    assert rtw.e_value == pytest.approx(4 + math.sqrt(12))  # RR 4
    assert rtw.imprecise and not rtw.imbalanced and rtw.max_abs_smd == 0.0
    assert rtw.ci_low <= rtw.risk_difference <= rtw.ci_high
    assert effects.loc[("sex", "1", "rtw", 3)].rate_comparison == pytest.approx(0.5)
    assert effects.loc[("sex", "2", "rtw", 3)].rate_comparison == 0.0
    assert effects.loc[("all", "all", "hrb", 3)].risk_difference == pytest.approx(-0.75)
    # nobody is followed 24 months: counted 0, no rates
    late = effects.loc[("all", "all", "rtw", 24)]
    assert late.n_treated == 0 and pd.isna(late.rate_treated) and pd.isna(late.risk_difference)
    # sustained return, Aalen-Johansen: treated 2 at risk, t1 returns at 2 -> 0.5 by month 3;
    # comparisons weighted: p1 (1/2) returns at 0 of 2 at risk -> 0.25, p2 (1/2) dies at 1
    sustained = effects.loc[("all", "all", "sustained_rtw", 3)]
    assert sustained.rate_treated == pytest.approx(0.5) and sustained.rate_comparison == pytest.approx(0.25)
    cif = pd.DataFrame(out.cif)
    treated_curve = cif[(cif.subgroup_dim == "all") & (cif.role == "treated")].cif.tolist()
    assert treated_curve[:3] == pytest.approx([0, 0, 0.5]) and treated_curve[-1] == pytest.approx(0.5)
    # care_level subgroups for HA_COURSE only
    assert ("care_level", "3", "rtw", 3) in effects.index


def test_unmatched_treated_are_counted_not_kept():
    frame = candidates()
    frame.loc[frame.person_id == "p3", "sex"] = 1  # t2's stratum (sex 2) has no comparison left
    out = stage._Output()
    summary, _ = stage.evaluate_intervention("HA_COURSE", stage.Family(frame), "HA_COURSE", None, out)
    assert (summary.n_matched, summary.n_unmatched) == (1, 1)
    assert "t2" not in set(out.cohort[0].person_id)
    effects = pd.DataFrame(out.effects)
    assert effects.loc[(effects.subgroup_dim == "all"), "n_unmatched"].eq(1).all()
    assert effects.loc[(effects.subgroup_dim == "sex") & (effects.subgroup_value == "2"), "n_treated"].eq(0).all()


def test_a_missing_candidates_table_names_the_interventions_and_the_step(tmp_path):
    from workhealth.core import settings

    path = tmp_path / "wh.duckdb"
    duckdb.connect(str(path)).close()
    s = dataclasses.replace(settings.load(), warehouse=path)
    with pytest.raises(EvaluationError, match=r"^HA_COURSE, HA_COURSE_1, HA_COURSE_2, HA_COURSE_3: read: "):
        evaluate(s)


def test_an_intervention_without_treated_entries_gives_no_rows():
    out = stage._Output()
    summary, offset = stage.evaluate_intervention("HA_COURSE_1", stage.Family(candidates()), "HA_COURSE", 1, out,
                                                  set_offset=4)
    assert (summary.n_treated, summary.n_matched, offset) == (0, 0, 4)
    assert out.cohort == [] and out.effects == [] and out.balance == []


def test_a_failing_step_names_the_intervention_and_the_step():
    frame = candidates()
    frame.loc[0, "age"] = float("inf")  # the logistic regression refuses it
    with pytest.raises(EvaluationError, match=r"^HA_COURSE: propensity: ValueError"):
        stage.evaluate_intervention("HA_COURSE", stage.Family(frame), "HA_COURSE", None, stage._Output())


def _warehouse_with(tmp_path, frame: pd.DataFrame):
    from workhealth.core import settings

    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema intermediate; create schema marts")
    con.register("_c", frame)
    con.execute("create table intermediate.int_evaluation_candidates as select * from _c")
    con.close()
    return dataclasses.replace(settings.load(), warehouse=path)


def test_index_months_of_withheld_years_are_left_out_and_empty_tables_written(tmp_path):
    """The hand-made entries of 2019 and a copy of them in 2018: withholding 2019 (a critical
    period finding of the gate) leaves the 2018 sets only; withholding both writes the four
    tables empty, with their columns."""
    early = candidates().assign(index_month=pd.Timestamp("2018-06-01"),
                                person_id=lambda d: d.person_id + "-2018")
    s = _warehouse_with(tmp_path, pd.concat([candidates(), early], ignore_index=True))
    evaluate(s)
    con = duckdb.connect(str(s.warehouse), read_only=True)
    assert con.execute("select count(distinct year(index_month)) from marts.fct_evaluation_cohort").fetchone() == (2,)
    con.close()
    evaluate(s, withheld_years={"2019": [{"check": "x"}]})
    con = duckdb.connect(str(s.warehouse), read_only=True)
    years = con.execute("select distinct year(index_month) from marts.fct_evaluation_cohort").fetchall()
    assert years == [(2018,)]
    assert con.execute("select max(n_treated) from evaluation.effects where subgroup_dim = 'all'").fetchone() == (2,)
    con.close()
    result = evaluate(s, withheld_years={"2018": [], "2019": []})
    assert result.rows["marts.fct_evaluation_cohort"] == 0 and result.rows["evaluation.effects"] == 0
    con = duckdb.connect(str(s.warehouse), read_only=True)
    columns = [r[0] for r in con.execute("describe marts.fct_evaluation_cohort").fetchall()]
    assert columns[:6] == ["set_id", "intervention", "index_month", "person_id", "role", "weight"]
    assert columns[-1] == "propensity_score"
    con.close()


def test_the_logit_from_the_covariates_is_the_models_logit_of_the_design():
    """Family.logit sums the coefficients over the covariates without building the design
    matrix: it must follow propensity_design's column order exactly."""
    import numpy as np

    from workhealth.evaluate import methods

    rng = np.random.default_rng(5)
    frame = pd.concat([candidates()] * 40, ignore_index=True)
    for c in stage.COVARIATES:
        frame[c] = rng.integers(0, 3, len(frame)).astype(float)
    frame["mean_earnings_12m"] = rng.gamma(2.0, 20_000.0, len(frame))
    frame["state_prev"] = np.where(rng.random(len(frame)) < 0.5, "AAP", "SYK")
    family = stage.Family(frame)
    rows = np.arange(len(frame))
    treated = rng.random(len(frame)) < 0.3
    model = methods.propensity_fit(family.design(rows), treated)
    assert np.allclose(family.logit(model), model.logit(family.design(rows)), rtol=0, atol=1e-9)
