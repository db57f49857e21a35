"""The small frames GX validates, and the sample queries for failing rows, as DuckDB SQL.

GX cannot run its SQL path against DuckDB 2.0 (STACK_NOTES), and pulling national-scale
marts into pandas would cost gigabytes. So every aggregation runs in DuckDB over a read-only
connection: each frame has one row per period (per register and period, per health trust and
period) holding counts of violating rows or rates, a few hundred rows at most, and GX checks
those on a pandas batch. Sample rows are fetched only for what failed, with pseudonymous ids
(episode_id, person_id, course_id, ...) or delivery and row numbers, never free-text columns.

``period`` is always ``YYYY-MM``: the delivery period for raw registers, the month of end_date
for coding quality, the month (of the person-month, course_start, case_start, ...) for marts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pandas as pd

from workhealth.core.registers import REGISTERS

ACCEPTED = "(SELECT delivery FROM audit.deliveries WHERE status = 'accepted')"
PERSON_ID_REGEX = "[0-9a-f]{16}"
#: Registers whose first delivered period is an opening balance (the whole stock), not a month's flow.
OPENING_BALANCE_REGISTERS = ("nav_aap", "nav_disability")
#: Registers whose keys must also be unique across periods (an episode or certificate is delivered once;
#: decisions reappear by design, employment keys carry the month, population is a snapshot).
KEYS_UNIQUE_ACROSS_PERIODS = ("npr_episodes", "nav_sickleave")
#: Volumes are compared with the median of this many previous periods (robust to one odd month).
VOLUME_BASE_PERIODS = 3
#: NAV registers where end_date before start_date is a contract breach (NPR's is a coding measure).
DATE_ORDER_REGISTERS = ("nav_sickleave", "nav_aap", "nav_disability")


@dataclass(frozen=True)
class Frame:
    name: str
    #: Columns that identify a row (reported with every finding).
    index: tuple[str, ...]
    build: Callable[[duckdb.DuckDBPyConnection, dict], pd.DataFrame]


def _period(expr: str) -> str:
    return f"strftime({expr}, '%Y-%m')"


def _lit(v) -> str:
    return "'" + str(v).replace("'", "''") + "'" if isinstance(v, str) else str(v)


def _table_exists(con, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                            [schema, table]).fetchone()[0])


# -------------------------------------------------------------------------------------------
# raw registers
# -------------------------------------------------------------------------------------------


def _outside_value_set_expr(register: str) -> str:
    parts = []
    for c in REGISTERS[register].columns:
        if c.domain is None:
            continue
        q = f'"{c.name}"'
        if isinstance(c.domain, tuple):
            lo, hi = c.domain
            parts.append(f"({q} IS NOT NULL AND {q} NOT BETWEEN {lo} AND {hi})")
        else:
            parts.append(f"({q} IS NOT NULL AND {q} NOT IN ({', '.join(_lit(v) for v in sorted(c.domain))}))")
    if register == "npr_episodes":
        parts.append("(health_trust IS NULL OR health_trust NOT IN (SELECT health_trust FROM codelists.health_trusts))")
    return " OR ".join(parts) or "false"


def _key(register: str) -> str:
    """The key as one comparable value (the columns joined; within a period the month is fixed)."""
    key = REGISTERS[register].key
    return f'"{key[0]}"' if len(key) == 1 else " || '|' || ".join(f'CAST("{k}" AS VARCHAR)' for k in key)


def _raw_register_sql(register: str) -> str:
    reg = REGISTERS[register]
    key_null = " OR ".join(f'"{k}" IS NULL' for k in reg.key)
    date_order = "count(*) FILTER (WHERE end_date < start_date)" if register in DATE_ORDER_REGISTERS else "0"
    unknown_unit = ("count(*) FILTER (WHERE unit_id IS NULL OR NOT starts_with(unit_id, health_trust || '-')) "
                    "/ count(*)" if register == "npr_episodes" else "NULL")
    # rows whose key also occurs in another accepted period (one grouping over the register)
    cross = f"""SELECT _period, count(*) AS n FROM rows WHERE {reg.key[0]} IN (
                    SELECT {reg.key[0]} FROM rows GROUP BY 1 HAVING min(_period) <> max(_period))
                GROUP BY 1""" if register in KEYS_UNIQUE_ACROSS_PERIODS else \
        "SELECT NULL::VARCHAR AS _period, 0 AS n WHERE false"
    return f"""
    WITH rows AS NOT MATERIALIZED (SELECT * FROM raw.{register} WHERE _delivery IN {ACCEPTED}),
    log AS (SELECT period AS _period, sum(rows_loaded) AS rows_loaded FROM audit.deliveries
            WHERE status = 'accepted' AND register = '{register}' GROUP BY 1),
    cross_period AS ({cross}),
    rows_period AS (
        SELECT _period,
               count(*) AS n_rows,
               count(*) FILTER (WHERE person_id IS NULL OR NOT regexp_full_match(person_id, '{PERSON_ID_REGEX}'))
                   AS n_invalid_person_ids,
               count(*) FILTER (WHERE {key_null}) AS n_key_null,
               count(*) FILTER (WHERE {_outside_value_set_expr(register)}) AS n_outside_value_set,
               {date_order} AS n_date_order_violations,
               {unknown_unit} AS unknown_unit_rate
        FROM rows GROUP BY _period
    )
    SELECT '{register}' AS register, _period AS period, n_rows,
           abs(n_rows - coalesce(log.rows_loaded, 0)) AS n_rows_differing_from_log,
           n_invalid_person_ids, n_key_null + coalesce(cross_period.n, 0) AS n_invalid_keys, n_outside_value_set,
           n_date_order_violations, CAST(unknown_unit_rate AS DOUBLE) AS unknown_unit_rate
    FROM rows_period LEFT JOIN cross_period USING (_period) LEFT JOIN log USING (_period)
    """


def _repeated_keys_within(con, register: str, period: str) -> int:
    """Extra rows of keys that repeat within the period (exact; a hash table over the period's rows)."""
    n, distinct = con.execute(f"""SELECT count(*), count(DISTINCT {_key(register)}) FROM raw.{register}
                                  WHERE _delivery IN {ACCEPTED} AND _period = ?""", [period]).fetchone()
    return n - distinct


def raw_register_periods(con, params: dict) -> pd.DataFrame:
    frames = [con.execute(_raw_register_sql(r)).df() for r in REGISTERS]
    df = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else frames[0]
    df = df.sort_values(["register", "period"]).reset_index(drop=True)
    # Ingestion checks every delivery's keys before commit, and a period has one accepted delivery,
    # so keys are re-counted exactly (the costly part: 3 M employment rows a month) only where the
    # rows differ from what the delivery log says was loaded.
    for i in df.index[df["n_rows_differing_from_log"] > 0]:
        df.at[i, "n_invalid_keys"] += _repeated_keys_within(con, df.at[i, "register"], df.at[i, "period"])
    # the base is the median of the (up to) VOLUME_BASE_PERIODS previous delivered periods, leaving
    # out an opening balance; the first period of a register has no base
    first = df.groupby("register")["period"].transform("min")
    opening = df["register"].isin(OPENING_BALANCE_REGISTERS) & (df["period"] == first)
    counted = df["n_rows"].where(~opening).astype("float64")
    base = counted.groupby(df["register"]).transform(
        lambda x: x.shift(1).rolling(VOLUME_BASE_PERIODS, min_periods=1).median())
    df["volume_ratio"] = (df["n_rows"] / base).astype("float64")
    return df


# -------------------------------------------------------------------------------------------
# coding quality
# -------------------------------------------------------------------------------------------

_COUNTS = ("n_episodes", "n_work_related", "n_invalid_main_diagnosis", "n_missing_referral",
           "n_referral_after_start", "n_end_before_start", "n_work_unit_episodes", "n_work_unit_not_work_related")
#: rate name -> (numerator, denominator), as in marts.coding_quality_monthly (work_unit_gap = its
#: work_unit_not_work_related_rate, the unit-based coding gap).
RATES = {
    "work_related_rate": ("n_work_related", "n_episodes"),
    "invalid_main_diagnosis_rate": ("n_invalid_main_diagnosis", "n_episodes"),
    "missing_referral_rate": ("n_missing_referral", "n_episodes"),
    "referral_after_start_rate": ("n_referral_after_start", "n_episodes"),
    "end_before_start_rate": ("n_end_before_start", "n_episodes"),
    "work_unit_gap_rate": ("n_work_unit_not_work_related", "n_work_unit_episodes"),
}


def _rates_sql() -> str:
    return ",\n".join(f"CAST({n} AS DOUBLE) / nullif({d}, 0) AS {name}" for name, (n, d) in RATES.items())


def coding_quality_national(con, params: dict) -> pd.DataFrame:
    sums = ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in _COUNTS)
    # the change is only against the calendar month before (none after a gap in the months)
    return con.execute(f"""
        WITH months AS (SELECT month, {sums} FROM marts.coding_quality_monthly GROUP BY month),
        rated AS (SELECT *, {_rates_sql()} FROM months)
        SELECT {_period('month')} AS period, * EXCLUDE (month),
               CASE WHEN lag(month) OVER w = month - INTERVAL 1 MONTH
                    THEN abs(invalid_main_diagnosis_rate - lag(invalid_main_diagnosis_rate) OVER w)
               END AS invalid_main_diagnosis_rate_abs_change
        FROM rated WINDOW w AS (ORDER BY month)
        ORDER BY month
    """).df()


