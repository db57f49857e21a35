"""The evaluation stage (docs/evaluation.md): read the risk sets dbt built
(``intermediate.int_evaluation_candidates``), then per intervention fit the propensity score,
match, weigh and estimate, and write ``marts.fct_evaluation_cohort`` and the pre-suppression
``evaluation.effects``, ``evaluation.balance`` and ``evaluation.cumulative_incidence``.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workhealth.core import warehouse
from workhealth.core.definitions import dbt_vars
from workhealth.core.settings import Settings
from workhealth.evaluate import methods

_V = dbt_vars()
FOLLOW_UP_MONTHS: tuple[int, ...] = tuple(int(k) for k in _V["evaluation_follow_up_months"])
MAX_MONTH: int = max(FOLLOW_UP_MONTHS)
MAX_COMPARISONS: int = int(_V["evaluation_max_comparisons"])
CALIPER_SD: float = float(_V["evaluation_caliper_sd"])
REPLICATES: int = int(_V["evaluation_bootstrap_replicates"])
SEED: int = int(_V["evaluation_seed"])
MAX_ABS_SMD: float = float(_V["evaluation_max_abs_smd"])
MIN_TREATED_PRECISE: int = int(_V["evaluation_min_treated_precise"])
PROPENSITY_MAX_POOL: int = int(_V["evaluation_propensity_max_pool"])

#: intervention -> (family, value of the candidates' intervention column, care level or None)
INTERVENTIONS: dict[str, tuple[str, str, int | None]] = {
    "HA_COURSE": ("course", "HA_COURSE", None),
    "HA_COURSE_1": ("course", "HA_COURSE", 1),
    "HA_COURSE_2": ("course", "HA_COURSE", 2),
    "HA_COURSE_3": ("course", "HA_COURSE", 3),
    "IPS": ("nav_measure", "IPS", None),
    "NAV_MEASURE": ("nav_measure", "NAV_MEASURE", None),
}
#: The exact-matching columns (with the index month).
EXACT = ("sex", "age_group", "state_prev", "duration_band", "diagnosis_group", "rhf")
#: The covariates of the propensity score and the balance; a missing value counts 0 beside its flag.
COVARIATES = ("age", "months_work_12m", "months_syk_12m", "months_aap_12m", "months_none_12m",
              "months_hrb_24_13m", "months_hrb_24_13m_missing", "n_sick_leave_cases_24m", "employed_prev",
              "mean_earnings_12m", "course_ended_24m", "gp_contact_3m", "gp_contact_3m_missing")
#: The subgroup dimensions besides `all` (care_level for HA_COURSE only).
SUBGROUP_DIMS = ("diagnosis_group", "age_group", "sex", "duration_band", "state_prev", "era", "rhf")
OUTCOMES = ("rtw", "hrb")
_BINARY = tuple(f"{o}_{k}" for o in OUTCOMES for k in FOLLOW_UP_MONTHS)
#: The candidates' columns the stage reads (the cohort's, and the intervention).
_READ = ("index_month", "person_id", *EXACT, "era", "care_level", "intervention", *COVARIATES, *_BINARY,
         "event_type", "event_month")
_EVENT_CODES = {"censored": methods.CENSORED, "sustained_rtw": methods.SUSTAINED,
                "dead": methods.COMPETING, "ufor": methods.COMPETING}


class EvaluationError(RuntimeError):
    """A failed evaluation step; the message starts with the intervention and the step."""


@dataclass
class InterventionSummary:
    intervention: str
    n_treated: int
    n_matched: int
    n_unmatched: int
    n_sets_with_fewer: int  # matched sets with fewer than MAX_COMPARISONS comparisons
    n_pool: int
    caliper: float
    seconds: float


@dataclass
class EvaluationResult:
    """What ``evaluate`` wrote: rows per table and a summary per intervention."""

    rows: dict[str, int] = field(default_factory=dict)
    interventions: list[InterventionSummary] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class _Output:
    cohort: list[pd.DataFrame] = field(default_factory=list)
    effects: list[dict] = field(default_factory=list)
    balance: list[dict] = field(default_factory=list)
    cif: list[dict] = field(default_factory=list)


def evaluate(s: Settings, withheld_years=()) -> EvaluationResult:
    """Run the evaluation on the warehouse of ``s`` after the dbt build (it reads
    ``intermediate.int_evaluation_candidates``) and replace its four tables:
    ``marts.fct_evaluation_cohort`` (one row per member of a matched set, internal),
    ``evaluation.effects`` (per intervention, subgroup, outcome and k, before disclosure
    control), ``evaluation.balance`` (SMD per covariate before and after matching) and
    ``evaluation.cumulative_incidence`` (sustained return, months 0..24, per role).

    ``withheld_years``: years a critical period finding of the quality gate withholds
    (``QualityResult.withheld``); their index months are left out, as the published tables
    leave their rows empty.

    Deterministic: the same candidates give the same numbers (the bootstrap is seeded with
    ``evaluation_seed`` and the intervention's name). Raises ``EvaluationError`` naming the
    intervention and the step on failure, and ``WarehouseBusy`` when another process holds
    the warehouse; nothing is written unless every intervention succeeds.
    """
    started = time.perf_counter()
    out, result = _Output(), EvaluationResult()
    con = warehouse.connect(s)
    try:
        set_offset = 0
        for family_name in ("course", "nav_measure"):
            names = [n for n, (f, _, _) in INTERVENTIONS.items() if f == family_name]
            try:
                frame = con.execute(
                    f"select {', '.join(_READ)} from intermediate.int_evaluation_candidates where family = ? "
                    "and year(index_month) not in (select unnest(?::integer[])) "
                    "order by index_month, person_id", [family_name, sorted(int(y) for y in withheld_years)]).df()
                family = Family(frame)
            except Exception as exc:  # noqa: BLE001 - named and re-raised
                raise EvaluationError(f"{', '.join(names)}: read: {type(exc).__name__}: {exc}") from exc
            for name in names:
                _, value, care_level = INTERVENTIONS[name]
                summary, set_offset = evaluate_intervention(name, family, value, care_level, out, set_offset)
                result.interventions.append(summary)
            del frame, family
        try:
            result.rows = _write(con, out)
        except Exception as exc:  # noqa: BLE001 - named and re-raised
            raise EvaluationError(f"{', '.join(INTERVENTIONS)}: write: {type(exc).__name__}: {exc}") from exc
    finally:
        con.close()
    result.seconds = time.perf_counter() - started
    return result


def covariate_matrix(rows: pd.DataFrame) -> np.ndarray:
    """The covariates as floats (rows x COVARIATES); a missing value is 0 (its flag says so)."""
    return np.column_stack([rows[c].astype("float64").fillna(0.0).to_numpy() for c in COVARIATES])


def _log_earnings(x: np.ndarray) -> np.ndarray:
    """log(1 + mean monthly earnings) of the rows of the covariates ``x``."""
    return np.log1p(np.maximum(x[:, COVARIATES.index("mean_earnings_12m")], 0.0))


def propensity_design(x: np.ndarray, aap: np.ndarray) -> np.ndarray:
    """The propensity model's columns for rows with covariates ``x`` and ``aap`` (1.0 when the
    state in m-1 is AAP): the covariates and log(1 + earnings), then all of them again times
    AAP in m-1 (with its intercept) and times employed in m-1. Who is referred from sick leave
    and who from AAP are chosen by different routes (a course ended recently matters for a
    measure from sick leave, little on AAP); one shared slope per covariate leaves the score
    wrong within the exact strata, and matching on it then leaves the covariate unbalanced
    (|SMD| 0.13 on course_ended_24m for IPS without this). Earnings are skewed and mean
    something else without a job: without the log and the employment terms NAV_MEASURE kept
    |SMD| 0.11 on earnings after matching."""
    aap = np.asarray(aap, dtype=float)[:, None]
    base = np.hstack([x, _log_earnings(x)[:, None]])
    emp = x[:, [COVARIATES.index("employed_prev")]]
    with np.errstate(invalid="ignore"):  # inf * 0: methods.propensity_fit refuses what is not finite
        return np.hstack([base, aap, base * aap, base * emp])


class Family:
    """One family's candidates (sorted by index_month, person_id), prepared once for all its
    interventions: covariates, strata, person keys, outcomes, subgroup codes, and the
    comparison pool's sums per subgroup (the pool is the same for every intervention of the
    family), so nothing is recomputed or copied per subgroup over the whole pool."""

    def __init__(self, frame: pd.DataFrame):
        self.rows = frame
        n = len(frame)
        self.pool = frame["intervention"].isna().to_numpy(bool)
        self.x = covariate_matrix(frame)
        self.aap = (frame["state_prev"] == "AAP").fillna(False).to_numpy(float)
        self.strata = frame.groupby(["index_month", *EXACT], dropna=False, sort=True).ngroup().to_numpy(np.int64)
        # the tie-break key of matching: the rank of person_id
        self.person_key = pd.factorize(frame["person_id"], sort=True)[0].astype(np.int64)
        self.y = frame[list(_BINARY)].astype("float64").to_numpy()  # nan: not followed
        self.event_month = frame["event_month"].astype("float64").to_numpy()
        self.event_code = frame["event_type"].map(_EVENT_CODES).to_numpy(np.int64)
        em = self.event_month
        self.followed_at = np.column_stack([(~np.isnan(em)) & ((self.event_code != methods.CENSORED) | (em >= k))
                                            for k in FOLLOW_UP_MONTHS])
        self.codes: dict[str, tuple[np.ndarray, list[str]]] = {"all": (np.zeros(n, np.int64), ["all"])}
        for dim in (*SUBGROUP_DIMS, "care_level"):
            column = frame[dim].astype("Int64") if dim in ("sex", "care_level") else frame[dim]  # 3, not 3.0
            values = column.astype("string").fillna("UNKNOWN" if dim != "care_level" else "NONE")
            codes, uniques = pd.factorize(values, sort=True)
            self.codes[dim] = (codes.astype(np.int64), [str(u) for u in uniques])
        self.pool_stats = self._pool_stats([dim for dim in self.codes if dim != "care_level"])

    def design(self, rows: np.ndarray) -> np.ndarray:
        """The propensity model's columns (propensity_design) for ``rows``."""
        return propensity_design(self.x[rows], self.aap[rows])

    def logit(self, model: methods.Propensity) -> np.ndarray:
        """``model``'s logit for every row, from the covariates: propensity_design's columns
        times their coefficients, summed without building the design for the whole family (in
        propensity_design's column order; test_stage checks the two agree)."""
        w, c = model.linear()
        p = len(COVARIATES) + 1  # a block of the design: the covariates and log(1 + earnings)
        earn = _log_earnings(self.x)
        emp = self.x[:, COVARIATES.index("employed_prev")]

        def block(v: np.ndarray) -> np.ndarray:
            return self.x @ v[:-1] + earn * v[-1]

        with np.errstate(invalid="ignore", over="ignore"):  # what is not finite is refused by the caller
            return c + block(w[:p]) + self.aap * (w[p] + block(w[p + 1:2 * p + 1])) + emp * block(w[2 * p + 1:])

    def _pool_stats(self, dims: list[str]) -> dict[str, dict[str, np.ndarray]]:
        """Per dimension and subgroup value (first axis): pool size, covariate sums and sums of
        squares, the outcomes' followed counts and sums, and the unweighted Aalen-Johansen curve.

        The pool is summed once into cells (one per combination of the dimensions' values:
        thousands, not millions), and each dimension's subgroups from those cells."""
        pool = self.pool
        codes = {dim: self.codes[dim][0][pool] for dim in dims}
        joint = np.zeros(int(pool.sum()), np.int64)
        for dim in dims:
            joint = joint * len(self.codes[dim][1]) + codes[dim]
        _, first, cell = np.unique(joint, return_index=True, return_inverse=True)
        n_cells = len(first)
        x, y = self.x[pool], self.y[pool]

        def columns():  # one pool-long column at a time: no matrix of them all over the pool
            yield np.ones(len(cell))
            yield from x.T
            yield from (col ** 2 for col in x.T)
            yield from (~np.isnan(col) for col in y.T)
            yield from (np.nan_to_num(col) for col in y.T)

        sums = np.column_stack([np.bincount(cell, weights=col, minlength=n_cells) for col in columns()])
        em, code = self.event_month[pool], self.event_code[pool]
        followed = ~np.isnan(em)
        n_times = MAX_MONTH + 1
        # events per cell, month and code
        flat = (cell[followed] * n_times + em[followed].astype(np.int64)) * 3 + code[followed]
        hist = np.bincount(flat, minlength=n_cells * n_times * 3).reshape(n_cells, n_times * 3).astype(float)
        p, q = x.shape[1], y.shape[1]
        stats = {}
        for dim in dims:
            g, of_cell = len(self.codes[dim][1]), codes[dim][first]
            s, h = np.zeros((g, sums.shape[1])), np.zeros((g, n_times * 3))
            np.add.at(s, of_cell, sums)
            np.add.at(h, of_cell, hist)
            h = h.reshape(g, n_times, 3)
            # at risk at j: event or censoring month >= j
            at_risk = np.cumsum(h.sum(axis=2)[:, ::-1], axis=1)[:, ::-1]
            stats[dim] = {
                "n": s[:, 0],
                "sum_x": s[:, 1:1 + p],
                "sum_x2": s[:, 1 + p:1 + 2 * p],
                "y_known": s[:, 1 + 2 * p:1 + 2 * p + q],
                "y_sum": s[:, 1 + 2 * p + q:],
                "cif": methods.aalen_johansen(at_risk, h[:, :, methods.SUSTAINED], h[:, :, methods.COMPETING]),
            }
        return stats


