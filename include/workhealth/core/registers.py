"""The registers of the delivery contract (docs/ingestion.md), as data.

One definition serves the generator, the ingestion checks, the raw tables and the docs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Logical column types of the contract. ``month`` is ``YYYY-MM``; ``number`` is decimal.
STRING, INTEGER, NUMBER, DATE, MONTH = "string", "integer", "number", "date", "month"

#: DuckDB type each logical type is loaded as in ``raw``.
DUCKDB_TYPES = {STRING: "VARCHAR", INTEGER: "BIGINT", NUMBER: "DOUBLE", DATE: "DATE", MONTH: "DATE"}

PERSON_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
PERIOD_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
DELIVERY_NAME_PATTERN = re.compile(r"^(?P<register>[a-z_]+)_(?P<period>\d{4}-\d{2})_v(?P<version>[1-9]\d*)$")
SCHEMA_VERSIONS = {1}
DATA_FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet")
#: The file whose arrival marks a delivery folder as complete.
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = True
    #: Allowed integer/number range (inclusive) or allowed string values; None = any.
    domain: tuple | frozenset | None = None


@dataclass(frozen=True)
class Register:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    #: The column whose month must equal the delivery's period (None: no such rule).
    period_column: str | None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


REGISTERS: dict[str, Register] = {
    r.name: r
    for r in (
        Register(
            "population",
            "Population register snapshot: one row per person",
            (
                Column("person_id", STRING),
                Column("birth_year", INTEGER, domain=(1880, 2100)),
                Column("sex", INTEGER, domain=frozenset({1, 2})),
                Column("municipality", STRING),
                Column("death_date", DATE, required=False),
            ),
            key=("person_id",),
            period_column=None,
        ),
        Register(
            "npr_episodes",
            "Norsk pasientregister: specialist care episodes ending in the period",
            (
                Column("episode_id", STRING),
                Column("person_id", STRING),
                Column("health_trust", STRING),
                Column("unit_id", STRING),
                # a code outside codelists/care_levels is a coding defect, loaded and measured
                Column("care_level", INTEGER),
                Column("referral_date", DATE, required=False),
                Column("start_date", DATE),
                Column("end_date", DATE),
                Column("main_diagnosis", STRING, required=False),
                Column("secondary_diagnoses", STRING, required=False),
                Column("procedure_codes", STRING, required=False),
                Column("debitor", INTEGER, required=False),
            ),
            key=("episode_id",),
            period_column="end_date",
        ),
        Register(
            "nav_sickleave",
            "NAV sickness certificates (sykmeldinger) starting in the period",
            (
                Column("certificate_id", STRING),
                Column("person_id", STRING),
                Column("start_date", DATE),
                Column("end_date", DATE),
                Column("grade", INTEGER, domain=(1, 100)),
                Column("diagnosis_system", STRING, domain=frozenset({"ICPC2", "ICD10"})),
                Column("diagnosis_code", STRING, required=False),
            ),
            key=("certificate_id",),
            period_column="start_date",
        ),
        Register(
            "nav_aap",
            "NAV work assessment allowance (AAP) decisions created or changed in the period",
            (
                Column("decision_id", STRING),
                Column("person_id", STRING),
                Column("start_date", DATE),
                Column("end_date", DATE, required=False),
            ),
            key=("decision_id",),
            period_column=None,
        ),
        Register(
            "nav_disability",
            "NAV disability benefit (uføretrygd) decisions created or changed in the period",
            (
                Column("decision_id", STRING),
                Column("person_id", STRING),
                Column("start_date", DATE),
                Column("end_date", DATE, required=False),
                Column("grade", INTEGER, domain=(1, 100)),
            ),
            key=("decision_id",),
            period_column=None,
        ),
        Register(
            "aareg_employment",
            "A-ordningen: employment relationships reported for the month",
            (
                Column("person_id", STRING),
                Column("employer_id", STRING),
                Column("month", MONTH),
                Column("fte_pct", NUMBER, domain=(0, 100)),
                Column("earnings_nok", INTEGER),
            ),
            key=("person_id", "employer_id", "month"),
            period_column="month",
        ),
        Register(
            "nav_measures",
            "NAV labour-market measure spells (tiltaksdeltakelse) created or changed in the period",
            (
                Column("spell_id", STRING),
                Column("person_id", STRING),
                # a code outside codelists/nav_measure_types is a coding defect, loaded and measured
                Column("measure_type", STRING),
                Column("start_date", DATE),
                Column("end_date", DATE, required=False),
            ),
            key=("spell_id",),
            period_column=None,
        ),
        Register(
            "kpr_contacts",
            "KPR (municipal patient register): primary-care contacts dated in the period",
            (
                Column("contact_id", STRING),
                Column("person_id", STRING),
                Column("contact_date", DATE),
                # a code outside codelists/kpr_services is a coding defect, loaded and measured
                Column("service", STRING),
                Column("diagnosis_system", STRING, required=False, domain=frozenset({"ICPC2", "ICD10"})),
                Column("diagnosis_code", STRING, required=False),
            ),
            key=("contact_id",),
            period_column="contact_date",
        ),
    )
}

#: The five monthly registers whose accepted deliveries define the data horizon.
MONTHLY_REGISTERS = ("npr_episodes", "nav_sickleave", "nav_aap", "nav_disability", "aareg_employment")
#: Monthly registers that do not move the horizon: a month without them is still built, and the
#: measures that need them are missing for that month.
CROSS_SECTOR_REGISTERS = ("nav_measures", "kpr_contacts")


def delivery_name(register: str, period: str, version: int) -> str:
    return f"{register}_{period}_v{version}"


def parse_name(name: str) -> tuple[str, str, int] | None:
    """(register, period, version) of a delivery folder name, or None when it is not one."""
    m = DELIVERY_NAME_PATTERN.match(name)
    if not m:
        return None
    return m["register"], m["period"], int(m["version"])