def _wilson_lower(numerator: str, denominator: str, z: float) -> str:
    """Lower end of the Wilson score interval of numerator/denominator (NULL when denominator is 0)."""
    n, p = f"CAST({denominator} AS DOUBLE)", f"(CAST({numerator} AS DOUBLE) / nullif({denominator}, 0))"
    zz = float(z) ** 2
    return (f"CASE WHEN {denominator} > 0 THEN greatest(0, ({p} + {zz} / (2 * {n}) - {float(z)} * "
            f"sqrt({p} * (1 - {p}) / {n} + {zz} / (4 * {n} * {n}))) / (1 + {zz} / {n})) END")


def coding_quality_by_trust(con, params: dict) -> pd.DataFrame:
    z = params["z"]
    lowers = ",\n".join(f"{_wilson_lower(RATES[r][0], RATES[r][1], z)} AS {r}_lower"
                        for r in ("work_unit_gap_rate", "invalid_main_diagnosis_rate", "missing_referral_rate"))
    return con.execute(f"""
        SELECT {_period('month')} AS period, health_trust, {', '.join(_COUNTS)},
               {_rates_sql()},
               {lowers}
        FROM marts.coding_quality_monthly
        ORDER BY health_trust, month
    """).df()


# -------------------------------------------------------------------------------------------
# public marts
# -------------------------------------------------------------------------------------------