def evaluate_intervention(name: str, family: Family, value: str, care_level: int | None, out: _Output,
                          set_offset: int = 0) -> tuple[InterventionSummary, int]:
    """One intervention over its family's candidates: appends its cohort, effects, balance and
    cumulative-incidence rows to ``out``; returns its summary and the next free set_id offset."""
    started = time.perf_counter()
    step = "select"
    try:
        rows = family.rows
        treated = (rows["intervention"] == value).fillna(False).to_numpy(bool, copy=True)
        if care_level is not None:
            treated = treated & (rows["care_level"] == care_level).fillna(False).to_numpy(bool)
        t_rows, p_rows = np.flatnonzero(treated), np.flatnonzero(family.pool)
        if len(t_rows) == 0 or len(p_rows) == 0:
            # nothing to estimate (e.g. no start in the window): no rows, not a failure
            return InterventionSummary(intervention=name, n_treated=len(t_rows), n_matched=0,
                                       n_unmatched=len(t_rows), n_sets_with_fewer=0, n_pool=len(p_rows),
                                       caliper=float("nan"), seconds=time.perf_counter() - started), set_offset

        step = "propensity"
        fit_rows = np.flatnonzero(treated | family.pool)
        sample, weight = methods.pool_sample(treated, family.pool, PROPENSITY_MAX_POOL,
                                             SEED + zlib.crc32(name.encode()))
        sampled = len(sample) < len(fit_rows)
        model = methods.propensity_fit(family.design(sample), treated[sample], weight if sampled else None)
        logit = np.full(len(rows), np.nan)
        # Rounded (1e-9, far below any caliper): persons with the same covariates get the same
        # score whatever the last bits of the arithmetic, so their ties go to the smaller person
        # key as documented (unrounded, BLAS' blocking decided a third of the ties on a 2 % run).
        logit[fit_rows] = np.round(family.logit(model)[fit_rows], 9)
        if not np.isfinite(logit[fit_rows]).all():
            raise ValueError("a covariate is not finite")
        caliper = CALIPER_SD * float(np.std(logit[fit_rows]))

        step = "matching"
        m = methods.match_nearest(family.strata[t_rows], logit[t_rows], family.strata[p_rows], logit[p_rows],
                                  family.person_key[p_rows], caliper, MAX_COMPARISONS)
        sizes = m.set_sizes(len(t_rows))
        matched_t = np.flatnonzero(sizes > 0)  # treated positions (in t_rows) with a set, in order
        set_of_t = np.full(len(t_rows), -1)
        set_of_t[matched_t] = np.arange(len(matched_t))
        sets = _Sets(t_rows[matched_t], p_rows[m.comparison], set_of_t[m.treated], m.weights(len(t_rows)),
                     family.person_key)

        step = "cohort"
        out.cohort.append(_cohort(name, rows, sets, logit, set_offset))

        step = "estimates"
        _estimate(name, family, t_rows, sets, value == "HA_COURSE" and care_level is None, out,
                  seed=SEED + zlib.crc32(name.encode()))
    except Exception as exc:  # noqa: BLE001 - named and re-raised
        raise EvaluationError(f"{name}: {step}: {type(exc).__name__}: {exc}") from exc
    summary = InterventionSummary(
        intervention=name, n_treated=len(t_rows), n_matched=len(matched_t),
        n_unmatched=int((sizes == 0).sum()), n_sets_with_fewer=int(((sizes > 0) & (sizes < MAX_COMPARISONS)).sum()),
        n_pool=len(p_rows), caliper=caliper, seconds=time.perf_counter() - started)
    return summary, set_offset + len(matched_t)


