"""Course-level micro-data for the disclosure tests: a real in-memory DuckDB with the two marts
the indicators read and the publication models computed from them by their dbt-compiled SQL,
and an independent check of the published tables (pandas/numpy only)."""

from __future__ import annotations

import functools
import tempfile
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from workhealth.publish.indicators import STATES

TRUSTS = {"T0": "R1", "T1": "R1", "T2": "R1", "T3": "R2", "T4": "R3"}  # R2 and R3 have one trust
GROUPS = ("MSK", "MENTAL", "OTHER", "UNKNOWN")
#: The age groups of the marts (codelists/age_groups.csv); None: an age outside every band.
AGE_GROUPS = ("16-29", "30-49", "50-66", "67+", None)
#: The cooperation attributes, written out (not imported: the tests check the spec against them).
COOPERATION = ("nav_measure_6m", "ips_12m", "gp_before_3m", "gp_after_3m", "municipal_mental_health_after_3m")
COUNTS = {"courses": ("n_courses", "n_patients"), "outcomes": ("n_followed_3m", "n_followed_6m", "n_followed_12m"),
          "cooperation": ("n_courses",) + tuple(f"n_known_{a}" for a in COOPERATION),
          "trajectories": ("n",)}
RATIOS = {  # ratio -> its unit count column
    "courses": {"share_on_sick_leave_at_start": "n_courses"},
    "outcomes": {"rtw_rate_3m": "n_followed_3m", "rtw_rate_6m": "n_followed_6m", "rtw_rate_12m": "n_followed_12m",
                 "hrb_rate_12m": "n_followed_12m"},
    "cooperation": {f"share_{a}": f"n_known_{a}" for a in COOPERATION},
    "trajectories": {f"share_{s}": "n" for s in STATES},
}
_COURSE_CATEGORIES = ("care_level", "diagnosis_group", "era", "age_group")
CATEGORIES = {"courses": _COURSE_CATEGORIES, "outcomes": _COURSE_CATEGORIES, "cooperation": _COURSE_CATEGORIES,
              "trajectories": ("diagnosis_group",)}


def course_frame(rows: list[dict]) -> pd.DataFrame:
    """Fill a list of partial course dicts into marts.fct_treatment_courses rows. ``coop``: the
    five cooperation attributes (True, False or None = missing), by default all False."""
    out = []
    for i, r in enumerate(rows):
        year = r.get("year", 2017)
        start = date(year, r.get("month", 3), 1)
        s3, s6, s12 = r.get("states", ("WORK", "WORK", "WORK"))
        sick = r.get("sick_days")
        out.append(dict(
            course_id=f"E{i:05d}", person_id=r.get("person", f"P{i:05d}"), health_trust=r.get("trust", "T0"),
            rhf=TRUSTS[r.get("trust", "T0")], course_start=start, course_end=date(year, r.get("end_month", 4), 1),
            care_level=r.get("care", 3), diagnosis_group=r.get("group", "MSK"),
            era="RASKERE_TILBAKE" if year < 2018 else "HELSE_OG_ARBEID", waiting_days=r.get("waiting", 30),
            on_sick_leave_at_start=sick is not None, sick_leave_days_at_start=sick,
            state_3m=s3, state_6m=s6, state_12m=s12,
            rtw_3m=None if s3 is None else s3 == "WORK", rtw_6m=None if s6 is None else s6 == "WORK",
            rtw_12m=None if s12 is None else s12 == "WORK",
            hrb_12m=None if s12 is None else s12 in ("UFOR", "AAP", "SYK"),
            age_group=r.get("age", "30-49"),
            **dict(zip(COOPERATION, r.get("coop", (False,) * len(COOPERATION))))))
    return pd.DataFrame(out)


