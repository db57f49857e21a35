"""Hand-computed cases for the evaluation's numerical methods (workhealth.evaluate.methods)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workhealth.evaluate import methods
from workhealth.evaluate.methods import COMPETING, CENSORED, SUSTAINED


def match(t_logit, p_logit, p_key=None, t_stratum=None, p_stratum=None, caliper=1.0, max_k=5):
    t_logit, p_logit = np.asarray(t_logit, float), np.asarray(p_logit, float)
    p_key = np.arange(len(p_logit)) if p_key is None else np.asarray(p_key)
    t_stratum = np.zeros(len(t_logit), int) if t_stratum is None else np.asarray(t_stratum)
    p_stratum = np.zeros(len(p_logit), int) if p_stratum is None else np.asarray(p_stratum)
    return methods.match_nearest(t_stratum, t_logit, p_stratum, p_logit, p_key, caliper, max_k)


def sets_of(m) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for t, c in zip(m.treated.tolist(), m.comparison.tolist(), strict=True):
        out.setdefault(t, []).append(c)
    return out


# --- matching -------------------------------------------------------------------------------


def test_nearest_first_and_ties_go_to_the_smaller_key():
    # treated at 0.0; pool at -0.1 (key 4) and +0.1 (key 3) tie at distance 0.1: key 3 first
    m = match([0.0], [-0.1, 0.1, 0.0, 0.3, 5.0], p_key=[4, 3, 2, 1, 0], caliper=0.25)
    assert sets_of(m) == {0: [2, 1, 0]}  # 0.3 and 5.0 lie outside the caliper
    assert m.rank.tolist() == [0, 1, 2]


def test_tie_break_by_key_not_by_row_order_nor_side():
    # six pool rows at the same logit as the treated one and two at equal distance either side:
    # the five with the smallest keys among the distance-0 rows, whatever their order
    p_logit = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.4, 0.6]
    p_key = [60, 10, 50, 20, 40, 30, 1, 2]
    m = match([0.5], p_logit, p_key=p_key)
    assert sets_of(m) == {0: [1, 3, 5, 4, 2]}
    # below-side ties (values exact in binary): treated at 1.0, pool at 0.5 (keys 5, 3) and
    # 1.5 (key 4); k = 2
    m = match([1.0], [0.5, 0.5, 1.5], p_key=[5, 3, 4], max_k=2)
    assert sets_of(m) == {0: [1, 2]}


def test_caliper_is_inclusive_and_unmatched_are_left_out():
    # distances 0.25 (inside, inclusive), 0.2500001 (outside); second treated has nobody in reach
    m = match([0.0, 10.0], [0.25, -0.2500001], caliper=0.25)
    assert sets_of(m) == {0: [0]}
    assert m.set_sizes(2).tolist() == [1, 0]


def test_sets_with_fewer_than_five_comparisons_get_weights_one_over_k():
    m = match([0.0, 3.0], [0.1, -0.1, 3.0, 7.0], caliper=0.5)
    assert sets_of(m) == {0: [0, 1], 1: [2]}
    assert m.weights(2).tolist() == [0.5, 0.5, 1.0]
    assert m.set_sizes(2).tolist() == [2, 1]


def test_at_most_five_with_replacement_across_sets_once_per_set():
    p = np.linspace(-1, 1, 21)
    m = match([0.0, 0.05], p, caliper=2.0)
    s = sets_of(m)
    assert [len(v) for v in s.values()] == [5, 5]
    assert all(len(set(v)) == len(v) for v in s.values())
    assert set(s[0]) & set(s[1])  # the same comparison person serves both sets


def test_exact_strata_are_never_crossed():
    # the pool row in stratum 1 is nearer, but the treated row is in stratum 0
    m = match([0.0], [0.0, 0.2], t_stratum=[0], p_stratum=[1, 0])
    assert sets_of(m) == {0: [1]}
    m = match([0.0], [0.0], t_stratum=[0], p_stratum=[1])
    assert len(m.treated) == 0


def test_matching_agrees_with_brute_force():
    rng = np.random.default_rng(3)
    nt, npool = 300, 900
    t_s, p_s = rng.integers(0, 7, nt), rng.integers(0, 7, npool)
    t_l = np.round(rng.normal(size=nt), 1)  # rounded: many ties
    p_l = np.round(rng.normal(size=npool), 1)
    key = rng.permutation(npool)
    m = match(t_l, p_l, p_key=key, t_stratum=t_s, p_stratum=p_s, caliper=0.3)
    got = sets_of(m)
    for i in range(nt):
        d = np.abs(p_l - t_l[i])
        ok = np.flatnonzero((p_s == t_s[i]) & (d <= 0.3))
        best = ok[np.lexsort((key[ok], d[ok]))][:5].tolist()
        assert got.get(i, []) == best, i


# --- Aalen-Johansen ---------------------------------------------------------------------------


def test_aalen_johansen_by_hand():
    # A returns at 0, B dies at 1, C censored at 1, D returns at 2, E censored at 3.
    # month 0: 5 at risk, 1 return      -> CIF 1/5 = 0.2, S = 0.8
    # month 1: 4 at risk, 1 competing   -> CIF 0.2, S = 0.8 * 3/4 = 0.6
    # month 2: 2 at risk (D, E), 1 return -> CIF 0.2 + 0.6 * 1/2 = 0.5, S = 0.3
    # month 3: 1 at risk, nothing        -> CIF 0.5
    months = [0, 1, 1, 2, 3]
    codes = [SUSTAINED, COMPETING, CENSORED, SUSTAINED, CENSORED]
    cif = methods.cumulative_incidence(months, codes, np.ones(5), 4)
    assert cif == pytest.approx([0.2, 0.2, 0.5, 0.5])


def test_aalen_johansen_weights_are_replicated_rows_and_unfollowed_rows_are_nowhere():
    months, codes = [0, 2, 1, np.nan], [SUSTAINED, SUSTAINED, CENSORED, SUSTAINED]
    weighted = methods.cumulative_incidence(months, codes, np.array([2.0, 1, 1, 5]), 3)
    rows = methods.cumulative_incidence([0, 0, 2, 1], [SUSTAINED] * 3 + [CENSORED], np.ones(4), 3)
    assert weighted == pytest.approx(rows)
    # by hand: month 0: 4 at risk, 2 returns -> 0.5; month 1: 2 at risk; month 2: 1 at risk, 1 return -> 1.0
    assert weighted == pytest.approx([0.5, 0.5, 1.0])


def test_aalen_johansen_without_censoring_is_the_empirical_share():
    rng = np.random.default_rng(0)
    months = rng.integers(0, 25, 200)
    codes = rng.choice([SUSTAINED, COMPETING], 200)
    cif = methods.cumulative_incidence(months, codes, np.ones(200), 25)
    for k in (3, 6, 12, 24):
        assert cif[k] == pytest.approx(np.mean((months <= k) & (codes == SUSTAINED)))


# --- E-value, bootstrap, balance -------------------------------------------------------------


def test_e_value():
    assert methods.e_value(0.4, 0.2) == pytest.approx(2 + math.sqrt(2))  # RR 2
    assert methods.e_value(0.2, 0.4) == pytest.approx(2 + math.sqrt(2))  # RR 1/2: 1/RR
    assert methods.e_value(0.3, 0.3) == 1.0
    assert math.isnan(methods.e_value(0.3, 0.0))


def test_bootstrap_is_seeded_and_draws_whole_sets():
    a = methods.bootstrap_counts(50, 200, seed=7)
    assert a.shape == (200, 50)
    assert (a.sum(axis=1) == 50).all()
    assert np.array_equal(a, methods.bootstrap_counts(50, 200, seed=7))
    assert not np.array_equal(a, methods.bootstrap_counts(50, 200, seed=8))


def test_smd():
    x_t = np.array([[1.0], [3.0]])  # mean 2, var 1
    x_c = np.array([[0.0], [2.0], [4.0], [6.0]])
    mean_t, var_t = methods.weighted_moments(x_t, np.ones(2))
    mean_c, var_c = methods.weighted_moments(x_c, np.array([0.5, 0.5, 0.0, 0.0]))  # mean 1, var 1
    assert methods.smd(mean_t, mean_c, np.sqrt((var_t + var_c) / 2)) == pytest.approx([1.0])
    assert methods.smd([1.0], [1.0], [0.0]).tolist() == [0.0]


def test_propensity_orders_by_the_covariate():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 2))
    treated = rng.random(2000) < 1 / (1 + np.exp(-(x[:, 0] - 2)))
    logit = methods.propensity_logit(x, treated)
    assert np.corrcoef(logit, x[:, 0])[0, 1] > 0.99
    assert np.array_equal(logit, methods.propensity_logit(x, treated))


def test_pool_sample_keeps_every_treated_row_and_weighs_the_sampled_pool():
    treated = np.zeros(1000, bool)
    treated[::100] = True  # 10 treated
    pool = ~treated
    pool[5] = False  # neither: never fitted
    rows, weights = methods.pool_sample(treated, pool, max_pool=2000, seed=1)
    assert rows.tolist() == np.flatnonzero(treated | pool).tolist() and (weights == 1).all()
    rows, weights = methods.pool_sample(treated, pool, max_pool=100, seed=1)
    assert treated[rows].sum() == 10 and (~treated[rows]).sum() == 100 and not (rows == 5).any()
    assert (np.diff(rows) > 0).all()
    assert weights[treated[rows]].tolist() == [1.0] * 10
    assert np.allclose(weights[~treated[rows]], 989 / 100)  # the sample stands for the 989 pool rows
    again, _ = methods.pool_sample(treated, pool, max_pool=100, seed=1)
    assert np.array_equal(rows, again)


def test_a_fit_on_a_weighted_pool_sample_ranks_like_the_full_fit():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200_000, 3))
    treated = rng.random(len(x)) < 1 / (1 + np.exp(-(0.8 * x[:, 0] - 0.5 * x[:, 1] - 5)))
    full = methods.propensity_fit(x, treated)
    rows, weights = methods.pool_sample(treated, ~treated, max_pool=20_000, seed=3)
    sampled = methods.propensity_fit(x[rows], treated[rows], weights)
    # the same slopes up to sampling error, so the same ordering of the scores
    assert np.corrcoef(full.logit(x), sampled.logit(x))[0, 1] > 0.995
    # the weights restore the level too (without them the intercept is off by log(n_pool / 20,000))
    assert abs(full.logit(x).mean() - sampled.logit(x).mean()) < 0.2
    assert np.array_equal(full.logit(x), methods.propensity_logit(x, treated))