class _Sets:
    """The matched sets of one intervention (rows of the family frame): set s has treated row
    ``treated_rows[s]`` and the comparison members ``comp_rows[i]`` with ``comp_set[i] == s``,
    weighted ``comp_weight[i]`` (1/k)."""

    def __init__(self, treated_rows, comp_rows, comp_set, comp_weight, person_key):
        self.treated_rows = treated_rows
        self.comp_rows = comp_rows
        self.comp_set = comp_set
        self.comp_weight = comp_weight
        self.comp_person = person_key[comp_rows]
        self.n = len(treated_rows)

    def per_set(self, values: np.ndarray) -> np.ndarray:
        """sum over each set's comparison members of weight * values (sets x columns)."""
        out = np.zeros((self.n, values.shape[1]))
        np.add.at(out, self.comp_set, self.comp_weight[:, None] * values)
        return out


def _cohort(name: str, rows: pd.DataFrame, sets: _Sets, logit: np.ndarray, set_offset: int) -> pd.DataFrame:
    member_rows = np.concatenate([sets.treated_rows, sets.comp_rows])
    member_set = np.concatenate([np.arange(sets.n), sets.comp_set])
    is_comp = np.r_[np.zeros(sets.n, bool), np.ones(len(sets.comp_rows), bool)]
    order = np.lexsort((is_comp, member_set))  # per set: the treated row, then its comparisons by rank
    member_rows, member_set = member_rows[order], member_set[order]
    role = np.where(is_comp[order], "comparison", "treated")
    weight = np.r_[np.ones(sets.n), sets.comp_weight][order]
    cols = ["index_month", "person_id", *EXACT, "era", "care_level", *COVARIATES, *_BINARY, "event_type", "event_month"]
    cohort = rows.iloc[member_rows][cols].reset_index(drop=True)
    cohort.insert(0, "set_id", (set_offset + member_set + 1).astype(np.int64))
    cohort.insert(1, "intervention", name)
    cohort.insert(4, "role", role)
    cohort.insert(5, "weight", weight)
    cohort["propensity_score"] = 1.0 / (1.0 + np.exp(-logit[member_rows]))
    return cohort