def _duplicates_sql(table: str, key: str, period_expr: str) -> str:
    """Extra rows per period for a key that repeats (period of the key's earliest row)."""
    return f"""SELECT {_period('first_at')} AS period, sum(n - 1) AS value
               FROM (SELECT {key}, min({period_expr}) AS first_at, count(*) AS n FROM {table}
                     GROUP BY {key} HAVING count(*) > 1)
               GROUP BY 1"""


def _person_month_counts(con, states: str) -> pd.DataFrame:
    """Per month: extra rows of persons with several, person-months without exactly one state,
    states outside their set.

    Fast path (no hash table over 85 M rows at national scale): a month is right when its row
    count and the sum of hash(person_id) equal those of dim_person and no state is missing. Only
    months that fail it are counted exactly with DISTINCT (a wrong month passing would need a
    missing and a repeated person with equal 64-bit hashes).
    """
    n_persons, = con.execute("SELECT count(DISTINCT person_id) FROM marts.dim_person").fetchone()
    pm = con.execute(f"""
        WITH dim AS (SELECT count(DISTINCT person_id) AS n, sum(DISTINCT hash(person_id)) AS h FROM marts.dim_person),
        months AS (
            SELECT month, count(*) AS n_rows, sum(hash(person_id)) AS person_hash,
                   count(*) FILTER (WHERE state IS NULL) AS n_null_states,
                   count(*) FILTER (WHERE state NOT IN ({states})) AS n_states_outside_set
            FROM marts.fct_person_month GROUP BY month
        )
        SELECT {_period('month')} AS period, month, n_states_outside_set,
               NOT (n_rows = dim.n AND person_hash = dim.h AND n_null_states = 0) AS suspect
        FROM months CROSS JOIN dim ORDER BY month
    """).df()
    df = pd.DataFrame({"period": pm["period"], "n_duplicate_person_months": 0,
                       "n_person_months_without_one_state": 0, "n_states_outside_set": pm["n_states_outside_set"]})
    suspect = pm["suspect"].astype(bool)
    for i in pm.index[suspect]:
        n_rows, n_distinct, n_with_state = con.execute(
            """SELECT count(*), count(DISTINCT person_id), count(DISTINCT person_id) FILTER (WHERE state IS NOT NULL)
               FROM marts.fct_person_month WHERE month = ?""", [pm.at[i, "month"]]).fetchone()
        df.at[i, "n_duplicate_person_months"] = n_rows - n_distinct
        # persons of dim_person without a state that month + extra rows of persons with several
        df.at[i, "n_person_months_without_one_state"] = max(n_persons - n_with_state, 0) + (n_rows - n_distinct)
    return df


