"""A course at a health trust outside the code list publishes under geo_code UNKNOWN (trust and
RHF), never under its delivered code, and the UNKNOWN trust -> UNKNOWN RHF -> country chain is
a margin of disclosure control like any other (docs/definitions.md#unknown-geography)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import microdata as md
from workhealth.publish import indicators


def _micro() -> pd.DataFrame:
    # 60 courses at listed trusts; 3 at ZZ (not in the code list: rhf UNKNOWN in the mart)
    rows = [{"trust": t, "care": 1 + i % 3} for i in range(12) for t in sorted(md.TRUSTS)]
    micro = md.course_frame(rows + [{"trust": "T0"}] * 3)
    micro.loc[micro.index[-3:], ["health_trust", "rhf"]] = ["ZZ", "UNKNOWN"]
    return micro


def test_unknown_trust_publishes_as_unknown_under_the_unknown_rhf():
    micro = _micro()
    trajectories = md.trajectory_frame(micro, np.random.default_rng(1))
    con = md.marts_connection(micro, trajectories)
    try:
        parents = indicators.geo_parents(con)
    finally:
        con.close()
    assert parents[("health_trust", "UNKNOWN")] == ("rhf", "UNKNOWN")
    assert parents[("rhf", "UNKNOWN")] == ("country", "NO")
    assert ("health_trust", "ZZ") not in parents

    raw, published = md.publish_tables(micro, trajectories)
    for name, table in raw.items():
        assert "ZZ" not in set(table["geo_code"]), name
    totals = raw["courses"][(raw["courses"].care_level == "all") & (raw["courses"].diagnosis_group == "all")
                            & (raw["courses"].era == "all") & (raw["courses"].age_group == "all")].set_index(["geo_level", "geo_code"])["n_courses"]
    assert totals[("health_trust", "UNKNOWN")] == totals[("rhf", "UNKNOWN")] == 3
    assert totals[("country", "NO")] == totals.xs("rhf").sum() == len(micro)
    assert "UNKNOWN" in set(raw["trajectories"]["geo_code"])

    # the UNKNOWN RHF's 3 courses are suppressed, and not recoverable as country minus the other RHFs
    pub = published["courses"]
    cells = pub[(pub.care_level == "all") & (pub.diagnosis_group == "all") & (pub.era == "all")
                & (pub.age_group == "all") & (pub.geo_level.isin(["country", "rhf"]))].set_index("geo_code")
    assert pd.isna(cells.loc["UNKNOWN", "n_courses"]) and cells.loc["UNKNOWN", "n_courses_flag"] == "primary"
    assert cells["n_courses"].isna().sum() >= 2
