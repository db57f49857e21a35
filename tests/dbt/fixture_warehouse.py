"""A small hand-written warehouse (``raw`` + ``audit``) for building the dbt project in tests.

The tables follow the ingestion contract (workhealth.core.warehouse): contract columns plus the
lineage columns ``_delivery``, ``_period``, ``_version``, ``_file``, ``_row``, ``_loaded_at``.
Every expected number in test_dbt_build.py is derived by hand from the rows below.

Deliveries: the five monthly registers 2017-09..2018-06, except aareg_employment which stops
at 2018-05, so the data horizon is 2018-05 and first_month 2017-09. npr_episodes 2017-11 has a
correction (v2 supersedes v1 and drops episode E-DROPPED); nav_sickleave 2017-12 v1 was
rejected and its rows must not be used. Population: snapshots 2017-09 and 2018-01.
The two cross-sector registers do not move the horizon: nav_measures is delivered 2017-09..2018-06,
kpr_contacts 2017-09..2018-06 with 2018-04 rejected (so no accepted kpr_contacts month 2018-04).

Run as a script to write a file: ``python tests/dbt/fixture_warehouse.py <path.duckdb>``.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import duckdb

from workhealth.core.warehouse import ensure_schemas

MONTHLY = ("npr_episodes", "nav_sickleave", "nav_aap", "nav_disability", "aareg_employment")
P1, P2, P3, P4, P5 = (f"{i:016x}" for i in (0xA1, 0xA2, 0xA3, 0xA4, 0xA5))
D = date.fromisoformat


def months(first: str, last: str) -> list[str]:
    y, m = map(int, first.split("-"))
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


# (register, period, version, status)
DELIVERIES = (
    [(r, p, 1, "accepted") for r in MONTHLY for p in months("2017-09", "2018-06")
     if not (r == "aareg_employment" and p == "2018-06")
     and not (r == "npr_episodes" and p == "2017-11")
     and not (r == "nav_sickleave" and p == "2017-12")]
    + [
        ("npr_episodes", "2017-11", 1, "superseded"),
        ("npr_episodes", "2017-11", 2, "accepted"),
        ("nav_sickleave", "2017-12", 1, "rejected"),
        ("nav_sickleave", "2017-12", 2, "accepted"),
        ("population", "2017-09", 1, "accepted"),
        ("population", "2018-01", 1, "accepted"),
    ]
    + [("nav_measures", p, 1, "accepted") for p in months("2017-09", "2018-06")]
    + [("kpr_contacts", p, 1, "rejected" if p == "2018-04" else "accepted") for p in months("2017-09", "2018-06")]
)

# population rows: (period, person_id, birth_year, sex, municipality, death_date)
POPULATION = [
    ("2017-09", P1, 1980, 1, "0301", None),
    ("2017-09", P2, 1950, 2, "4601", None),
    ("2017-09", P3, 1970, 1, "1103", None),
    ("2017-09", P4, 1990, 2, "0301", None),
    ("2017-09", P5, 1985, 1, "5001", None),  # absent from 2018-01: keeps this row
    ("2018-01", P1, 1980, 1, "0301", None),
    ("2018-01", P2, 1950, 2, "4601", D("2017-12-15")),  # dies mid-December: DEAD from 2018-01
    ("2018-01", P3, 1970, 1, "1103", None),
    ("2018-01", P4, 1990, 2, "4601", None),  # moved: newest snapshot wins
]

# npr rows: (period, version, episode_id, person_id, trust, unit, care_level, referral, start, end,
#            main_diagnosis, procedure_codes, debitor)
NPR = [
    # P1 at AHUS: E-101 and E-102 (start exactly 90 days after E-101's end) form one course
    ("2017-10", 1, "E-101", P1, "AHUS", "AHUS-HOA1", 3, D("2017-09-01"), D("2017-10-02"), D("2017-10-02"),
     "M545", "ZZZ00|OABI00", None),
    ("2017-12", 1, "E-102", P1, "AHUS", "AHUS-HOA1", 2, None, D("2017-12-31"), D("2017-12-31"),
     "F321", "OBBJ00", None),
    # P1 at OUS, same days: a separate course (courses are per health trust), Raskere tilbake
    ("2017-10", 1, "E-201", P1, "OUS", "OUS-X", 1, D("2017-10-20"), D("2017-10-05"), D("2017-10-06"),
     "M54.5", None, 20),
    # P4 at SI: 2018-01 course; E-302 starts 91 days after E-301 ends: a new course
    ("2017-11", 2, "E-301", P4, "SI", "SI-HOA1", 3, None, D("2017-11-01"), D("2017-11-01"),
     None, "OABI00", None),
    ("2018-01", 1, "E-302", P4, "SI", "SI-HOA1", 3, D("2018-01-15"), D("2018-01-31"), D("2018-01-31"),
     "Q999", "OABI00", None),
    # not work-related: at a work unit without the code (a coding gap), and one elsewhere
    ("2017-10", 1, "E-401", P3, "AHUS", "AHUS-HOA1", 3, D("2017-09-01"), D("2017-10-03"), D("2017-10-03"),
     "J45", "ABC12", None),
    ("2017-11", 2, "E-402", P3, "AHUS", "AHUS-OTHER", 3, D("2017-11-10"), D("2017-11-05"), D("2017-11-01"),
     "m545", None, 10),
    # the correction v2 of 2017-11 dropped this episode; v1 also held E-301 and E-402
    ("2017-11", 1, "E-DROPPED", P3, "AHUS", "AHUS-HOA1", 3, None, D("2017-11-02"), D("2017-11-02"),
     "M545", "OABI00", None),
    ("2017-11", 1, "E-301", P4, "SI", "SI-HOA1", 3, None, D("2017-11-01"), D("2017-11-01"),
     None, "OABI00", None),
    ("2017-11", 1, "E-402", P3, "AHUS", "AHUS-OTHER", 3, D("2017-11-10"), D("2017-11-05"), D("2017-11-01"),
     "m545", None, 10),
    # after the horizon: in coding quality, not in courses
    ("2018-06", 1, "E-501", P5, "HBE", "HBE-HOA1", 3, None, D("2018-06-01"), D("2018-06-02"),
     "M545", "OABI00", None),
]

# sickleave rows: (period, version, certificate_id, person_id, start, end, diagnosis_system, code)
SICKLEAVE = [
    # P1: C-1 and C-2 (start 10 days after C-1's end) form one case 2017-09-10..2017-10-20;
    # the AHUS course starts 2017-10-02, in the gap between them
    ("2017-09", 1, "C-1", P1, D("2017-09-10"), D("2017-09-30"), "ICPC2", "L03"),
    ("2017-10", 1, "C-2", P1, D("2017-10-10"), D("2017-10-20"), "ICD10", "M545"),
    # P4: C-3 long, C-4 short inside it, C-5 16 days after C-3's end (the running max): one case
    ("2017-09", 1, "C-3", P4, D("2017-09-01"), D("2017-10-31"), "ICPC2", "P76"),
    ("2017-09", 1, "C-4", P4, D("2017-09-05"), D("2017-09-06"), "ICPC2", "L03"),
    ("2017-11", 1, "C-5", P4, D("2017-11-16"), D("2017-11-20"), "ICPC2", "P76"),
    # P4: C-6 starts 17 days after 2017-11-20: a new case
    ("2017-12", 2, "C-6", P4, D("2017-12-07"), D("2017-12-08"), "ICPC2", "P76"),
    # rejected delivery: never used
    ("2017-12", 1, "C-REJ", P5, D("2017-12-01"), D("2017-12-31"), "ICPC2", "L03"),
]

# aap rows: (period, version, decision_id, person_id, start, end)
AAP = [
    ("2017-10", 1, "A-1", P3, D("2017-10-20"), D("2017-12-31")),
    # the newest delivered state wins: the decision became open-ended in 2018-01
    ("2018-01", 1, "A-1", P3, D("2017-10-20"), None),
]

# disability rows: (period, version, decision_id, person_id, start, end, grade)
DISABILITY = [
    ("2018-02", 1, "U-1", P3, D("2018-03-01"), None, 100),
]

# employment rows: (person_id, month first..last, fte)
EMPLOYMENT = [
    (P1, "2017-09", "2018-05", 100.0),
    (P4, "2017-12", "2018-05", 50.0),
    (P5, "2017-09", "2018-05", 0.0),  # rows with zero FTE: not WORK
]


# measure spells: (period, spell_id, person_id, measure_type, start, end)
MEASURES = [
    # M-1 starts in 2017-10 and ends in a later delivery: the newest delivered state wins
    ("2017-10", "M-1", P1, "ARBTREN", D("2017-10-15"), None),
    ("2018-01", "M-1", P1, "ARBTREN", D("2017-10-15"), D("2018-01-10")),
    ("2018-02", "M-2", P4, "INDJOBSTOT", D("2018-02-01"), None),  # IPS
    ("2017-12", "M-3", P3, "NOTLISTED", D("2017-12-01"), D("2017-12-20")),  # a code outside the list
]

# primary-care contacts: (period, contact_id, person_id, date, service, diagnosis_system, code)
CONTACTS = [
    ("2017-09", "K-1", P1, D("2017-09-20"), "GP", "ICPC2", "L03"),  # MSK
    ("2018-01", "K-2", P1, D("2018-01-15"), "GP", "ICPC2", "P76"),  # MENTAL
    ("2018-03", "K-3", P4, D("2018-03-10"), "MENTAL_HEALTH", "ICD10", "F321"),  # MENTAL
    ("2018-01", "K-4", P4, D("2018-01-05"), "PHYSIO", "ICPC2", "L99X"),  # invalid ICPC-2: UNKNOWN
    ("2017-10", "K-5", P3, D("2017-10-10"), "GP", "ICD10", "M54.5"),  # invalid ICD-10: UNKNOWN
    ("2017-11", "K-6", P3, D("2017-11-01"), "GP", "ICPC2", "A04"),  # OTHER
    ("2017-12", "K-7", P5, D("2017-12-01"), "HEALTHY_LIFE", None, None),  # missing: UNKNOWN
    ("2017-12", "K-8", P5, D("2017-12-02"), "NOTLISTED", "ICPC2", "M54"),  # no chapter M: UNKNOWN
    ("2017-12", "K-9", P5, D("2017-12-03"), "GP", "ICD10", "L03"),  # an ICD-10 L code: OTHER, not MSK
    ("2018-04", "K-REJ", P4, D("2018-04-02"), "GP", "ICPC2", "L03"),  # rejected delivery: never used
]


def _lineage(register: str, period: str, version: int, row: int) -> tuple:
    return (f"{register}_{period}_v{version}", period, version, f"{register}.csv", row, None)


def create_empty(path: Path) -> duckdb.DuckDBPyConnection:
    """A new warehouse file at ``path`` (replacing it) with the empty raw and audit tables,
    created by ingestion's own DDL (workhealth.core.warehouse), so the fixture follows the contract."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    ensure_schemas(con)
    return con