def public_marts_periods(con, params: dict) -> pd.DataFrame:
    states = ", ".join(_lit(s) for s in params["states"])
    rate_columns = [r for r in ("work_related_rate", "invalid_main_diagnosis_rate", "missing_referral_rate",
                                "referral_after_start_rate", "end_before_start_rate",
                                "work_unit_not_work_related_rate")]
    outside = " OR ".join(f"{c} NOT BETWEEN 0 AND 1" for c in rate_columns)
    df = _person_month_counts(con, states)
    metrics = {
        "n_duplicate_course_ids": _duplicates_sql("marts.fct_treatment_courses", "course_id", "course_start"),
        "n_duplicate_trajectory_keys": _duplicates_sql("marts.fct_course_trajectories", "course_id, month_offset",
                                                        "month"),
        "n_duplicate_case_ids": _duplicates_sql("marts.fct_sick_leave_cases", "case_id", "case_start"),
        "n_duplicate_person_ids": """SELECT first_at AS period, sum(n - 1) AS value FROM (
                SELECT person_id, min(snapshot_period) AS first_at, count(*) AS n FROM marts.dim_person
                GROUP BY person_id HAVING count(*) > 1) GROUP BY 1""",
        "n_duplicate_coding_quality_keys": _duplicates_sql("marts.coding_quality_monthly", "health_trust, month",
                                                           "month"),
        "n_course_end_before_start": f"""SELECT {_period('course_start')} AS period, count(*) AS value
                FROM marts.fct_treatment_courses WHERE course_end < course_start GROUP BY 1""",
        "n_shares_outside_unit_interval": f"""SELECT {_period('month')} AS period, count(*) AS value
                FROM marts.coding_quality_monthly WHERE {outside} GROUP BY 1""",
    }
    df = df.set_index("period")
    for column, sql in metrics.items():
        found = con.execute(sql).df().set_index("period")["value"].rename(column)
        df = df.join(found, how="outer")
    return df.fillna(0).astype("int64").reset_index().sort_values("period").reset_index(drop=True)


FRAMES: dict[str, Frame] = {f.name: f for f in (
    Frame("raw_register_periods", ("register", "period"), raw_register_periods),
    Frame("coding_quality_national", ("period",), coding_quality_national),
    Frame("coding_quality_by_trust", ("period", "health_trust"), coding_quality_by_trust),
    Frame("public_marts_periods", ("period",), public_marts_periods),
)}


# -------------------------------------------------------------------------------------------
# sample failing rows (pseudonymous ids only)
# -------------------------------------------------------------------------------------------


def _month_range(period_column: str) -> str:
    return f"{period_column} >= CAST(? || '-01' AS DATE) AND {period_column} < CAST(? || '-01' AS DATE) + INTERVAL 1 MONTH"


def _episodes(condition: str) -> tuple[str, bool]:
    return (f"""SELECT episode_id, person_id, health_trust, unit_id, start_date, end_date, referral_date,
                       main_diagnosis
                FROM intermediate.int_episodes_classified
                WHERE {_month_range('end_date')} AND ({condition}) {{trust}}
                ORDER BY health_trust, episode_id""", True)


def _raw(register: str, condition: str, columns: str = "_delivery AS delivery, _row AS row") -> str:
    return (f"SELECT {columns} FROM raw.{register} WHERE _delivery IN {ACCEPTED} AND _period = ? "
            f"AND ({condition}) ORDER BY _row")


