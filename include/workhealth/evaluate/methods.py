"""The evaluation's numerical methods (docs/evaluation.md): propensity scores, matching,
weights, rates, the bootstrap, the discrete-time Aalen-Johansen estimator, balance and the
E-value. Pure functions on numpy arrays, vectorised (no Python loop over rows), so they are
tested on hand-computed cases without a warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Event codes of the sustained-return process (the candidates' event_type).
CENSORED, SUSTAINED, COMPETING = 0, 1, 2


# --- propensity ----------------------------------------------------------------------------


def propensity_logit(x: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """The logit of P(treated | x) from a logistic regression of ``treated`` on the columns of
    ``x`` (scikit-learn, Newton-Cholesky: few covariates, many rows). The columns are
    standardised first (constant columns dropped) and the L2 penalty is negligible (C = 1e4):
    it keeps the fit finite when a covariate separates the groups. Deterministic."""
    return propensity_fit(x, treated).logit(x)


@dataclass(frozen=True)
class Propensity:
    """A fitted propensity model: its standardisation (the columns kept, their means and SDs
    on the fitting rows) and the logistic regression (None: no column varies, the logit is
    ``constant``)."""

    keep: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    model: object
    constant: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        """The logit of P(treated | x) for the rows of ``x`` (the fit's columns)."""
        if self.model is None:
            return np.full(len(x), self.constant)
        x = np.asarray(x, dtype=float)
        return self.model.decision_function((x[:, self.keep] - self.mean) / self.sd)

    def linear(self) -> tuple[np.ndarray, float]:
        """(w, c) with logit = x @ w + c on the columns as given (not standardised): the same
        score without building standardised copies of x (to rounding)."""
        w = np.zeros(len(self.keep))
        if self.model is None:
            return w, self.constant
        coef = self.model.coef_.ravel() / self.sd
        w[self.keep] = coef
        return w, float(self.model.intercept_[0] - self.mean @ coef)


def propensity_fit(x: np.ndarray, treated: np.ndarray, sample_weight: np.ndarray | None = None) -> Propensity:
    """The model of :func:`propensity_logit`, fitted on the rows of ``x`` with ``sample_weight``
    (default 1: a row weighted w counts as w rows, for a sampled comparison pool)."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(x, dtype=float)
    y = np.asarray(treated, dtype=bool)
    if y.all() or not y.any():
        raise ValueError("needs both treated entries and comparison persons")
    if not np.isfinite(x).all():
        raise ValueError("a covariate is not finite")
    sd = x.std(axis=0)
    keep = sd > 0
    mean = x[:, keep].mean(axis=0)
    if not keep.any():
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        share = float(w[y].sum() / w.sum())
        return Propensity(keep, mean, sd[keep], None, float(np.log(share / (1 - share))))
    z = (x[:, keep] - mean) / sd[keep]
    model = LogisticRegression(C=1e4, solver="newton-cholesky", max_iter=100, tol=1e-6)
    model.fit(z, y, sample_weight=sample_weight)
    return Propensity(keep, mean, sd[keep], model, float("nan"))


def pool_sample(treated: np.ndarray, pool: np.ndarray, max_pool: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows a propensity model is fitted on, and their weights: every treated row and every
    pool row (weight 1) while the pool has at most ``max_pool`` rows; above, every treated row
    and a simple random sample of ``max_pool`` pool rows (seeded), weighted n_pool / max_pool so
    the sample stands for the whole pool (case-control sampling: the slopes, and so the ranking
    of the scores within a stratum, are those of the full fit up to sampling error). Rows in
    increasing order."""
    t_rows, p_rows = np.flatnonzero(treated), np.flatnonzero(pool & ~treated)
    if len(p_rows) <= max_pool:
        rows = np.flatnonzero(treated | pool)
        return rows, np.ones(len(rows))
    chosen = np.sort(np.random.default_rng(seed).choice(p_rows, size=max_pool, replace=False))
    rows = np.union1d(t_rows, chosen)
    weights = np.where(treated[rows], 1.0, len(p_rows) / max_pool)
    return rows, weights


# --- matching ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Matches:
    """Matched pairs: ``treated[i]`` (a treated row) is matched to ``comparison[i]`` (a pool
    row); pairs are ordered by treated row, then by closeness (rank 0 = nearest)."""

    treated: np.ndarray
    comparison: np.ndarray
    rank: np.ndarray

    def set_sizes(self, n_treated: int) -> np.ndarray:
        """Comparisons per treated row (0 = unmatched)."""
        return np.bincount(self.treated, minlength=n_treated)

    def weights(self, n_treated: int) -> np.ndarray:
        """The weight of each pair's comparison member: 1 / k, k the size of its set."""
        return 1.0 / self.set_sizes(n_treated)[self.treated]


def match_nearest(
    t_stratum: np.ndarray,
    t_logit: np.ndarray,
    p_stratum: np.ndarray,
    p_logit: np.ndarray,
    p_key: np.ndarray,
    caliper: float,
    max_k: int,
) -> Matches:
    """Nearest-neighbour matching on the logit within exact strata, with replacement across
    treated rows (a pool row may serve many sets) and at most once per set.

    Each treated row gets the up to ``max_k`` pool rows of its stratum with the smallest
    ``|logit difference|`` that is at most ``caliper``. Ties in the distance go to the pool row
    with the smaller ``p_key`` (the caller passes a rank of person_id): deterministic and
    independent of the row order. Vectorised: the pool is sorted once by (stratum, logit,
    key) and once by (stratum, -logit, key); a treated row's nearest rows above its logit are
    the next ``max_k`` of the first order from its insertion point (equal logits count as
    above), those below the next ``max_k`` of the second; the best ``max_k`` of those 2 *
    ``max_k`` are the answer.
    """
    t_stratum = np.asarray(t_stratum, dtype=np.int64)
    p_stratum = np.asarray(p_stratum, dtype=np.int64)
    t_logit = np.asarray(t_logit, dtype=float)
    p_logit = np.asarray(p_logit, dtype=float)
    p_key = np.asarray(p_key, dtype=np.int64)
    nt, npool = len(t_logit), len(p_logit)
    empty = np.zeros(0, dtype=np.int64)
    if nt == 0 or npool == 0 or max_k <= 0:
        return Matches(empty, empty, empty)
    # dense ranks of the logits (treated and pool together) turn (stratum, logit) into one
    # sortable integer: stratum * (R + 1) + rank
    _, ranks = np.unique(np.concatenate([t_logit, p_logit]), return_inverse=True)
    ranks = ranks.astype(np.int64)
    big = int(ranks.max()) + 1
    t_rank, p_rank = ranks[:nt], ranks[nt:]

    asc = np.lexsort((p_key, p_rank, p_stratum))
    asc_key = p_stratum[asc] * big + p_rank[asc]
    desc = np.lexsort((p_key, -p_rank, p_stratum))
    desc_key = p_stratum[desc] * big + (big - 1 - p_rank[desc])
    stratum_end = np.searchsorted(p_stratum[asc], t_stratum, side="right")

    # above (or equal): first pool row of the stratum with rank >= the treated rank;
    # below: first pool row of the stratum with rank < it, in descending order
    above = np.searchsorted(asc_key, t_stratum * big + t_rank, side="left")
    below = np.searchsorted(desc_key, t_stratum * big + (big - 1 - t_rank), side="right")
    steps = np.arange(max_k)
    pos = np.concatenate([above[:, None] + steps, below[:, None] + steps], axis=1)
    valid = pos < stratum_end[:, None]
    safe = np.minimum(pos, npool - 1)
    cand = np.where(np.arange(2 * max_k) < max_k, asc[safe], desc[safe])
    dist = np.abs(p_logit[cand] - t_logit[:, None])
    ok = valid & (dist <= caliper)
    dist = np.where(ok, dist, np.inf)
    best = np.lexsort((p_key[cand], dist), axis=-1)[:, :max_k]
    chosen = np.take_along_axis(cand, best, axis=1)
    chosen_ok = np.take_along_axis(ok, best, axis=1)
    t_idx = np.broadcast_to(np.arange(nt)[:, None], chosen.shape)
    rank = np.broadcast_to(np.arange(max_k)[None, :], chosen.shape)
    return Matches(t_idx[chosen_ok].astype(np.int64), chosen[chosen_ok].astype(np.int64),
                   rank[chosen_ok].astype(np.int64))


# --- rates, Aalen-Johansen, bootstrap --------------------------------------------------------


def weighted_mean(y: np.ndarray, w: np.ndarray) -> float:
    """sum(w * y) / sum(w) over the rows where y is known (nan when none)."""
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    known = ~np.isnan(y)
    total = w[known].sum()
    return float((w[known] * y[known]).sum() / total) if total > 0 else float("nan")


def risk_table(event_month: np.ndarray, event_code: np.ndarray, weights: np.ndarray,
               n_times: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row and month 0 .. n_times - 1: the weight at risk, of sustained returns and of
    competing events (three arrays rows x n_times). A row is at risk at month j when its event
    or censoring month is >= j (censored rows count at their last followed month); rows
    without an event month (never followed) are nowhere."""
    em = np.asarray(event_month, dtype=float)
    code = np.asarray(event_code)
    w = np.asarray(weights, dtype=float)
    followed = ~np.isnan(em)
    em_i = np.where(followed, em, -1).astype(np.int64)
    j = np.arange(n_times)[None, :]
    at_risk = (j <= em_i[:, None]) * w[:, None]
    at_event = (j == em_i[:, None]) * w[:, None]
    return at_risk, at_event * (code == SUSTAINED)[:, None], at_event * (code == COMPETING)[:, None]


def aalen_johansen(at_risk: np.ndarray, sustained: np.ndarray, competing: np.ndarray) -> np.ndarray:
    """Cumulative incidence of sustained return by month (last axis), from the weighted
    numbers at risk and of events per month (any leading axes, e.g. bootstrap replicates):

        S(j) = prod_{i <= j} (1 - (d1_i + d2_i) / n_i),  CIF(j) = sum_{i <= j} S(i - 1) d1_i / n_i

    with S(-1) = 1 and hazards 0 where nobody is at risk (the curve then stays flat)."""
    n = np.asarray(at_risk, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        h1 = np.where(n > 0, sustained / n, 0.0)
        h2 = np.where(n > 0, competing / n, 0.0)
    survival = np.cumprod(1.0 - h1 - h2, axis=-1)
    before = np.concatenate([np.ones_like(survival[..., :1]), survival[..., :-1]], axis=-1)
    return np.cumsum(before * h1, axis=-1)


def cumulative_incidence(event_month: np.ndarray, event_code: np.ndarray, weights: np.ndarray,
                         n_times: int) -> np.ndarray:
    """The weighted Aalen-Johansen cumulative incidence of sustained return, months 0 .. n_times - 1."""
    return aalen_johansen(*(a.sum(axis=0) for a in risk_table(event_month, event_code, weights, n_times)))


def bootstrap_counts(n_sets: int, replicates: int, seed: int) -> np.ndarray:
    """How often each matched set is drawn in each replicate (replicates x n_sets): a
    bootstrap over sets, seeded (numpy's PCG64), so the same data give the same numbers."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_sets, size=(replicates, n_sets))
    offsets = (np.arange(replicates, dtype=np.int64) * n_sets)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=replicates * n_sets).reshape(replicates, n_sets)


def percentile_interval(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The 2.5 % and 97.5 % percentiles over the replicates (nan replicates ignored)."""
    import warnings

    with warnings.catch_warnings():  # all-nan columns (nobody followed) give nan, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nanpercentile(values, 2.5, axis=axis)
        high = np.nanpercentile(values, 97.5, axis=axis)
    return low, high


# --- E-value and balance ------------------------------------------------------------------


def e_value(rate_treated: float, rate_comparison: float) -> float:
    """E-value of the risk ratio RR = rate_treated / rate_comparison (VanderWeele and Ding,
    Ann Intern Med 2017): E = RR + sqrt(RR * (RR - 1)) for RR >= 1; for RR < 1 the same with
    1 / RR. nan when a rate is missing or the comparison rate is 0, or both are 0."""
    if not (rate_treated >= 0 and rate_comparison > 0):
        return float("nan")
    rr = rate_treated / rate_comparison
    if rr == 0:
        return float("inf")
    rr = 1 / rr if rr < 1 else rr
    return float(rr + np.sqrt(rr * (rr - 1)))


def weighted_moments(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and variance of each column of x (rows x covariates)."""
    w = np.asarray(w, dtype=float)
    total = w.sum()
    if total <= 0:
        nan = np.full(x.shape[1], np.nan)
        return nan, nan
    mean = (w[:, None] * x).sum(axis=0) / total
    var = (w[:, None] * (x - mean) ** 2).sum(axis=0) / total
    return mean, var


def smd(mean_t: np.ndarray, mean_c: np.ndarray, sd_pooled: np.ndarray) -> np.ndarray:
    """(mean_t - mean_c) / sd_pooled per covariate; 0 when both means are equal and the
    covariate does not vary (sd 0), infinite when it does not vary but the means differ."""
    diff = np.asarray(mean_t, dtype=float) - np.asarray(mean_c, dtype=float)
    sd = np.asarray(sd_pooled, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(sd > 0, diff / np.where(sd > 0, sd, 1.0), np.where(diff == 0, 0.0, np.inf * np.sign(diff)))
    return out
