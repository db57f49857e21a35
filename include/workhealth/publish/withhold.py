"""Withheld years: what a critical quality finding of a period does to the published tables
(docs/publishing.md#withheld-years).

The quality gate (``workhealth.quality``) names the withheld years, each with the findings that
withheld it (``quality["withheld"]``: ``{"2017": [{"check", "period", "observed", "threshold",
...}]}``). In every published table the rows of such a year keep their dimensions, but every
measure is empty and every ``<measure>_flag`` is ``withheld``.

Applied after disclosure control. That is safe: suppression works per year (no margin equation
crosses years, and the one link between tables, ``trajectories.n`` to ``courses.n_courses``,
joins rows of the same year), and hiding more cells never makes a hidden cell recoverable (a
combination of equations that isolates a cell among more unknowns isolates it among fewer).
So the other years are exactly as disclosure control left them, and a withheld year needs no
reasoning at all: nothing of it is published.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from workhealth.publish.indicators import TableSpec

WITHHELD = "withheld"


def years_of(withheld: dict | None) -> list[int]:
    """The withheld years of a quality result's ``withheld`` mapping, sorted."""
    return sorted(int(y) for y in (withheld or {}))


def withhold(published: dict[str, pd.DataFrame], specs: dict[str, TableSpec],
             years: Iterable[int]) -> dict[str, pd.DataFrame]:
    """The published tables with every measure of the rows of ``years`` empty, flag ``withheld``."""
    years = {int(y) for y in years}
    if not years:
        return published
    out = {}
    for name, df in published.items():
        df = df.copy()
        rows = df["year"].astype("int64").isin(years).to_numpy()
        for m in specs[name].measures:
            df.loc[rows, m.name] = pd.NA
            df.loc[rows, f"{m.name}_flag"] = WITHHELD
        out[name] = df
    return out