def _raw_sample(kind: str, register: str) -> str | None:
    reg = REGISTERS[register]
    key = ", ".join(f'"{k}"' for k in reg.key)
    if kind == "invalid_person_ids":  # the value itself is not shown: it failed the pseudonym format
        return _raw(register, f"person_id IS NULL OR NOT regexp_full_match(person_id, '{PERSON_ID_REGEX}')")
    if kind == "invalid_keys":
        null = " OR ".join(f'"{k}" IS NULL' for k in reg.key)
        return _raw(register, f"{null} OR ({key}) IN (SELECT ({key}) FROM raw.{register} WHERE _delivery IN "
                              f"{ACCEPTED} GROUP BY ALL HAVING count(*) > 1)", f"_delivery AS delivery, _row AS row, {key}")
    if kind == "outside_value_set":
        return _raw(register, _outside_value_set_expr(register), f"_delivery AS delivery, _row AS row, {key}")
    if kind == "date_order_violations" and register in DATE_ORDER_REGISTERS:
        return _raw(register, "end_date < start_date", f"{key}, person_id, start_date, end_date")
    if kind == "unknown_units" and register == "npr_episodes":
        return _raw(register, "unit_id IS NULL OR NOT starts_with(unit_id, health_trust || '-')",
                    "episode_id, person_id, health_trust, unit_id")
    return None


EPISODE_SAMPLES = {
    "invalid_main_diagnosis": "NOT is_main_diagnosis_valid",
    "missing_referral": "referral_date IS NULL",
    "referral_after_start": "referral_date > start_date",
    "end_before_start": "end_date < start_date",
    "work_unit_gap": "is_at_work_unit AND NOT is_work_related",
}

MART_SAMPLES = {
    "duplicate_person_months": f"""SELECT person_id, strftime(month, '%Y-%m') AS month, count(*) AS n_rows,
            string_agg(state, ',') AS states FROM marts.fct_person_month WHERE {_month_range('month')}
            GROUP BY person_id, month HAVING count(*) > 1 ORDER BY person_id""",
    "person_months_without_one_state": f"""
            SELECT person_id, ? AS month, count(state) AS n_states FROM marts.dim_person
            LEFT JOIN (SELECT person_id, state FROM marts.fct_person_month WHERE {_month_range('month')}) USING (person_id)
            GROUP BY person_id HAVING count(state) <> 1 ORDER BY person_id""",
    "states_outside_set": f"""SELECT person_id, strftime(month, '%Y-%m') AS month, state FROM marts.fct_person_month
            WHERE {_month_range('month')} AND state NOT IN ({{states}}) ORDER BY person_id""",
    "duplicate_course_ids": f"""SELECT course_id, person_id, health_trust, course_start, course_end
            FROM marts.fct_treatment_courses WHERE course_id IN (SELECT course_id FROM marts.fct_treatment_courses
            GROUP BY course_id HAVING count(*) > 1) AND {_month_range('course_start')} ORDER BY course_id""",
    "course_end_before_start": f"""SELECT course_id, person_id, health_trust, course_start, course_end
            FROM marts.fct_treatment_courses WHERE course_end < course_start AND {_month_range('course_start')}
            ORDER BY course_id""",
}


def sample_rows(con, sample: str, finding: dict, params: dict, limit: int) -> list[dict]:
    """Up to ``limit`` rows behind a failing check at the finding's period (and trust, register)."""
    period, trust = finding.get("period"), finding.get("health_trust")
    if not period:
        return []
    if sample in EPISODE_SAMPLES:
        sql, _ = _episodes(EPISODE_SAMPLES[sample])
        args = [period, period]
        if trust:
            sql, args = sql.replace("{trust}", "AND health_trust = ?"), args + [trust]
        else:
            sql = sql.replace("{trust}", "")
    elif sample in MART_SAMPLES:
        sql = MART_SAMPLES[sample].replace("{states}", ", ".join(_lit(s) for s in params.get("states", ())))
        args = [period] * sql.count("?")
    else:
        register = finding.get("register")
        sql = _raw_sample(sample, register) if register in REGISTERS else None
        if sql is None:
            return []
        args = [period]
    rows = con.execute(f"{sql} LIMIT {int(limit)}", args).df()
    return [{k: _safe(v) for k, v in r.items()} for r in rows.to_dict("records")]


def _safe(value):
    """JSON-able, and never a national identity number (the warehouse refuses them; belt and braces)."""
    from workhealth.core.identity import is_identity_number

    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, str) and any(is_identity_number(part) for part in _digit_runs(value)):
        return "[redacted]"
    return value


def _digit_runs(value: str) -> list[str]:
    import re

    return re.findall(r"\d{11}", value)
