"""The indicator tables (docs/definitions.md#published-tables): their specs, and a read of the dbt
models that compute them (``publication.pub_courses``, ``pub_outcomes``, ``pub_cooperation``,
``pub_trajectories``).

Every number is computed in dbt (dbt_project/models/publication): one ``GROUP BY year, <geo
rollup>, CUBE(<categories>)`` per table gives every combination with at least one course, totals
included (``all``). Each measure comes with the columns disclosure control needs but that are not
published:

- ``_units_<measure>``: the courses a rate, share or median is computed over (its units,
  docs/definitions.md#published-tables);
- ``_num_<measure>``: the additive numerator of a rate or share (courses on sick leave, courses
  back at work, ...), so secondary suppression can protect ``numerator = rate * units``.

The specs below (kinds, follows, decimals, categories, geo levels) are what disclosure control
needs; the tables come back unsuppressed and ``workhealth.publish.disclosure`` suppresses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pandas as pd

from workhealth.core.definitions import FOLLOW_UP_MONTHS, HRB_FOLLOW_UP_MONTH, PERSON_MONTH_STATES

STATES = PERSON_MONTH_STATES
#: Follow-up suffixes of the outcome measures (3m, 6m, 12m).
K = tuple(f"{k}m" for k in FOLLOW_UP_MONTHS)


@dataclass(frozen=True)
class Measure:
    name: str
    #: ``count`` (published count; suppressed at 1-4), ``ratio`` (rate/share over units; additive
    #: numerator) or ``median`` (over units; no numerator).
    kind: str
    #: The count measure whose suppression this one follows (ratios: their unit count).
    follows: str | None = None
    decimals: int | None = None
    #: A median whose unit count is the numerator of this ratio (its flag ``no_units`` tells
    #: that numerator is 0, which disclosure control must then treat as known).
    units_are_numerator_of: str | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    dims: tuple[str, ...]
    measures: tuple[Measure, ...]
    #: Category dimensions that have an ``all`` total (margins for secondary suppression).
    categories: tuple[str, ...]
    geo_levels: tuple[str, ...]
    #: Dimensions with no total (never a margin): year, month_offset.
    fixed: tuple[str, ...] = field(default=("year",))

    @property
    def columns(self) -> list[str]:
        cols = list(self.dims)
        for m in self.measures:
            cols += [m.name, f"{m.name}_flag"]
        return cols


COURSES = TableSpec(
    "courses",
    dims=("year", "geo_level", "geo_code", "care_level", "diagnosis_group", "era", "age_group"),
    measures=(
        Measure("n_courses", "count"),
        # Follows n_courses: a patient count next to a suppressed course count would nearly
        # always give it away (most patients have one course).
        Measure("n_patients", "count", follows="n_courses"),
        Measure("share_on_sick_leave_at_start", "ratio", follows="n_courses", decimals=4),
        # Its units are the courses on sick leave at start: the share's numerator.
        Measure("median_sick_leave_days_at_start", "median", decimals=1,
                units_are_numerator_of="share_on_sick_leave_at_start"),
        Measure("median_waiting_days", "median", decimals=1),
    ),
    categories=("care_level", "diagnosis_group", "era", "age_group"),
    geo_levels=("country", "rhf", "health_trust"),
)

OUTCOMES = TableSpec(
    "outcomes",
    dims=COURSES.dims,
    measures=tuple(
        m for k in K for m in (Measure(f"n_followed_{k}", "count"),
                               Measure(f"rtw_rate_{k}", "ratio", follows=f"n_followed_{k}", decimals=4))
    ) + (Measure(f"hrb_rate_{HRB_FOLLOW_UP_MONTH}m", "ratio", follows=f"n_followed_{HRB_FOLLOW_UP_MONTH}m", decimals=4),),
    categories=COURSES.categories,
    geo_levels=COURSES.geo_levels,
)

#: The cooperation attributes of a course (docs/definitions.md#treatment-courses; the same list as in
#: dbt_project/models/publication/pub_cooperation.sql).
COOPERATION_ATTRIBUTES = ("nav_measure_6m", "ips_12m", "gp_before_3m", "gp_after_3m",
                          "municipal_mental_health_after_3m")

COOPERATION = TableSpec(
    "cooperation",
    dims=COURSES.dims,
    # n_courses equals courses.n_courses row for row (same rows, same courses): disclosure control
    # gives it the same suppression (disclosure._link_courses_and_cooperation).
    measures=(Measure("n_courses", "count"),) + tuple(
        m for a in COOPERATION_ATTRIBUTES for m in (Measure(f"n_known_{a}", "count"),
                                                    Measure(f"share_{a}", "ratio", follows=f"n_known_{a}", decimals=4))
    ),
    categories=COURSES.categories,
    geo_levels=COURSES.geo_levels,
)

TRAJECTORIES = TableSpec(
    "trajectories",
    dims=("year", "geo_level", "geo_code", "diagnosis_group", "month_offset"),
    measures=(Measure("n", "count"),)
    + tuple(Measure(f"share_{s}", "ratio", follows="n", decimals=4) for s in STATES),
    categories=("diagnosis_group",),
    geo_levels=("country", "rhf"),
    fixed=("year", "month_offset"),
)

TABLES = (COURSES, OUTCOMES, COOPERATION, TRAJECTORIES)

_GEO_ORDER = ("country", "rhf", "health_trust")


def _read_sql(spec: TableSpec) -> str:
    """``publication.pub_<table>`` sorted by its dimensions: geography from the top, ``all`` before
    the categories' values (``''`` sorts first; binary collation, as Python compares strings)."""
    keys = []
    for dim in spec.dims:
        if dim == "geo_level":
            keys.append("case geo_level " + " ".join(f"when '{g}' then {i}" for i, g in enumerate(_GEO_ORDER))
                        + " end")
        elif dim in spec.categories:
            keys.append(f"case when {dim} = 'all' then '' else {dim} end")
        else:
            keys.append(dim)
    return f"select * from publication.pub_{spec.name} order by {', '.join(keys)}"


def compute(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """The tables, unsuppressed, sorted by their dimensions, with ``_units_``/``_num_`` columns."""
    out = {}
    for spec in TABLES:
        df = con.execute(_read_sql(spec)).df()
        for m in spec.measures:
            if m.kind == "count":
                df[m.name] = df[m.name].astype("int64")
        out[spec.name] = df
    return out


def geo_parents(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple[str, str]]:
    """(geo_level, geo_code) -> its parent: a trust's RHF, an RHF's country (the geo margins).

    A trust outside the code list (rhf UNKNOWN in the mart) is published as the trust UNKNOWN
    (dbt macro publication_course_categories), whose parent is the RHF UNKNOWN, whose parent
    is the country: so the margins of disclosure control still add up."""
    rows = con.execute("select distinct case when rhf = 'UNKNOWN' then 'UNKNOWN' else health_trust end, rhf "
                       "from marts.fct_treatment_courses").fetchall()
    parents = {("health_trust", trust): ("rhf", rhf) for trust, rhf in rows}
    parents.update({("rhf", rhf): ("country", "NO") for _, rhf in rows})
    return parents
