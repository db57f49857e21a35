"""Property-based tests of disclosure control: random course-level micro-data goes through the
real indicator SQL (in-memory DuckDB) and suppression; the published tables are then checked
independently (margins derived from the dimension values, exact null-space test)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import microdata as md

pytestmark = pytest.mark.slow  # random tables through the publication SQL and the exact audit

#: Random tables per property: a few in ``make test`` (each costs seconds on the 2-core CI
#: machine), many more with ``WORKHEALTH_TESTS=thorough`` (the profile: tests/conftest.py).
EXAMPLES = settings().max_examples

# Shrinking a failing national-sized example takes minutes; the seed alone reproduces it.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)

state = st.sampled_from(md.STATES)
follow_up = st.one_of(
    st.tuples(state, state, state),
    st.tuples(state, state, st.none()),
    st.tuples(state, st.none(), st.none()),
    st.just((None, None, None)),
)
course = st.fixed_dictionaries({
    "year": st.sampled_from([2017, 2018]),
    "trust": st.sampled_from(sorted(md.TRUSTS)),
    "care": st.sampled_from([1, 2, 3]),
    "group": st.sampled_from(md.GROUPS),
    "person": st.integers(0, 40).map(lambda i: f"P{i:03d}"),
    "sick_days": st.one_of(st.none(), st.integers(0, 300)),
    "waiting": st.one_of(st.none(), st.integers(0, 200)),
    "states": follow_up,
    "end_month": st.integers(4, 12),
    "age": st.sampled_from(md.AGE_GROUPS),
    # Mostly known: then n_known_* often equals n_courses (the equal-counts link).
    "coop": st.tuples(*[st.sampled_from([True, False, False, None]) for _ in md.COOPERATION]),
})


def _units(micro: pd.DataFrame, row: pd.Series, table: str, column: str) -> int:
    """The number of courses a median is computed over, recounted from the micro-data."""
    sel = micro["course_start"].map(lambda d: d.year) == row["year"]
    if row["geo_level"] == "rhf":
        sel &= micro["rhf"] == row["geo_code"]
    elif row["geo_level"] == "health_trust":
        sel &= micro["health_trust"] == row["geo_code"]
    for dim in md.CATEGORIES[table]:
        if row[dim] != "all":
            sel &= micro[dim].astype(str) == row[dim]
    return int(micro.loc[sel, column].notna().sum())


def check_published(micro: pd.DataFrame, raw: dict, published: dict) -> None:
    for table, pub in published.items():
        true = raw[table]
        # Nothing published differs from the true value; the dimensions are untouched.
        dims = [c for c in pub.columns if not c.endswith("_flag") and c in true.columns and true[c].dtype == object]
        assert pub[dims].equals(true[dims])
        for count in md.COUNTS[table]:
            shown = pub[count].dropna()
            assert not shown.between(1, 4).any(), f"{table}.{count}: a published count of 1-4"
            assert (shown.to_numpy() == true.loc[shown.index, count].to_numpy()).all()
            primary = pub[f"{count}_flag"] == "primary"
            assert true.loc[primary, count].between(1, 4).all(), "zeros and counts >= 5 are never primary"
            assert (pub[count].isna() == pub[f"{count}_flag"].notna()).all(), "empty iff flagged"
            zero = (true[count] == 0).to_numpy()
            assert (pub.loc[zero, count] == 0).all() and pub.loc[zero, f"{count}_flag"].isna().all(), \
                f"{table}.{count}: a zero is always published"
        for ratio, units in md.RATIOS[table].items():
            shown = pub[ratio].notna()
            assert (pub.loc[shown, units] >= 10).all(), f"{table}.{ratio} published over fewer than 10 units"
            assert (pub[ratio].isna() | pub[units].notna()).all(), f"{table}.{ratio} shown next to a hidden count"
            assert np.allclose(pub.loc[shown, ratio], true.loc[shown, ratio].round(4))
            no_units = (true[f"_units_{ratio}"] == 0).to_numpy()
            assert (pub.loc[no_units, f"{ratio}_flag"] == "no_units").all(), f"{table}.{ratio} over 0 units"
            assert (true.loc[pub[f"{ratio}_flag"] == "primary", f"_units_{ratio}"] >= 1).all()
        groups = md.margin_groups(pub, table)
        blocks = md.block_keys(pub)
        values = md.true_values(true, table)
        for name, unknown in md.unknown_cells(pub, table).items():
            v = values[name]
            for g in groups:
                # (a lone unknown zero whose margin is all published zeros is 0: nothing to protect)
                assert unknown[g].sum() != 1 or (v[g] == 0).all(), \
                    f"{table} {name}: one unknown cell in margin {pub.iloc[g, :6]}"
            leaked = md.determined(unknown, groups, blocks)
            # A hidden zero may be given by published zeros alone (zeros are never complements);
            # no other hidden cell may be recoverable.
            leaked = sorted(set(leaked) - md.given_by_zeros(unknown, v, groups, blocks))
            assert not leaked, f"{table} {name}: recoverable cells\n{pub.iloc[leaked, :7]}"
        if table == "trajectories":
            shares = pub[[f"share_{s}" for s in md.STATES]].isna()
            assert (shares.all(axis=1) | ~shares.any(axis=1)).all(), "a row's shares are hidden together"
    courses = published["courses"]
    # trajectories.n equals courses.n_courses (care level and era all) wherever every course has
    # a known state: neither may reveal the other.
    key = ["year", "geo_level", "geo_code", "diagnosis_group"]
    link = published["trajectories"].merge(
        courses[(courses.care_level == "all") & (courses.era == "all") & (courses.age_group == "all")][
            key + ["n_courses"]], on=key, how="left")
    true_n = raw["trajectories"]["n"].to_numpy()
    for i, r in link.iterrows():
        if pd.isna(r["n_courses"]):
            # (a zero n cannot equal a course count: it is published, like every zero)
            assert pd.isna(r["n"]) or r["n"] == 0, "trajectories.n shown where courses.n_courses is hidden"
        elif pd.isna(r["n"]):
            assert true_n[i] != r["n_courses"], "a hidden trajectories.n equals a published n_courses"
    # cooperation.n_courses is courses.n_courses of the same row: published alike.
    coop = published["cooperation"]
    dims = [c for c in coop.columns if c in md.CATEGORIES["cooperation"] or c in ("year", "geo_level", "geo_code")]
    assert coop[dims].equals(courses[dims]), "cooperation has the rows of courses"
    assert (coop["n_courses"].isna() == courses["n_courses"].isna()).all(), "n_courses published alike"
    # Equal non-zero counts of a cooperation row are published together or hidden together.
    true_coop = raw["cooperation"]
    for a in md.COUNTS["cooperation"]:
        for b in md.COUNTS["cooperation"]:
            equal = (true_coop[a] == true_coop[b]) & (true_coop[a] != 0)
            assert (coop.loc[equal, a].isna() == coop.loc[equal, b].isna()).all(), f"cooperation {a} = {b}"
    for column, median in (("waiting_days", "median_waiting_days"),
                           ("sick_leave_days_at_start", "median_sick_leave_days_at_start")):
        for _, row in courses[courses[median].notna()].iterrows():
            assert _units(micro, row, "courses", column) >= 10, f"{median} over fewer than 10 courses"


def _as_published(micro: pd.DataFrame) -> pd.DataFrame:
    """The micro-data with its categories as the tables spell them (care level as text, an age
    outside every band as UNKNOWN)."""
    return micro.assign(care_level=micro["care_level"].astype(str), age_group=micro["age_group"].fillna("UNKNOWN"))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(course, min_size=1, max_size=90), st.integers(0, 2**32 - 1))
def test_random_tables_are_safe(rows, seed):
    micro = md.course_frame(rows)
    trajectories = md.trajectory_frame(micro, np.random.default_rng(seed))
    raw, published = md.publish_tables(micro, trajectories)
    check_published(_as_published(micro), raw, published)


@settings(max_examples=max(1, EXAMPLES // 8), deadline=None, phases=NO_SHRINK, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_larger_random_tables_are_safe(seed):
    """A hundred and more courses: many cells are published, so secondary suppression does the
    work. (One example in ``make test``, an eighth of the profile's count: with four category
    margins one takes about half a minute on a busy 2-core machine, most of it the exact audit's
    rounds.)"""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(100, 160))
    rows = [{"year": int(rng.choice([2017, 2018])), "trust": str(rng.choice(sorted(md.TRUSTS), p=[.3, .25, .2, .15, .1])),
             "care": int(rng.choice([1, 2, 3], p=[.1, .3, .6])), "group": str(rng.choice(md.GROUPS, p=[.5, .3, .15, .05])),
             "person": f"P{int(rng.integers(0, n)):04d}",
             "sick_days": None if rng.random() < .3 else int(rng.integers(0, 300)),
             "waiting": None if rng.random() < .1 else int(rng.integers(0, 200)),
             "states": tuple(md.STATES[int(rng.choice(6, p=[.5, .2, .12, .08, .08, .02]))] for _ in range(3)),
             "end_month": int(rng.integers(4, 13)),
             "age": md.AGE_GROUPS[int(rng.choice(5, p=[.25, .35, .3, .07, .03]))],
             "coop": tuple(None if rng.random() < .1 else bool(rng.random() < .4) for _ in md.COOPERATION)}
            for _ in range(n)]
    micro = md.course_frame(rows)
    raw, published = md.publish_tables(micro, md.trajectory_frame(micro, rng))
    check_published(_as_published(micro), raw, published)
