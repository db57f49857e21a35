"""The evaluation on a generated, ingested and dbt-built warehouse (conftest.py): the cohort's
invariants (docs/evaluation.md), balance after matching, errors naming the step,
and the recovery of the generator's planted effects.

One file, so one xdist worker builds the shared warehouse and runs every test on it; split into
two files, the other worker sat blocked on the build's lock for minutes. (Determinism, a second
full evaluation, runs on the smaller publishing warehouse: tests/publish/test_evaluation_determinism.py.)"""

from __future__ import annotations

import json
import shutil

import duckdb
import pandas as pd
import pytest

from workhealth.evaluate import EvaluationError, evaluate
from workhealth.evaluate.stage import COVARIATES, EXACT, INTERVENTIONS, MAX_ABS_SMD, MAX_COMPARISONS

pytestmark = pytest.mark.slow

FAMILY = "case when intervention like 'HA_COURSE%' then 'course' else 'nav_measure' end"


@pytest.fixture(scope="module")
def con(evaluated_warehouse):
    s, _ = evaluated_warehouse
    c = duckdb.connect(str(s.warehouse), read_only=True)
    yield c
    c.close()


def test_every_intervention_has_matched_sets(evaluated_warehouse, con):
    _, result = evaluated_warehouse
    summaries = {i["intervention"]: i for i in result["interventions"]}
    assert set(summaries) == set(INTERVENTIONS)
    for name in ("HA_COURSE", "NAV_MEASURE"):
        assert summaries[name]["n_matched"] >= 200, summaries[name]
    n_sets = con.sql("select count(distinct set_id) from marts.fct_evaluation_cohort").fetchall()[0][0]
    assert n_sets == sum(i["n_matched"] for i in summaries.values())
    assert result["rows"]["marts.fct_evaluation_cohort"] > n_sets


def test_every_comparison_member_was_eligible_at_its_index_month(con):
    """Checked against the marts, not against the candidates the stage read: alive, aged 18-66,
    SYK or AAP in m-1, no start of the family in m nor in the 12 months before, none of its
    courses or spells running in m-1, m-12 .. m within the delivered months."""
    bad = con.sql(f"""
        with members as (
            select *, {FAMILY} as family from marts.fct_evaluation_cohort where role = 'comparison'
        ),
        events as (
            select 'course' as family, person_id, date_trunc('month', course_start) as s,
                date_trunc('month', course_end) as e
            from marts.fct_treatment_courses
            union all
            select 'nav_measure', person_id, date_trunc('month', start_date), date_trunc('month', end_date)
            from marts.fct_measure_spells where work_oriented
        ),
        horizon as (select * from intermediate.int_data_horizons_computed)
        select members.set_id, members.intervention, members.index_month
        from members
        cross join horizon
        join marts.dim_person p using (person_id)
        join marts.fct_person_month now_ on now_.person_id = members.person_id and now_.month = members.index_month
        join marts.fct_person_month prev on prev.person_id = members.person_id
            and prev.month = members.index_month - interval 1 month
        where not (
            year(members.index_month) - p.birth_year between 18 and 66
            and now_.state <> 'DEAD'
            and prev.state in ('SYK', 'AAP')
            and members.index_month - interval 12 month >= horizon.first_month
            and members.index_month <= horizon.horizon_month
            and not exists (
                select 1 from events
                where events.family = members.family and events.person_id = members.person_id
                    and (events.s between members.index_month - interval 12 month and members.index_month
                         or (events.s <= members.index_month - interval 1 month
                             and coalesce(events.e, date '9999-12-01') >= members.index_month - interval 1 month))
            )
        )
    """).fetchall()
    assert bad == []
    # and every member has both person-months (the joins above dropped nobody)
    n = con.sql("select count(*) from marts.fct_evaluation_cohort where role = 'comparison'").fetchall()[0][0]
    joined = con.sql("""select count(*) from marts.fct_evaluation_cohort c
        join marts.fct_person_month a on a.person_id = c.person_id and a.month = c.index_month
        join marts.fct_person_month b on b.person_id = c.person_id and b.month = c.index_month - interval 1 month
        where c.role = 'comparison'""").fetchall()[0][0]
    assert n == joined > 0


def test_sets_share_strata_and_weights_sum_to_one(con):
    distinct = ", ".join(f"count(distinct {c}) filter (where {c} is not null) as {c}" for c in EXACT)
    rows = con.sql(f"""
        select set_id, count(distinct intervention) as interventions, count(distinct index_month) as months,
            {distinct},
            count(*) filter (where role = 'treated') as n_treated,
            count(*) filter (where role = 'comparison') as n_comparison,
            count(distinct person_id) as n_persons,
            sum(weight) filter (where role = 'comparison') as comparison_weight,
            min(weight) filter (where role = 'treated') as treated_weight
        from marts.fct_evaluation_cohort group by set_id
    """).df()
    assert len(rows) > 0
    assert (rows[["interventions", "months", *EXACT]] == 1).all().all()
    assert (rows["n_treated"] == 1).all() and rows["n_comparison"].between(1, MAX_COMPARISONS).all()
    assert (rows["n_persons"] == rows["n_comparison"] + 1).all(), "a person at most once per set"
    assert rows["comparison_weight"].sub(1).abs().max() < 1e-9
    assert (rows["treated_weight"] == 1).all()
    # with replacement across sets: some comparison person serves more than one set
    assert con.sql("""select max(n) from (select count(*) n from marts.fct_evaluation_cohort
        where role = 'comparison' group by intervention, index_month, person_id)""").fetchall()[0][0] > 1