def _estimate(name, family: Family, t_rows, sets: _Sets, by_care_level: bool, out: _Output, seed: int) -> None:
    n_times = MAX_MONTH + 1
    t, c = sets.treated_rows, sets.comp_rows
    # per set: treated values, comparison weighted sums (weights sum to 1 per set)
    f_t = ~np.isnan(family.y[t])
    y_t = np.nan_to_num(family.y[t])
    y_c = sets.per_set(np.nan_to_num(family.y[c]))
    r_t = methods.risk_table(family.event_month[t], family.event_code[t], np.ones(len(t)), n_times)
    r_c = [sets.per_set(a) for a in methods.risk_table(family.event_month[c], family.event_code[c],
                                                       np.ones(len(c)), n_times)]
    fol_t = family.followed_at[t]
    counts = methods.bootstrap_counts(sets.n, REPLICATES, seed).astype(float)
    matched = np.zeros(len(family.rows), bool)
    matched[t] = True
    dims = ["all", *SUBGROUP_DIMS] + (["care_level"] if by_care_level else [])
    for dim in dims:
        codes, values = family.codes[dim]
        # care_level describes the treated only: its subgroups compare with the whole pool
        pool_dim, pool_of = ("all", lambda _v: 0) if dim == "care_level" else (dim, lambda v: v)
        stats = family.pool_stats[pool_dim]
        set_codes, t_codes = codes[t], codes[t_rows]
        for v in np.unique(t_codes):
            g = set_codes == v
            g_treated = t_rows[t_codes == v]
            pool = {key: arr[pool_of(v)] for key, arr in stats.items()}
            max_smd = _balance(name, dim, values[v], family.x, g_treated, pool, sets, g, out)
            n_unmatched = int((~matched[g_treated]).sum())
            _effects(name, dim, values[v], g, sets, y_t, y_c, f_t, r_t, r_c, fol_t, counts, pool, n_unmatched,
                     max_smd, out)