def create(path: Path) -> Path:
    """Write the fixture warehouse to ``path`` (replacing it) and return the path."""
    path = Path(path)
    con = create_empty(path)
    try:
        for register, period, version, status in DELIVERIES:
            con.execute(
                "INSERT INTO audit.deliveries (delivery, register, period, version, status, schema_version) "
                "VALUES (?, ?, ?, ?, ?, 1)",
                [f"{register}_{period}_v{version}", register, period, version, status],
            )

        def insert(register: str, rows: list[tuple]) -> None:
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                con.executemany(f"INSERT INTO raw.{register} VALUES ({marks})", rows)

        insert("population", [(*r[1:], *_lineage("population", r[0], 1, i)) for i, r in enumerate(POPULATION, 1)])
        insert("npr_episodes", [
            (e, p, t, u, cl, ref, s, en, dx, None, proc, deb, *_lineage("npr_episodes", per, v, i))
            for i, (per, v, e, p, t, u, cl, ref, s, en, dx, proc, deb) in enumerate(NPR, 1)
        ])
        insert("nav_sickleave", [
            (c, p, s, e, 50, sys_, code, *_lineage("nav_sickleave", per, v, i))
            for i, (per, v, c, p, s, e, sys_, code) in enumerate(SICKLEAVE, 1)
        ])
        insert("nav_aap", [(*r[2:], *_lineage("nav_aap", r[0], r[1], i)) for i, r in enumerate(AAP, 1)])
        insert("nav_disability", [(*r[2:], *_lineage("nav_disability", r[0], r[1], i))
                                  for i, r in enumerate(DISABILITY, 1)])
        employment = []
        for person, first, last, fte in EMPLOYMENT:
            for period in months(first, last):
                employment.append((person, "EMP1", D(period + "-01"), fte, 30000,
                                   *_lineage("aareg_employment", period, 1, len(employment) + 1)))
        insert("aareg_employment", employment)
        insert("nav_measures", [(*r[1:], *_lineage("nav_measures", r[0], 1, i)) for i, r in enumerate(MEASURES, 1)])
        insert("kpr_contacts", [(*r[1:], *_lineage("kpr_contacts", r[0], 1, i)) for i, r in enumerate(CONTACTS, 1)])
    finally:
        con.close()
    return path


if __name__ == "__main__":
    print(create(Path(sys.argv[1] if len(sys.argv) > 1 else "fixture.duckdb")))
