"""Withheld years (workhealth.publish.withhold) and their place in the release fingerprint."""

from __future__ import annotations

import pandas as pd

import microdata as md


def test_a_withheld_year_is_empty_with_flag_withheld_and_the_other_years_untouched():
    from workhealth.publish import indicators, withhold

    rows = ([{"year": 2017, "trust": t} for t in ("T0", "T3", "T4") for _ in range(12)]
            + [{"year": 2018, "trust": t} for t in ("T0", "T1", "T4") for _ in range(3)])
    micro = md.course_frame(rows)
    traj = pd.DataFrame([(cid, t, "WORK") for cid in micro["course_id"] for t in range(-12, 25)],
                        columns=["course_id", "month_offset", "state"])
    _, published = md.publish_tables(micro, traj)
    specs = {s.name: s for s in indicators.TABLES}
    out = withhold.withhold(published, specs, withhold.years_of({"2017": [{"check": "x", "period": "2017-12"}]}))
    for name, spec in specs.items():
        df, before = out[name], published[name]
        assert list(df.columns) == spec.columns
        y2017 = (df["year"] == 2017).to_numpy()
        assert y2017.any() and (~y2017).any(), name
        for m in spec.measures:
            assert df.loc[y2017, m.name].isna().all() and (df.loc[y2017, f"{m.name}_flag"] == "withheld").all()
        assert df[~y2017].equals(before[~y2017]), f"{name}: 2018 is as disclosure control left it"
        assert df[list(spec.dims)].equals(before[list(spec.dims)]), "the dimensions stay"
    assert withhold.withhold(published, specs, []) is published


def test_the_fingerprint_changes_with_the_withheld_years():
    """A new quality outcome (a year withheld, or released by a correction) changes the published
    numbers, so it is a new release; the same years in another order are the same release."""
    from workhealth.publish.release import fingerprint

    inputs = {"deliveries": [{"register": "npr_episodes", "period": "2017-12", "version": 1, "manifest_sha256": "a"}],
              "first_month": "2017-12", "horizon": "2018-03", "definitions": {"files": {"m.sql": "b"}},
              "codelists": {"files": {"c": "d"}}}
    none, one, two = fingerprint(inputs), fingerprint(inputs, [2017]), fingerprint(inputs, [2018, 2017])
    assert len({none, one, two}) == 3
    assert two == fingerprint(inputs, [2017, 2018]) and none == fingerprint(inputs, [])