def test_balance_after_matching_in_the_all_rows(con):
    """|SMD| <= 0.1 after matching for every covariate in the `all` rows of every intervention
    with at least 200 matched treated entries (below that the SMD's own sampling noise is near
    0.1), and matching reduced the largest imbalance."""
    n = dict(con.sql("""select intervention, count(*) from marts.fct_evaluation_cohort
        where role = 'treated' group by 1""").fetchall())
    balance = con.sql("select * from evaluation.balance where subgroup_dim = 'all'").df()
    assert set(balance["covariate"]) == set(COVARIATES)
    checked = 0
    for name, rows in balance.groupby("intervention"):
        if n.get(name, 0) < 200:
            continue
        checked += 1
        worst = rows.loc[rows["smd_after"].abs().idxmax()]
        assert abs(worst["smd_after"]) <= MAX_ABS_SMD, (name, worst.to_dict())
        assert rows["smd_after"].abs().max() < rows["smd_before"].abs().max(), name
    assert checked >= 2


def test_effects_rows_and_flags(con):
    effects = con.sql("select * from evaluation.effects").df()
    all_rows = effects[effects["subgroup_dim"] == "all"]
    assert len(all_rows) == len(INTERVENTIONS) * 3 * 4
    assert set(effects["outcome"]) == {"rtw", "hrb", "sustained_rtw"}
    assert set(effects.loc[effects["subgroup_dim"] == "care_level", "intervention"]) == {"HA_COURSE"}
    known = effects.dropna(subset=["risk_difference", "ci_low", "ci_high"])
    assert len(known) > 0
    assert (known["ci_low"] <= known["risk_difference"] + 1e-12).all()
    assert (known["risk_difference"] <= known["ci_high"] + 1e-12).all()
    assert ((known["rate_treated"] - known["rate_comparison"] - known["risk_difference"]).abs() < 1e-12).all()
    assert (effects["imprecise"] == (effects["n_treated"] < 100)).all()
    assert (effects["imbalanced"] == (effects["max_abs_smd"] > MAX_ABS_SMD)).all()
    # E-values are >= 1; missing only where a rate is 0 (risk ratio 0 or undefined)
    assert (known["e_value"].dropna() >= 1).all()
    no_e = known[known["e_value"].isna()]
    assert ((no_e["rate_treated"] == 0) | (no_e["rate_comparison"] == 0)).all()
    # the subgroups of a dimension partition the `all` row's treated entries
    for (name, outcome, k), rows in effects.groupby(["intervention", "outcome", "k"]):
        total = rows.loc[rows["subgroup_dim"] == "all", "n_treated"].item()
        for dim, sub in rows[rows["subgroup_dim"] != "all"].groupby("subgroup_dim"):
            assert sub["n_treated"].sum() == total, (name, outcome, k, dim)
    cif = con.sql("""select intervention, role, list(cif order by month) c from evaluation.cumulative_incidence
        where subgroup_dim = 'all' group by all""").fetchall()
    assert len(cif) == 2 * len(INTERVENTIONS)
    for _, _, curve in cif:
        assert len(curve) == 25 and all(b >= a - 1e-12 for a, b in zip(curve, curve[1:])) and curve[-1] <= 1


def test_a_failure_names_the_interventions_and_the_step(evaluated_warehouse, tmp_path):
    import dataclasses

    s, _ = evaluated_warehouse
    copy = tmp_path / "wh.duckdb"
    shutil.copy(s.warehouse, copy)
    with duckdb.connect(str(copy)) as c:
        c.execute("alter table intermediate.int_evaluation_candidates drop column mean_earnings_12m")
    with pytest.raises(EvaluationError,
                       match=r"^HA_COURSE, HA_COURSE_1, HA_COURSE_2, HA_COURSE_3: read: BinderException: .*mean_earnings_12m"):
        evaluate(dataclasses.replace(s, warehouse=copy))
    with duckdb.connect(str(copy), read_only=True) as c:  # nothing was replaced
        assert c.sql("select count(*) from evaluation.effects").fetchall()[0][0] > 0


# --- recovery of the planted truth ------------------------------------------------------------
# docs/evaluation.md, "Checking it on synthetic data"; docs/synthetic_data.md, "Planted effects
# and the truth file": the 95 % intervals of ``evaluation.effects`` cover the true effect on the
# treated in at least 90 % of the rows with at least 200 treated entries, and where the planted
# selection is strong the naive difference lies outside the interval.

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
