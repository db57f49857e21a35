"""The three indicator tables of indicators.md section 6, computed from the marts in DuckDB SQL.

One ``GROUP BY year, <geo rollup>, CUBE(<categories>)`` per table gives every combination with at
least one course, totals included (``all``). Each measure comes with the columns disclosure
control needs but that are not published:

- ``_units_<measure>``: the courses a rate, share or median is computed over (indicators.md:
  "each measure's own unit count");
- ``_num_<measure>``: the additive numerator of a rate or share (courses on sick leave, courses
  back at work, ...), so secondary suppression can protect ``numerator = rate * units``.

The tables come back unsuppressed; ``workhealth.publish.disclosure`` suppresses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pandas as pd

STATES = ("WORK", "SYK", "AAP", "UFOR", "NONE", "DEAD")
OFFSETS = range(-12, 25)
K = ("3m", "6m", "12m")


@dataclass(frozen=True)
class Measure:
    name: str
    #: ``count`` (published count; suppressed at 1-4), ``ratio`` (rate/share over units; additive
    #: numerator) or ``median`` (over units; no numerator).
    kind: str
    #: The count measure whose suppression this one follows (ratios: their unit count).
    follows: str | None = None
    decimals: int | None = None


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
    dims=("year", "geo_level", "geo_code", "care_level", "diagnosis_group", "era"),
    measures=(
        Measure("n_courses", "count"),
        # Follows n_courses: a patient count next to a suppressed course count would nearly
        # always give it away (most patients have one course).
        Measure("n_patients", "count", follows="n_courses"),
        Measure("share_on_sick_leave_at_start", "ratio", follows="n_courses", decimals=4),
        Measure("median_sick_leave_days_at_start", "median", decimals=1),
        Measure("median_waiting_days", "median", decimals=1),
    ),
    categories=("care_level", "diagnosis_group", "era"),
    geo_levels=("country", "rhf", "health_trust"),
)

OUTCOMES = TableSpec(
    "outcomes",
    dims=COURSES.dims,
    measures=tuple(
        m for k in K for m in (Measure(f"n_followed_{k}", "count"),
                               Measure(f"rtw_rate_{k}", "ratio", follows=f"n_followed_{k}", decimals=4))
    ) + (Measure("hrb_rate_12m", "ratio", follows="n_followed_12m", decimals=4),),
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

TABLES = (COURSES, OUTCOMES, TRAJECTORIES)

# Geography as a rollup: country > rhf > health_trust. ``grouping()`` tells which level a row is.
_GEO_SELECT = """
    case when grouping(rhf) = 1 then 'country'
         when grouping(health_trust) = 1 then 'rhf' else 'health_trust' end as geo_level,
    case when grouping(rhf) = 1 then 'NO'
         when grouping(health_trust) = 1 then rhf else health_trust end as geo_code"""

# trajectories have no health_trust level
_GEO_SELECT_RHF = """
    case when grouping(rhf) = 1 then 'country' else 'rhf' end as geo_level,
    case when grouping(rhf) = 1 then 'NO' else rhf end as geo_code"""


def _cat(col: str) -> str:
    return f"case when grouping({col}) = 1 then 'all' else {col} end as {col}"


_COURSE_BASE = """
    select person_id, rhf, health_trust,
           coalesce(cast(care_level as varchar), 'UNKNOWN') as care_level,
           diagnosis_group, era, course_start, course_end,
           on_sick_leave_at_start, sick_leave_days_at_start, waiting_days,
           state_3m, state_6m, state_12m, rtw_3m, rtw_6m, rtw_12m, hrb_12m
    from marts.fct_treatment_courses"""

def _ratio(flag: str, name: str) -> list[str]:
    """A share of a boolean column, with the unit count and numerator disclosure control needs."""
    return [f"avg(cast({flag} as integer)) as {name}",
            f"count({flag}) as _units_{name}",
            f"sum(cast({flag} as integer)) as _num_{name}"]


def _course_cube(year_of: str, measures: list[str]) -> str:
    """Courses by the year of ``year_of``, the geography rollup and every combination of the
    categories (courses and outcomes share this grouping; only the year's date differs)."""
    return f"""
with c as ({_COURSE_BASE})
select year({year_of}) as year, {_GEO_SELECT},
       {_cat('care_level')}, {_cat('diagnosis_group')}, {_cat('era')},
       {', '.join(measures)}
from c
group by year({year_of}), rollup(rhf, health_trust), cube(care_level, diagnosis_group, era)
"""


def courses_sql() -> str:
    # on_sick_leave_at_start is never null (fct_treatment_courses), so its units are all courses
    return _course_cube("course_start", [
        "count(*) as n_courses",
        "count(distinct person_id) as n_patients",
        *_ratio("on_sick_leave_at_start", "share_on_sick_leave_at_start"),
        "median(sick_leave_days_at_start) as median_sick_leave_days_at_start",
        "count(sick_leave_days_at_start) as _units_median_sick_leave_days_at_start",
        "median(waiting_days) as median_waiting_days",
        "count(waiting_days) as _units_median_waiting_days",
    ])


def outcomes_sql() -> str:
    measures = []
    for k in K:
        measures += [f"count(state_{k}) as n_followed_{k}", *_ratio(f"rtw_{k}", f"rtw_rate_{k}")]
    return _course_cube("course_end", measures + _ratio("hrb_12m", "hrb_rate_12m"))


def trajectories_sql() -> str:
    shares = []
    for st in STATES:
        shares += [f"count(state) filter (where state = '{st}') as _num_share_{st}",
                   f"count(state) as _units_share_{st}"]
    # Every course gets all 37 offsets (so every combination with a course has all of them);
    # n = the courses with a known state at that offset.
    return f"""
with c as (
    select course_id, year(course_start) as year, rhf, diagnosis_group
    from marts.fct_treatment_courses
),
course_offsets as (
    select c.*, o.range as month_offset, t.state
    from c
    cross join range({OFFSETS.start}, {OFFSETS.stop}) o
    left join marts.fct_course_trajectories t
      on t.course_id = c.course_id and t.month_offset = o.range
)
select year, {_GEO_SELECT_RHF}, {_cat('diagnosis_group')}, month_offset,
       count(state) as n,
       {', '.join(shares)}
from course_offsets
group by year, month_offset, rollup(rhf), cube(diagnosis_group)
"""


_SQL = {"courses": courses_sql, "outcomes": outcomes_sql, "trajectories": trajectories_sql}


def compute(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """The three tables, unsuppressed, sorted by their dimensions, with ``_units_``/``_num_`` columns."""
    out = {}
    for spec in TABLES:
        df = con.execute(_SQL[spec.name]()).df()
        if spec.name == "trajectories":
            for st in STATES:
                units = df[f"_units_share_{st}"]
                df[f"share_{st}"] = (df[f"_num_share_{st}"] / units).where(units > 0)
        df = _sort(df, spec)
        for m in spec.measures:
            if m.kind == "count":
                df[m.name] = df[m.name].astype("int64")
        out[spec.name] = df
    return out


_GEO_ORDER = {"country": 0, "rhf": 1, "health_trust": 2}


def _sort(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    keys = df[list(spec.dims)].copy()
    keys["geo_level"] = keys["geo_level"].map(_GEO_ORDER)
    for col in spec.categories:
        keys[col] = keys[col].map(lambda v: "" if v == "all" else v)  # 'all' first
    order = keys.sort_values(list(spec.dims)).index
    return df.loc[order].reset_index(drop=True)


def geo_parents(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple[str, str]]:
    """(geo_level, geo_code) -> its parent: a trust's RHF, an RHF's country (the geo margins)."""
    rows = con.execute("select distinct health_trust, rhf from marts.fct_treatment_courses").fetchall()
    parents = {("health_trust", trust): ("rhf", rhf) for trust, rhf in rows}
    parents.update({("rhf", rhf): ("country", "NO") for _, rhf in rows})
    return parents
