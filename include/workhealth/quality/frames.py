"""Read the small frames GX validates, and the sample queries for failing rows, as DuckDB SQL.

GX cannot run its SQL path against DuckDB 2.0 (STACK_NOTES), and pulling national-scale
marts into pandas would cost gigabytes. So every aggregation runs in dbt: the models of
``dbt_project/models/quality/`` (schema ``quality``) hold one row per period (per register
and period, per health trust and period) with counts of violating rows or rates, a few hundred
rows at most, and GX checks those on a pandas batch read here over a read-only connection.
Sample rows are fetched only for what failed, with pseudonymous ids (episode_id, person_id,
course_id, ...) or delivery and row numbers, never free-text columns.

``period`` is always ``YYYY-MM``: the delivery period for raw registers, the month of end_date
for coding quality, the month (of the person-month, course_start, case_start, ...) for marts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pandas as pd

from workhealth.core.definitions import CODING_QUALITY_FRAME_RATES, PERSON_MONTH_STATES
from workhealth.core.register_sql import PERSON_ID_REGEX, outside_value_set, sql_literal
from workhealth.core.registers import REGISTERS

ACCEPTED = "(SELECT delivery FROM audit.deliveries WHERE status = 'accepted')"
#: The rates of coding_quality_by_trust judged by the lower end of their Wilson score interval.
WILSON_RATES = ("work_unit_gap_rate", "invalid_main_diagnosis_rate", "missing_referral_rate")


@dataclass(frozen=True)
class Frame:
    name: str
    #: Columns that identify a row (reported with every finding).
    index: tuple[str, ...]
    build: Callable[[duckdb.DuckDBPyConnection, dict], pd.DataFrame]


def _model(name: str, order: tuple[str, ...]) -> Callable[[duckdb.DuckDBPyConnection, dict], pd.DataFrame]:
    """A frame that is the dbt model ``quality.<name>`` as it is."""
    def build(con, params: dict) -> pd.DataFrame:
        return con.execute(f"SELECT * FROM quality.{name} ORDER BY {', '.join(order)}").df()
    return build


def _wilson_lower(numerator: str, denominator: str, z: float) -> str:
    """Lower end of the Wilson score interval of numerator/denominator (NULL when denominator is 0)."""
    n, p = f"CAST({denominator} AS DOUBLE)", f"(CAST({numerator} AS DOUBLE) / nullif({denominator}, 0))"
    zz = float(z) ** 2
    return (f"CASE WHEN {denominator} > 0 THEN greatest(0, ({p} + {zz} / (2 * {n}) - {float(z)} * "
            f"sqrt({p} * (1 - {p}) / {n} + {zz} / (4 * {n} * {n}))) / (1 + {zz} / {n})) END")


def coding_quality_by_trust(con, params: dict) -> pd.DataFrame:
    """quality.coding_quality_by_trust plus the Wilson lower bounds. Their z is a threshold
    (expectations/thresholds.yml, coding_by_trust.confidence_z) and keeps its one home there:
    applied here when the frame is read, a reviewed change of z needs no rebuild of the warehouse."""
    z = params["z"]
    lowers = ",\n".join(f"{_wilson_lower(*CODING_QUALITY_FRAME_RATES[r], z)} AS {r}_lower" for r in WILSON_RATES)
    return con.execute(f"SELECT *, {lowers} FROM quality.coding_quality_by_trust ORDER BY health_trust, period").df()


FRAMES: dict[str, Frame] = {f.name: f for f in (
    Frame("raw_register_periods", ("register", "period"), _model("raw_register_periods", ("register", "period"))),
    Frame("coding_quality_national", ("period",), _model("coding_quality_national", ("period",))),
    Frame("coding_quality_by_trust", ("period", "health_trust"), coding_quality_by_trust),
    Frame("public_marts_periods", ("period",), _model("public_marts_periods", ("period",))),
)}


# -------------------------------------------------------------------------------------------
# sample failing rows (pseudonymous ids only)
# -------------------------------------------------------------------------------------------


def _month_range(period_column: str) -> str:
    return f"{period_column} >= CAST(? || '-01' AS DATE) AND {period_column} < CAST(? || '-01' AS DATE) + INTERVAL 1 MONTH"


def _episodes(flag: str) -> str:
    return f"""SELECT episode_id, person_id, health_trust, unit_id, care_level, start_date, end_date, referral_date,
                      main_diagnosis
               FROM intermediate.int_episodes_coding_flagged
               WHERE {_month_range('end_date')} AND {flag} {{trust}}
               ORDER BY health_trust, episode_id"""


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
        return _raw(register, outside_value_set(register), f"_delivery AS delivery, _row AS row, {key}")
    # quality.raw_register_periods counts these for the NAV registers and NPR only (its one home),
    # and a sample is fetched only for a register with a finding
    if kind == "date_order_violations":
        return _raw(register, "end_date < start_date", f"{key}, person_id, start_date, end_date")
    if kind == "unknown_units":
        return _raw(register, "unit_id IS NULL OR NOT starts_with(unit_id, health_trust || '-')",
                    "episode_id, person_id, health_trust, unit_id")
    if kind == "unknown_municipalities":  # the condition of quality.raw_register_periods
        return _raw(register, "municipality IS NULL OR NOT regexp_full_match(municipality, '[0-9]{4}') OR "
                              "left(municipality, 2) NOT IN (SELECT county FROM codelists.counties)",
                    "_delivery AS delivery, _row AS row, person_id, municipality")
    # the conditions of quality.raw_register_periods (cross-sector code lists, ICPC-2 validity)
    if kind == "unknown_measure_types":
        return _raw(register, "measure_type IS NULL OR measure_type NOT IN "
                              "(SELECT measure_type FROM codelists.nav_measure_types)",
                    "_delivery AS delivery, _row AS row, spell_id, person_id, measure_type")
    if kind == "unknown_services":
        return _raw(register, "service IS NULL OR service NOT IN (SELECT service FROM codelists.kpr_services)",
                    "_delivery AS delivery, _row AS row, contact_id, person_id, service")
    if kind == "invalid_icpc2_codes":
        return _raw(register, "diagnosis_system = 'ICPC2' AND diagnosis_code IS NOT NULL AND diagnosis_code "
                              "NOT IN (SELECT code FROM codelists.icpc2_codes)",
                    "_delivery AS delivery, _row AS row, contact_id, person_id, diagnosis_code")
    return None


#: sample -> the flag of intermediate.int_episodes_coding_flagged that coding_quality_monthly counts
EPISODE_SAMPLES = {
    "invalid_main_diagnosis": "is_main_diagnosis_invalid",
    "missing_referral": "is_referral_missing",
    "referral_after_start": "is_referral_after_start",
    "end_before_start": "is_end_before_start",
    "work_unit_gap": "is_work_unit_not_work_related",
    "unknown_health_trust": "is_health_trust_unknown",
    "unknown_care_level": "is_care_level_unknown",
    "unknown_unit": "is_unit_unknown",
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
        sql = _episodes(EPISODE_SAMPLES[sample])
        args = [period, period]
        if trust:
            sql, args = sql.replace("{trust}", "AND health_trust = ?"), args + [trust]
        else:
            sql = sql.replace("{trust}", "")
    elif sample in MART_SAMPLES:
        sql = MART_SAMPLES[sample].replace("{states}", ", ".join(sql_literal(s) for s in PERSON_MONTH_STATES))
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
    from workhealth.core.identity import contains_identity_number

    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, str) and contains_identity_number(value):
        return "[redacted]"
    return value