def _effects(name, dim, value, g, sets, y_t, y_c, f_t, r_t, r_c, fol_t, counts, pool, n_unmatched, max_smd,
             out) -> None:
    mg = counts[:, g]
    base = dict(intervention=name, subgroup_dim=dim, subgroup_value=value, n_unmatched=n_unmatched,
                max_abs_smd=max_smd, imbalanced=bool(np.isfinite(max_smd) and max_smd > MAX_ABS_SMD))
    comp_in = g[sets.comp_set]
    set_ids = np.flatnonzero(g)

    def distinct_comparisons(followed: np.ndarray) -> int:
        """Distinct comparison persons in the subgroup's sets whose treated entry is followed."""
        followed_sets = np.zeros(sets.n, bool)
        followed_sets[set_ids[followed]] = True
        return int(np.unique(sets.comp_person[comp_in & followed_sets[sets.comp_set]]).size)

    # rtw and hrb at k: means over followed sets, bootstrap over sets
    ft, yt, yc = f_t[g], y_t[g], y_c[g]
    with np.errstate(invalid="ignore", divide="ignore"):
        n_f = ft.sum(0)
        rate_t = (ft * yt).sum(0) / n_f
        rate_c = (ft * yc).sum(0) / n_f
        boot = ((mg @ (ft * yt)) - (mg @ (ft * yc))) / (mg @ ft)
        naive = rate_t - pool["y_sum"] / pool["y_known"]
    low, high = methods.percentile_interval(boot)
    for j, col in enumerate(_BINARY):
        outcome, k = col.rsplit("_", 1)
        _effect_row(out, base, outcome, int(k), int(n_f[j]), distinct_comparisons(ft[:, j]),
                    rate_t[j], rate_c[j], low[j], high[j], naive[j])

    # sustained return: weighted Aalen-Johansen per role, bootstrap over sets
    cif_t = methods.aalen_johansen(*(a[g].sum(0) for a in r_t))
    cif_c = methods.aalen_johansen(*(a[g].sum(0) for a in r_c))
    boot_t = methods.aalen_johansen(*(mg @ a[g] for a in r_t))
    boot_c = methods.aalen_johansen(*(mg @ a[g] for a in r_c))
    low, high = methods.percentile_interval(boot_t - boot_c)
    for role, cif in (("treated", cif_t), ("comparison", cif_c)):
        out.cif.extend(dict(intervention=name, subgroup_dim=dim, subgroup_value=value, month=j, role=role,
                            cif=float(x) if g.any() else None) for j, x in enumerate(cif))
    for j, k in enumerate(FOLLOW_UP_MONTHS):
        followed = fol_t[g, j]
        n_t = int(followed.sum())
        if n_t == 0:
            _effect_row(out, base, "sustained_rtw", k, 0, 0, np.nan, np.nan, np.nan, np.nan, np.nan)
            continue
        _effect_row(out, base, "sustained_rtw", k, n_t, distinct_comparisons(followed), cif_t[k], cif_c[k],
                    low[k], high[k], cif_t[k] - pool["cif"][k] if pool["n"] > 0 else np.nan)