def trajectory_frame(courses: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for cid in courses["course_id"]:
        known = rng.integers(-12, 25, size=2)
        lo, hi = int(known.min()), int(known.max())
        for t in range(lo, hi + 1):
            rows.append((cid, t, STATES[int(rng.choice(6, p=[.5, .2, .12, .08, .08, .02]))]))
    return pd.DataFrame(rows, columns=["course_id", "month_offset", "state"])


#: The in-memory database's name: the catalog dbt writes into the compiled SQL (the file's stem).
CATALOG = "micro"
PUBLICATION_MODELS = ("pub_courses", "pub_outcomes", "pub_cooperation", "pub_trajectories")


@functools.lru_cache(maxsize=1)
def publication_sql() -> dict[str, str]:
    """The compiled SQL of the publication models (``dbt compile`` once per test session)."""
    import dataclasses

    from workhealth import transform
    from workhealth.core import settings

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        s = dataclasses.replace(settings.load(), warehouse=root / f"{CATALOG}.duckdb", out=root / "out",
                                duckdb_memory_limit="1GB", duckdb_threads=1)
        result = transform.dbt(["compile", "--select", "publication"], s)
        assert result.returncode == 0, result.output_tail
        compiled = s.out / "dbt" / "target" / "compiled" / "workhealth" / "models" / "publication"
        return {name: (compiled / f"{name}.sql").read_text() for name in PUBLICATION_MODELS}


def marts_connection(courses: pd.DataFrame, trajectories: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """The two marts from the frames, and the publication models built from them."""
    con = duckdb.connect()
    con.execute(f"attach ':memory:' as {CATALOG}")
    con.execute(f"use {CATALOG}")
    con.execute("create schema marts")
    con.register("c", courses)
    con.register("t", trajectories)
    con.execute("""create table marts.fct_treatment_courses as select course_id, person_id, health_trust, rhf,
        cast(course_start as date) as course_start, cast(course_end as date) as course_end,
        cast(care_level as integer) as care_level, diagnosis_group, era, cast(waiting_days as integer) as waiting_days,
        on_sick_leave_at_start, cast(sick_leave_days_at_start as integer) as sick_leave_days_at_start,
        cast(state_3m as varchar) as state_3m, cast(state_6m as varchar) as state_6m,
        cast(state_12m as varchar) as state_12m, cast(rtw_3m as boolean) as rtw_3m, cast(rtw_6m as boolean) as rtw_6m,
        cast(rtw_12m as boolean) as rtw_12m, cast(hrb_12m as boolean) as hrb_12m,
        cast(age_group as varchar) as age_group, """
        + ", ".join(f"cast({a} as boolean) as {a}" for a in COOPERATION) + " from c")
    con.execute("""create table marts.fct_course_trajectories as
        select course_id, cast(month_offset as integer) as month_offset, cast(state as varchar) as state from t""")
    con.execute("create schema publication")
    for name, sql in publication_sql().items():
        con.execute(f"create table publication.{name} as {sql}")
    return con


def publish_tables(courses: pd.DataFrame, trajectories: pd.DataFrame):
    """(unsuppressed tables, published tables) through the real publication models and suppression."""
    from workhealth.publish import disclosure, indicators

    con = marts_connection(courses, trajectories)
    try:
        raw = indicators.compute(con)
        parents = indicators.geo_parents(con)
    finally:
        con.close()
    specs = {t.name: t for t in indicators.TABLES}
    published = disclosure.suppress_release({k: v.copy() for k, v in raw.items()}, specs, parents)
    return raw, published


# ---- independent checks -------------------------------------------------------------------

def margin_groups(df: pd.DataFrame, table: str) -> list[list[int]]:
    """Row positions of every margin equation [total, parts...], derived from the dimension values."""
    dims = [c for c in ("year", "geo_level", "geo_code", "care_level", "diagnosis_group", "era", "age_group",
                        "month_offset")
            if c in df.columns]
    rows = {tuple(r): i for i, r in enumerate(df[dims].itertuples(index=False, name=None))}
    groups: dict[tuple, list[int]] = {}
    gl, gc = dims.index("geo_level"), dims.index("geo_code")
    for key, i in rows.items():
        parents = []
        if key[gl] == "health_trust":
            parents.append(("geo", gl, gc, ("rhf", TRUSTS[key[gc]])))
        elif key[gl] == "rhf":
            parents.append(("geo", gl, gc, ("country", "NO")))
        for dim in CATEGORIES[table]:
            d = dims.index(dim)
            if key[d] != "all":
                parents.append((dim, d, None, "all"))
        for name, a, b, value in parents:
            pk = list(key)
            if b is None:
                pk[a] = value
            else:
                pk[a], pk[b] = value
            groups.setdefault((name, tuple(pk)), [rows[tuple(pk)]]).append(i)
    return list(groups.values())


#: A median whose unit count is a ratio's numerator: its flag no_units tells the reader that
#: numerator is 0 (the courses on sick leave at start).
MEDIAN_UNITS_OF = {"courses": {"share_on_sick_leave_at_start": "median_sick_leave_days_at_start"}}


def unknown_cells(pub: pd.DataFrame, table: str) -> dict[str, np.ndarray]:
    """Per additive quantity: which cells a reader does not know (counts and rate numerators)."""
    out = {c: pub[c].isna().to_numpy() for c in COUNTS[table]}
    for ratio, units in RATIOS[table].items():
        known_zero = pub[units].notna().to_numpy() & (pub[units].fillna(-1).to_numpy() == 0)
        median = MEDIAN_UNITS_OF.get(table, {}).get(ratio)
        if median:
            known_zero |= (pub[f"{median}_flag"] == "no_units").fillna(False).to_numpy(dtype=bool)
        out[f"numerator of {ratio}"] = pub[ratio].isna().to_numpy() & ~known_zero
    return out


def true_values(raw: pd.DataFrame, table: str) -> dict[str, np.ndarray]:
    """The true value of every quantity of :func:`unknown_cells` (a numerator over 0 units is 0)."""
    out = {c: raw[c].to_numpy(dtype="float64") for c in COUNTS[table]}
    for ratio in RATIOS[table]:
        out[f"numerator of {ratio}"] = raw[f"_num_{ratio}"].fillna(0).to_numpy(dtype="float64")
    return out


def given_by_zeros(unknown: np.ndarray, values: np.ndarray, groups: list[list[int]], block: np.ndarray) -> set[int]:
    """Unknown cells determined by the equations whose published cells are all 0 alone: such a
    cell is 0 itself, and only a zero complement (never chosen) could hide it."""
    zero_groups = [g for g in groups if all(values[i] == 0 for i in g if not unknown[i])]
    return set(determined(unknown, zero_groups, block))


_DETERMINED: dict = {}


def determined(unknown: np.ndarray, groups: list[list[int]], block: np.ndarray) -> list[int]:
    """Unknown cells fixed by the margin equations: a cell is determined iff its unit vector lies
    in the row space of the equations restricted to the unknown cells. Per block (year, month
    offset): equations never cross blocks. (Remembered per unknown pattern and equations: many
    quantities of a table share a pattern.)"""
    from workhealth.publish.disclosure import _one_blas_thread

    key = (unknown.tobytes(), block.tobytes(), tuple(map(tuple, groups)))
    if key not in _DETERMINED:
        if len(_DETERMINED) > 64:
            _DETERMINED.clear()
        with _one_blas_thread():  # numpy's OpenBLAS threads are slow on a busy machine
            _DETERMINED[key] = _determined(unknown, groups, block)
    return list(_DETERMINED[key])


def _determined(unknown: np.ndarray, groups: list[list[int]], block: np.ndarray) -> list[int]:
    found = []
    for b in np.unique(block[unknown]):
        eqs = [g for g in groups if block[g[0]] == b and unknown[g].any()]
        # Connected parts (equations sharing an unknown cell) are independent: solve each alone.
        label = {int(c): int(c) for c in np.flatnonzero(unknown & (block == b))}

        def root(x):
            while label[x] != x:
                x = label[x]
            return x

        for g in eqs:
            cells = [i for i in g if unknown[i]]
            for c in cells[1:]:
                label[root(c)] = root(cells[0])
        parts: dict[int, list] = {}
        for g in eqs:
            parts.setdefault(root(next(i for i in g if unknown[i])), []).append(g)
        for part in parts.values():
            cells = sorted({i for g in part for i in g if unknown[i]})
            col = {c: j for j, c in enumerate(cells)}
            a = np.zeros((len(part), len(cells)))
            for r, g in enumerate(part):
                for pos, i in enumerate(g):
                    if unknown[i]:
                        a[r, col[i]] += 1 if pos == 0 else -1
            # Row space basis from a thin SVD: e_j lies in it iff its projection has norm 1.
            _, s, vh = np.linalg.svd(a, full_matrices=False)
            basis = vh[: int((s > 1e-9 * max(1.0, s[0])).sum())]
            found += [c for c, j in col.items() if (basis[:, j] ** 2).sum() > 1 - 1e-9]
    return found


def block_keys(df: pd.DataFrame) -> np.ndarray:
    cols = [c for c in ("year", "month_offset") if c in df.columns]
    return df[cols].astype(str).agg("|".join, axis=1).to_numpy()
