"""Disclosure control on small hand-made examples whose right answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd

import microdata as md


def _publish(rows, trajectories=None):
    micro = md.course_frame(rows)
    traj = trajectories if trajectories is not None else pd.DataFrame(
        {"course_id": pd.Series(dtype=str), "month_offset": pd.Series(dtype=int), "state": pd.Series(dtype=str)})
    return md.publish_tables(micro, traj)[1]


def _row(df, **dims):
    sel = np.ones(len(df), bool)
    for k, v in dims.items():
        sel &= (df[k] == v).to_numpy()
    assert sel.sum() == 1, dims
    return df[sel].iloc[0]


TOTALS = dict(care_level="all", diagnosis_group="all", era="all", age_group="all")


def test_small_rhf_is_primary_and_its_sibling_secondary():
    """Country 20 = R1 17 + R2 3: R2 is hidden (1-4), so R1 must be too (else 20 - 17 = 3);
    and T0 (R1's only trust here) goes with R1. The country total stays published."""
    rows = [{"trust": "T0"}] * 17 + [{"trust": "T3"}] * 3
    courses = _publish(rows)["courses"]
    assert _row(courses, year=2017, geo_level="country", **TOTALS)["n_courses"] == 20
    r2 = _row(courses, year=2017, geo_level="rhf", geo_code="R2", **TOTALS)
    assert pd.isna(r2["n_courses"]) and r2["n_courses_flag"] == "primary"
    r1 = _row(courses, year=2017, geo_level="rhf", geo_code="R1", **TOTALS)
    assert pd.isna(r1["n_courses"]) and r1["n_courses_flag"] == "secondary"
    t0 = _row(courses, year=2017, geo_level="health_trust", geo_code="T0", **TOTALS)
    assert pd.isna(t0["n_courses"]) and t0["n_courses_flag"] == "secondary"
    # The rate over R1's 17 courses would give R1's count away next to the national rate: it follows.
    assert r1["share_on_sick_leave_at_start_flag"] == "secondary"


def test_smallest_sibling_is_chosen_as_complement():
    """R1 = T0 30 + T1 12 + T2 2: T2 is primary; the complement is T1 (smaller than T0)."""
    rows = [{"trust": "T0"}] * 30 + [{"trust": "T1"}] * 12 + [{"trust": "T2"}] * 2 + [{"trust": "T4"}] * 40
    courses = _publish(rows)["courses"]
    flags = {code: _row(courses, year=2017, geo_level="health_trust", geo_code=code, **TOTALS)["n_courses_flag"]
             for code in ("T0", "T1", "T2")}
    assert pd.isna(flags["T0"]) and flags["T1"] == "secondary" and flags["T2"] == "primary"
    assert _row(courses, year=2017, geo_level="rhf", geo_code="R1", **TOTALS)["n_courses"] == 44


def test_zero_is_published_and_rates_over_few_units_are_not():
    """Courses ended in the year, none followed up yet: n_followed = 0 is published as 0 and its
    rate does not exist: empty with flag no_units (not a suppression). 12 courses, 9 followed at
    3 months: the rate is hidden (9 < 10, primary) while the count 9 is published."""
    rows = ([{"trust": "T4", "states": (None, None, None)}] * 12)
    outcomes = _publish(rows)["outcomes"]
    r = _row(outcomes, year=2017, geo_level="country", **TOTALS)
    assert r["n_followed_3m"] == 0 and pd.isna(r["n_followed_3m_flag"])
    assert pd.isna(r["rtw_rate_3m"]) and r["rtw_rate_3m_flag"] == "no_units"
    assert pd.isna(r["hrb_rate_12m"]) and r["hrb_rate_12m_flag"] == "no_units"

    rows = [{"trust": "T4", "states": ("WORK", None, None)}] * 9 + [{"trust": "T4", "states": (None, None, None)}] * 3
    r = _row(_publish(rows)["outcomes"], year=2017, geo_level="country", **TOTALS)
    assert r["n_followed_3m"] == 9 and pd.isna(r["rtw_rate_3m"]) and r["rtw_rate_3m_flag"] == "primary"


def test_rate_numerators_are_protected_across_a_margin():
    """R3 (one trust T4) 30 courses, 20 at work; R1 (T0) 8 courses; country 38. R1's rate is
    primary (8 < 10 units) but its count 8 is published: with the national rate and R3's rate
    published, R1's numerator = 38 * rate - 30 * rate_R3 would give its rate away, so another
    rate in that margin must go (secondary)."""
    rows = ([{"trust": "T4", "states": ("WORK",) * 3}] * 20 + [{"trust": "T4", "states": ("SYK",) * 3}] * 10
            + [{"trust": "T0", "states": ("WORK",) * 3}] * 5 + [{"trust": "T0", "states": ("AAP",) * 3}] * 3)
    outcomes = _publish(rows)["outcomes"]
    country = _row(outcomes, year=2017, geo_level="country", **TOTALS)
    r1 = _row(outcomes, year=2017, geo_level="rhf", geo_code="R1", **TOTALS)
    r3 = _row(outcomes, year=2017, geo_level="rhf", geo_code="R3", **TOTALS)
    assert r1["n_followed_3m"] == 8 and r1["rtw_rate_3m_flag"] == "primary"
    assert country["n_followed_3m"] == 38 and r3["n_followed_3m"] == 30
    assert r3["rtw_rate_3m_flag"] == "secondary", "the smallest other part of the margin is hidden"
    assert country["rtw_rate_3m"] == round(25 / 38, 4), "the total stays published"
    t4 = _row(outcomes, year=2017, geo_level="health_trust", geo_code="T4", **TOTALS)
    assert t4["rtw_rate_3m_flag"] == "secondary", "R3 = T4 alone: T4 would give R3 away"


def test_trajectory_shares_of_a_row_go_together_and_follow_courses():
    rows = [{"trust": "T0", "group": "MSK"}] * 12 + [{"trust": "T4", "group": "MENTAL"}] * 3
    micro = md.course_frame(rows)
    traj = pd.DataFrame([(cid, t, "WORK" if t < 0 else "SYK") for cid in micro["course_id"] for t in range(-12, 25)],
                        columns=["course_id", "month_offset", "state"])
    _, published = md.publish_tables(micro, traj)
    t = published["trajectories"]
    r3 = t[(t.geo_code == "R3") & (t.diagnosis_group == "all")]
    assert (r3["n_flag"] == "primary").all()  # 3 courses
    r1 = t[(t.geo_code == "R1") & (t.diagnosis_group == "all")]
    # courses.n_courses of R1 (12) is hidden as R3's complement, and trajectories.n = 12 equals it.
    courses = published["courses"]
    assert _row(courses, year=2017, geo_level="rhf", geo_code="R1", **TOTALS)["n_courses_flag"] == "secondary"
    assert (r1["n_flag"] == "secondary").all()
    shares = t[[f"share_{s}" for s in md.STATES]]
    assert (shares.isna().all(axis=1) | shares.notna().all(axis=1)).all()
    country = t[(t.geo_level == "country") & (t.diagnosis_group == "all")]
    assert (country["n"] == 15).all() and (country.loc[country.month_offset < 0, "share_WORK"] == 1.0).all()


def test_no_courses_gives_empty_tables_with_every_column():
    from workhealth.publish.indicators import TABLES

    micro = md.course_frame([{"trust": "T0"}]).iloc[0:0]
    traj = pd.DataFrame({"course_id": pd.Series(dtype=str), "month_offset": pd.Series(dtype=int),
                         "state": pd.Series(dtype=str)})
    _, published = md.publish_tables(micro, traj)
    for spec in TABLES:
        assert list(published[spec.name].columns) == spec.columns and published[spec.name].empty


PARENTS = {**{("health_trust", t): ("rhf", r) for t, r in md.TRUSTS.items()},
           **{("rhf", r): ("country", "NO") for r in set(md.TRUSTS.values())}}


def _audit(published: pd.DataFrame, table: str, unknown: np.ndarray) -> dict:
    """disclosure's exact audit over the published table: the hidden cells it finds determined."""
    from workhealth.publish import disclosure, indicators

    spec = next(s for s in indicators.TABLES if s.name == table)
    return disclosure.determined_cells(disclosure._Margins(published, spec, PARENTS), unknown)


def test_a_median_over_no_units_is_no_units_and_tells_its_numerator():
    """No course on sick leave at start: the median of sick-leave days is over 0 units, empty with
    flag no_units; the share (0 of 12) is published as 0."""
    r = _row(_publish([{"trust": "T4", "sick_days": None}] * 12)["courses"], year=2017, geo_level="country",
             **TOTALS)
    assert pd.isna(r["median_sick_leave_days_at_start"]) and r["median_sick_leave_days_at_start_flag"] == "no_units"
    assert r["share_on_sick_leave_at_start"] == 0 and pd.isna(r["share_on_sick_leave_at_start_flag"])


def test_a_zero_is_never_chosen_as_complement():
    """Outcomes, care level 3 in R1: T0 10 followed + T1 0 + T2 0 (their courses not followed
    yet) = 10. T0's care level 1 (2 followed) is primary, so T0's care level 3 (10) is hidden as
    its complement. Then R1's care-3 margin has one unknown part and only zeros besides: the
    old rule hid a zero (T1); now zeros stay published and the complement is the total, R1's
    care level 3 (10). The exact audit finds no hidden cell recoverable."""
    rows = ([{"trust": "T0", "care": 3}] * 10 + [{"trust": "T0", "care": 1}] * 2
            + [{"trust": t, "care": 3, "states": (None, None, None)} for t in ("T1", "T2") for _ in range(5)]
            + [{"trust": "T3", "care": 3}] * 20 + [{"trust": "T4", "care": 3}] * 30)
    micro = md.course_frame(rows)
    traj = pd.DataFrame({"course_id": pd.Series(dtype=str), "month_offset": pd.Series(dtype=int),
                         "state": pd.Series(dtype=str)})
    raw, published = md.publish_tables(micro, traj)
    outcomes = published["outcomes"]
    care3 = dict(TOTALS, care_level="3")
    for code in ("T1", "T2"):
        r = _row(outcomes, year=2017, geo_level="health_trust", geo_code=code, **care3)
        assert r["n_followed_3m"] == 0 and pd.isna(r["n_followed_3m_flag"]), "zeros are published"
    care1 = dict(TOTALS, care_level="1")
    assert _row(outcomes, year=2017, geo_level="health_trust", geo_code="T0", **care1)["n_followed_3m_flag"] == "primary"
    assert _row(outcomes, year=2017, geo_level="health_trust", geo_code="T0", **care3)["n_followed_3m_flag"] == "secondary"
    r1 = _row(outcomes, year=2017, geo_level="rhf", geo_code="R1", **care3)
    assert pd.isna(r1["n_followed_3m"]) and r1["n_followed_3m_flag"] == "secondary", "the total is the complement"
    for table, pub in published.items():
        true = raw[table]
        for count in md.COUNTS[table]:
            zero = (true[count] == 0).to_numpy()
            assert pub.loc[zero, f"{count}_flag"].isna().all(), f"{table}.{count}: a zero was suppressed"
            unknown = pub[count].isna().to_numpy()
            assert _audit(pub, table, unknown) == {}, f"{table}.{count}: a hidden cell is recoverable"


def test_a_zero_numerator_is_never_chosen_as_complement():
    """Nobody back at work at 3 months: R1 (= T0) has 5 courses followed (rate primary), R3 (=
    T4) 30, the country 35, every numerator 0. R1's hidden numerator is 0 - 0 = 0 by the
    country margin; the only complements that could hide it are zeros (R3's rate 0.0), which
    used to be suppressed. Now R3's rate is published, and the audit's only determined hidden
    numerators are zeros given by published zeros alone."""
    rows = [{"trust": "T0", "states": ("SYK",) * 3}] * 5 + [{"trust": "T4", "states": ("SYK",) * 3}] * 30
    micro = md.course_frame(rows)
    traj = pd.DataFrame({"course_id": pd.Series(dtype=str), "month_offset": pd.Series(dtype=int),
                         "state": pd.Series(dtype=str)})
    raw, published = md.publish_tables(micro, traj)
    outcomes = published["outcomes"]
    for level, code in (("country", "NO"), ("rhf", "R3"), ("health_trust", "T4")):
        r = _row(outcomes, year=2017, geo_level=level, geo_code=code, **TOTALS)
        assert r["rtw_rate_3m"] == 0 and pd.isna(r["rtw_rate_3m_flag"]), (level, code)
    assert _row(outcomes, year=2017, geo_level="rhf", geo_code="R1", **TOTALS)["rtw_rate_3m_flag"] == "primary"
    unknown = md.unknown_cells(outcomes, "outcomes")["numerator of rtw_rate_3m"]
    numerator = raw["outcomes"]["_num_rtw_rate_3m"].fillna(0).to_numpy()
    found = [cell for hits in _audit(outcomes, "outcomes", unknown).values() for cell, _ in hits]
    assert found, "R1's numerator is determined (as 0)"
    assert all(numerator[c] == 0 for c in found)
    groups, blocks = md.margin_groups(outcomes, "outcomes"), md.block_keys(outcomes)
    assert set(found) <= md.given_by_zeros(unknown, numerator, groups, blocks)