def _effect_row(out, base, outcome, k, n_treated, n_comparison, rate_t, rate_c, low, high, naive) -> None:
    def num(v):
        return float(v) if n_treated and v is not None and np.isfinite(v) else None

    out.effects.append({
        **base, "outcome": outcome, "k": k, "n_treated": n_treated, "n_comparison": n_comparison,
        "rate_treated": num(rate_t), "rate_comparison": num(rate_c), "risk_difference": num(rate_t - rate_c),
        "ci_low": num(low), "ci_high": num(high), "naive_difference": num(naive),
        "e_value": num(methods.e_value(rate_t, rate_c)),
        # the subgroup's balance, whoever is followed at k
        "max_abs_smd": float(base["max_abs_smd"]) if np.isfinite(base["max_abs_smd"]) else None,
        "imprecise": n_treated < MIN_TREATED_PRECISE,
    })


def _balance(name, dim, value, x, g_treated, pool, sets: _Sets, g, out: _Output) -> float:
    """SMD per covariate: before (every treated entry of the subgroup against its whole pool,
    unweighted) and after (the matched treated against their weighted comparisons), both over
    the before-matching pooled SD sqrt((var_t + var_c) / 2). Returns max |SMD after|."""
    mean_tb, var_tb = methods.weighted_moments(x[g_treated], np.ones(len(g_treated)))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_cb = pool["sum_x"] / pool["n"]
        var_cb = np.maximum(pool["sum_x2"] / pool["n"] - mean_cb ** 2, 0.0)
    sd = np.sqrt((var_tb + var_cb) / 2)
    before = methods.smd(mean_tb, mean_cb, sd)
    comp = g[sets.comp_set]
    mean_ta, _ = methods.weighted_moments(x[sets.treated_rows[g]], np.ones(int(g.sum())))
    mean_ca, _ = methods.weighted_moments(x[sets.comp_rows[comp]], sets.comp_weight[comp])
    after = methods.smd(mean_ta, mean_ca, sd)
    for covariate, b, a in zip(COVARIATES, before, after, strict=True):
        out.balance.append(dict(intervention=name, subgroup_dim=dim, subgroup_value=value, covariate=covariate,
                                smd_before=float(b) if np.isfinite(b) else None,
                                smd_after=float(a) if np.isfinite(a) else None))
    finite = np.abs(after[~np.isnan(after)])
    return float(finite.max()) if finite.size else float("nan")


_EFFECT_COLUMNS = ("intervention", "subgroup_dim", "subgroup_value", "outcome", "k", "n_treated", "n_comparison",
                   "n_unmatched", "rate_treated", "rate_comparison", "risk_difference", "ci_low", "ci_high",
                   "naive_difference", "e_value", "max_abs_smd", "imbalanced", "imprecise")


def _write(con, out: _Output) -> dict[str, int]:
    """Replace the four tables in one transaction."""
    if out.cohort:
        cohort = pd.concat(out.cohort, ignore_index=True)
    else:
        # No treated entry anywhere (a short window: eligibility needs 12 months of history):
        # the tables exist, empty, with their columns and types.
        cols = ", ".join([*EXACT, "era", "care_level", *COVARIATES, *_BINARY, "event_type", "event_month"])
        cohort = con.execute(
            "select 0::bigint as set_id, ''::varchar as intervention, index_month, person_id, ''::varchar as role, "
            f"0.0::double as weight, {cols}, 0.0::double as propensity_score "
            "from intermediate.int_evaluation_candidates where false").df()
    effects = pd.DataFrame(out.effects, columns=list(_EFFECT_COLUMNS)).astype(
        {"k": "int32", "n_treated": "int64", "n_comparison": "int64", "n_unmatched": "int64"})
    balance = pd.DataFrame(out.balance, columns=["intervention", "subgroup_dim", "subgroup_value", "covariate",
                                                 "smd_before", "smd_after"])
    cif = pd.DataFrame(out.cif, columns=["intervention", "subgroup_dim", "subgroup_value", "month", "role", "cif"])
    tables = {"marts.fct_evaluation_cohort": cohort, "evaluation.effects": effects,
              "evaluation.balance": balance, "evaluation.cumulative_incidence": cif}
    con.execute("begin transaction")
    try:
        con.execute("create schema if not exists evaluation")
        for table, df in tables.items():
            con.register("_frame", df)
            con.execute(f"create or replace table {table} as select * from _frame")
            con.unregister("_frame")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return {table: len(df) for table, df in tables.items()}
