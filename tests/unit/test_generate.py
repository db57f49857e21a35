"""The synthetic delivery generator: determinism, the delivery contract, volumes, realism, defects."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from workhealth.core import codelists, identity
from workhealth.generate import DEFECTS, generate
from workhealth.generate import calibration as P
from workhealth.generate.cli import generate_command
from workhealth.core.registers import CROSS_SECTOR_REGISTERS, MONTHLY_REGISTERS, PERSON_ID_PATTERN, REGISTERS

WORK_CODES = {r["code"] for r in codelists.load("work_related_procedures")}
CATEGORIES = {r["category"] for r in codelists.load("icd10_categories")}
COUNTIES = {r["county"] for r in codelists.load("counties")}
TRUSTS = {r["health_trust"] for r in codelists.load("health_trusts")}


def _valid_icd10(code: str | None) -> bool:
    return bool(code) and re.fullmatch(r"[A-Z][0-9]{2}[0-9A-Z]{0,2}", code) is not None and code[:3] in CATEGORIES


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _read(folder: Path) -> pa.Table:
    """A delivery's data file with every column as string (as a CSV reader would see it)."""
    (f,) = [p for p in folder.iterdir() if p.name != "manifest.json"]
    if f.name.endswith(".parquet"):
        t = pq.read_table(f)
        return pa.table({n: t[n].cast(pa.string()) for n in t.column_names})
    header = (gzip.open(f, "rt") if f.name.endswith(".gz") else f.open()).readline().strip()
    names = [h.strip('"') for h in header.split(";")]
    return pacsv.read_csv(f, parse_options=pacsv.ParseOptions(delimiter=";"),
                          convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                               strings_can_be_null=True))


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    """3 years at scale 0.002: the realism and coding-defect checks."""
    inbox = tmp_path_factory.mktemp("long")
    return inbox, generate(inbox, start="2016-07", end="2019-06", scale=0.002, seed=7)


@pytest.fixture(scope="module")
def db(long_run):
    inbox, _ = long_run
    con = duckdb.connect()
    for r in REGISTERS:
        con.execute(f"""CREATE VIEW {r} AS SELECT * FROM read_csv('{inbox}/{r}_*_v1/*.csv.gz', delim=';',
                        header=true, all_varchar=true, filename=true)""")
    return con


@pytest.fixture(scope="module")
def defect_run(tmp_path_factory):
    inbox = tmp_path_factory.mktemp("defects")
    return inbox, generate(inbox, start="2018-01", end="2018-04", scale=0.001, seed=5, defects=list(DEFECTS))


# ---------------------------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    a = generate(tmp_path / "a", start="2017-12", end="2018-02", scale=0.001, seed=42)
    b = generate(tmp_path / "b", start="2017-12", end="2018-02", scale=0.001, seed=42)
    generate(tmp_path / "c", start="2017-12", end="2018-02", scale=0.001, seed=43)
    fa, fb, fc = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert fa == fb
    assert a["deliveries"] == b["deliveries"]
    assert set(fa) == set(fc)
    assert all(fa[k] != fc[k] for k in fa if k.endswith(".csv.gz"))


def test_parquet_format_is_deterministic_and_typed(tmp_path):
    generate(tmp_path / "a", start="2018-01", end="2018-01", scale=0.001, seed=1, fmt="parquet")
    generate(tmp_path / "b", start="2018-01", end="2018-01", scale=0.001, seed=1, fmt="parquet")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    t = pq.read_table(tmp_path / "a" / "npr_episodes_2018-01_v1" / "npr_episodes.parquet")
    assert t.schema.field("end_date").type == pa.date32()
    assert t.schema.field("care_level").type == pa.int64()
    assert pq.read_table(tmp_path / "a" / "aareg_employment_2018-01_v1" / "aareg_employment.parquet")[
        "month"].to_pylist()[0] == "2018-01"


# ---------------------------------------------------------------------------------------------
# the delivery contract
# ---------------------------------------------------------------------------------------------


def _check_delivery(folder: Path, d: dict) -> None:
    register, period = d["register"], d["period"]
    m = json.loads((folder / "manifest.json").read_text())
    assert folder.name == f"{register}_{period}_v{d['version']}"
    assert (m["register"], m["period"], m["version"], m["schema_version"]) == (register, period, d["version"], 1)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T08:00:00\+0[12]:00", m["produced_at"])
    (f,) = m["files"]
    assert hashlib.sha256((folder / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    t = _read(folder)
    assert f["rows"] == t.num_rows == d["rows"]
    reg = REGISTERS[register]
    assert sorted(t.column_names) == sorted(reg.column_names)
    rows = t.to_pylist()
    for col in reg.columns:
        values = [r[col.name] for r in rows]
        if col.required:
            assert all(v not in (None, "") for v in values), (folder.name, col.name)
        present = [v for v in values if v not in (None, "")]
        if col.type == "date":
            assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) for v in present)
        if col.type == "integer":
            assert all(re.fullmatch(r"-?\d+", v) for v in present)
        if isinstance(col.domain, tuple):
            assert all(col.domain[0] <= float(v) <= col.domain[1] for v in present), (folder.name, col.name)
        elif col.domain is not None:
            assert {int(v) if col.type == "integer" else v for v in present} <= col.domain
    assert all(PERSON_ID_PATTERN.match(r["person_id"]) for r in rows)
    keys = [tuple(r[k] for k in reg.key) for r in rows]
    assert len(set(keys)) == len(keys), f"{folder.name}: repeated key"
    if reg.period_column:
        assert all(r[reg.period_column][:7] == period for r in rows)
    if register == "population":
        assert all(re.fullmatch(r"\d{4}", r["municipality"]) and r["municipality"][:2] in COUNTIES for r in rows)
    if register == "npr_episodes":
        assert {r["health_trust"] for r in rows} <= TRUSTS
    if register == "kpr_contacts":  # coded contacts carry a system; ICPC-2 codes look like one
        assert all(r["diagnosis_system"] for r in rows if r["diagnosis_code"])
        assert all(re.fullmatch(r"[A-Z][0-9A-Z.]{1,4}", r["diagnosis_code"]) for r in rows if r["diagnosis_code"])
    # no value anywhere is a national identity number
    for r in rows:
        for v in r.values():
            for part in (v or "").split("|"):
                assert not identity.is_identity_number(part)


def test_every_delivery_follows_the_contract(tmp_path):
    summary = generate(tmp_path, start="2017-12", end="2018-02", scale=0.001, seed=9)
    names = {d["delivery"] for d in summary["deliveries"]}
    assert names == {p.name for p in tmp_path.iterdir()}
    months = ["2017-12", "2018-01", "2018-02"]
    assert names == {f"{r}_{m}_v1" for r in MONTHLY_REGISTERS + CROSS_SECTOR_REGISTERS for m in months} | {
        "population_2017-12_v1", "population_2018-01_v1"}
    for d in summary["deliveries"]:
        assert d["defects"] == []
        _check_delivery(tmp_path / d["delivery"], d)


def test_population_snapshots_start_month_and_januaries(long_run, db):
    _, summary = long_run
    pops = [d["period"] for d in summary["deliveries"] if d["register"] == "population"]
    assert pops == ["2016-07", "2017-01", "2018-01", "2019-01"]
    rows = db.execute("""SELECT regexp_extract(filename, '_([0-9]{4}-[0-9]{2})_v', 1) AS p, count(*), count(death_date), min(birth_year::int),
                                max(birth_year::int) FROM population GROUP BY 1 ORDER BY 1""").fetchall()
    assert rows[0][2] == 0  # the first snapshot: everyone alive
    assert all(r[2] > 0 for r in rows[1:])  # later ones: deaths since the previous snapshot
    assert [r[4] for r in rows] == [1998, 1999, 2000, 2001]  # 18-year-olds enter each January
    # a person died once, and stays dead in no later snapshot
    n = db.execute("""SELECT count(*) FROM (SELECT person_id FROM population WHERE death_date IS NOT NULL
                      GROUP BY 1 HAVING count(*) > 1)""").fetchone()[0]
    assert n == 0


def test_decisions_reappear_when_they_change(db):
    ended = db.execute("""SELECT count(*) FROM (SELECT decision_id FROM nav_aap GROUP BY 1
                          HAVING count(*) > 1 AND count(end_date) >= 1 AND count(*) > count(end_date))""").fetchone()[0]
    assert ended > 10
    open_dis = db.execute("SELECT avg((end_date IS NULL)::int) FROM nav_disability").fetchone()[0]
    assert open_dis > 0.8  # disability mostly open-ended


# ---------------------------------------------------------------------------------------------
# volumes
# ---------------------------------------------------------------------------------------------


def test_volumes_scale_linearly(tmp_path):
    a = generate(tmp_path / "a", start="2018-01", end="2018-03", scale=0.001, seed=1)["rows_per_register"]
    b = generate(tmp_path / "b", start="2018-01", end="2018-03", scale=0.002, seed=1)["rows_per_register"]
    # documented volumes per month at scale 1, times 0.001, times 3 months
    assert a["population"] == 3500
    assert 0.8e6 * 0.003 <= a["npr_episodes"] <= 1.2e6 * 0.003
    assert 140e3 * 0.003 <= a["nav_sickleave"] <= 220e3 * 0.003
    assert 2.8e6 * 0.003 <= a["aareg_employment"] <= 3.6e6 * 0.003
    assert 1.0e6 * 0.003 <= a["kpr_contacts"] <= 1.6e6 * 0.003  # the largest monthly register
    for register in ("population", "npr_episodes", "nav_sickleave", "aareg_employment", "nav_aap", "kpr_contacts"):
        assert 1.6 <= b[register] / a[register] <= 2.4, register


# ---------------------------------------------------------------------------------------------
# realism
# ---------------------------------------------------------------------------------------------

WORK_RELATED = "(coalesce(debitor, '') = '20' OR regexp_matches(coalesce(procedure_codes, ''), 'OABI00|OBBJ00'))"


def test_work_related_episodes_every_month_with_era_coding(db):
    per_month = db.execute(f"""SELECT substr(end_date, 1, 7), count(*) FILTER (WHERE {WORK_RELATED})
                               FROM npr_episodes GROUP BY 1""").fetchall()
    assert len(per_month) == 36 and all(n > 0 for _, n in per_month)
    era = dict(db.execute("""SELECT start_date < '2018-01-01', count(*) FROM npr_episodes
                              WHERE debitor = '20' GROUP BY 1""").fetchall())
    assert era.get(True, 0) > 50 and era.get(False, 0) == 0  # debitor 20 only before 2018
    codes = dict(db.execute("""SELECT start_date >= '2018-01-01', count(*) FROM npr_episodes
                               WHERE regexp_matches(coalesce(procedure_codes, ''), 'OABI00|OBBJ00')
                               GROUP BY 1""").fetchall())
    assert codes.get(True, 0) > 50 and codes.get(False, 0) == 0  # procedure codes from 2018
    # before 2018, work-related episodes often carry no procedure code at all
    share = db.execute("""SELECT avg((procedure_codes IS NULL)::int) FROM npr_episodes
                          WHERE debitor = '20'""").fetchone()[0]
    assert share > 0.5
    trusts = db.execute(f"SELECT count(DISTINCT health_trust) FROM npr_episodes WHERE {WORK_RELATED}").fetchone()[0]
    assert trusts >= 10
    # psych units only from 2018; døgn mostly at the private institutions
    assert db.execute("SELECT count(*) FROM npr_episodes WHERE unit_id LIKE '%-HOA2' AND start_date < '2018'"
                      ).fetchone()[0] == 0
    priv = db.execute(f"""SELECT avg((health_trust LIKE 'PRIV_%')::int) FROM npr_episodes
                          WHERE care_level = '1' AND {WORK_RELATED}""").fetchone()[0]
    assert priv > 0.8


def test_units_respect_their_validity_and_trust(db):
    units = {u["unit_id"]: u for u in codelists.load("work_units")}
    rows = db.execute("SELECT unit_id, health_trust, min(start_date), max(start_date) FROM npr_episodes "
                      "WHERE unit_id LIKE '%-HOA%' OR unit_id LIKE '%-ARR%' GROUP BY 1, 2").fetchall()
    assert rows
    for unit, trust, first, _ in rows:
        assert units[unit]["health_trust"] == trust
        assert first >= units[unit]["valid_from"] or unit.endswith("HOA1")


def test_certificates_are_dominated_by_msk_and_mental(db):
    rows = dict(db.execute("""SELECT CASE WHEN regexp_matches(diagnosis_code, '^[LM]') THEN 'MSK'
                                          WHEN regexp_matches(diagnosis_code, '^[PF]') THEN 'MENTAL' ELSE 'OTHER' END,
                                     count(*) FROM nav_sickleave GROUP BY 1""").fetchall())
    total = sum(rows.values())
    assert (rows["MSK"] + rows["MENTAL"]) / total > 0.55
    assert rows["MSK"] > rows["MENTAL"]
    systems = dict(db.execute("SELECT diagnosis_system, count(*) FROM nav_sickleave GROUP BY 1").fetchall())
    assert systems["ICPC2"] > 3 * systems["ICD10"]
    grades = dict(db.execute("SELECT grade = '100', count(*) FROM nav_sickleave GROUP BY 1").fetchall())
    assert grades[True] > 2 * grades[False] > 0


COURSES_SQL = f"""
WITH wr AS (SELECT person_id, health_trust, start_date::date s, end_date::date e FROM npr_episodes
            WHERE {WORK_RELATED} AND start_date <= end_date),
o AS (SELECT *, max(e) OVER (PARTITION BY person_id, health_trust ORDER BY s, e
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev FROM wr),
c AS (SELECT *, sum((prev IS NULL OR s > prev + 90)::int) OVER (PARTITION BY person_id, health_trust
                ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS course_no FROM o),
courses AS (SELECT person_id, health_trust, course_no, min(s) AS course_start, max(e) AS course_end,
                   count(*) AS n FROM c GROUP BY ALL),
cert AS (SELECT person_id, start_date::date s, end_date::date e FROM nav_sickleave),
co AS (SELECT *, max(e) OVER (PARTITION BY person_id ORDER BY s, e
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev FROM cert),
cc AS (SELECT *, sum((prev IS NULL OR s > prev + 16)::int) OVER (PARTITION BY person_id ORDER BY s, e
                     ROWS UNBOUNDED PRECEDING) AS case_no FROM co),
cases AS (SELECT person_id, case_no, min(s) AS case_start, max(e) AS case_end FROM cc GROUP BY ALL)
SELECT courses.*, (SELECT max(course_start - case_start) FROM cases k WHERE k.person_id = courses.person_id
                   AND course_start BETWEEN case_start AND case_end) AS sick_days,
       EXISTS (SELECT 1 FROM cert WHERE cert.person_id = courses.person_id AND cert.s <= course_start
               AND cert.e >= date_trunc('month', course_start) - INTERVAL 1 MONTH) AS sick_month_before
FROM courses
"""


def test_courses_patients_on_sick_leave_longer_later(db):
    db.execute(f"CREATE OR REPLACE TEMP TABLE courses AS {COURSES_SQL}")
    n, multi, on_sick, before = db.execute(
        "SELECT count(*), avg((n > 1)::int), avg((sick_days IS NOT NULL)::int), avg(sick_month_before::int) "
        "FROM courses").fetchone()
    assert n > 80 and multi > 0.5
    # most patients were on sick leave in the month before the start (selection sees m-1 only,
    # docs/synthetic_data.md); some of them returned before the course's first day
    assert before > 0.7
    assert 0.35 < on_sick < before
    early, late = (db.execute(f"""SELECT median(sick_days) FROM courses WHERE sick_days IS NOT NULL
                                  AND year(course_start) IN {years}""").fetchone()[0]
                   for years in ("(2016, 2017)", "(2018, 2019)"))
    assert late > early * 1.4
    # a few courses are split by a gap of more than 90 days at the same trust
    split = db.execute("SELECT count(*) FROM (SELECT person_id, health_trust FROM courses GROUP BY ALL "
                       "HAVING count(*) > 1)").fetchone()[0]
    assert split > 0


@pytest.mark.slow  # needs a large sample (scale 0.03, about 40 s): see below
def test_return_to_work_better_for_msk_than_mental(tmp_path):
    """Patients on sick leave at course start return to work more often with MSK than with mental
    disorders (the research the simulation follows: cases for mental disorders end less often, and
    courses help MSK patients more). Measured as the registers show it, 6 months after the course's
    end: the person-month state WORK (a job with fte > 0, no certificate, not on AAP or disability;
    AAP and disability come before WORK, indicators.md §1: AAP with a kept job is no return).

    Only patients with a case ongoing at the start: the others (15 %) are mostly on AAP or out of
    work, "return" is an entry for them, and their diagnoses are drawn with other shares (MSK 55 %,
    MENTAL 35 %), so mixing them in compares compositions, not diagnoses. The planted difference
    at this horizon is about 10 points (the 52-week limit and AAP narrow the difference the case
    hazards make); at scale 0.004 (about 60 patients a group) its standard error is 8 points, so a
    smaller run decides by chance. Here 300-400 a group: a standard error under 4 points."""
    inbox = tmp_path
    generate(inbox, start="2016-01", end="2018-12", scale=0.03, seed=11)
    con = duckdb.connect()
    for r in ("npr_episodes", "nav_sickleave", "aareg_employment", "nav_aap", "nav_disability"):
        con.execute(f"CREATE VIEW {r} AS SELECT * FROM read_csv('{inbox}/{r}_*_v1/*.csv.gz', delim=';', "
                    "header=true, all_varchar=true)")
    con.execute(f"CREATE TEMP TABLE courses AS {COURSES_SQL}")
    covers = ("EXISTS (SELECT 1 FROM {t} x WHERE x.person_id = k.person_id AND substr(x.start_date, 1, 7) <= k.m6 "
              "AND coalesce(substr(x.end_date, 1, 7), '9999') >= k.m6)")
    rows = con.execute(f"""
        WITH first_ep AS (SELECT person_id, health_trust, arg_min(main_diagnosis, start_date) AS dx, min(start_date::date) s
                          FROM npr_episodes WHERE {WORK_RELATED} GROUP BY 1, 2),
        k AS (SELECT c.*, CASE WHEN f.dx LIKE 'M%' THEN 'MSK' WHEN f.dx LIKE 'F%' THEN 'MENTAL' END AS grp,
                     strftime(date_trunc('month', c.course_end) + INTERVAL 6 MONTH, '%Y-%m') AS m6
              FROM courses c JOIN first_ep f ON f.person_id = c.person_id AND f.health_trust = c.health_trust
                                              AND f.s = c.course_start
              WHERE c.course_end < DATE '2018-07-01' AND c.sick_days IS NOT NULL)
        SELECT grp, avg((EXISTS (SELECT 1 FROM aareg_employment a WHERE a.person_id = k.person_id AND a.month = k.m6
                                 AND a.fte_pct::double > 0)
                        AND NOT {covers.format(t="nav_sickleave")} AND NOT {covers.format(t="nav_aap")}
                        AND NOT {covers.format(t="nav_disability")})::int),
               count(*)
        FROM k WHERE grp IS NOT NULL GROUP BY 1""").fetchall()
    rate = {g: r for g, r, _ in rows}
    n = {g: c for g, _, c in rows}
    assert min(n.values()) > 200, n
    assert rate["MSK"] > rate["MENTAL"] + 0.03, rate


# ---------------------------------------------------------------------------------------------
# the cross-sector registers: KPR contacts and NAV measure spells
# ---------------------------------------------------------------------------------------------

IPS = "('INDJOBSTOT', 'IPSUNG')"


def test_primary_care_contacts_volumes_services_and_codes(db):
    per_month = db.execute("""SELECT substr(contact_date, 1, 7), count(*) FILTER (WHERE service = 'GP'), count(*)
                              FROM kpr_contacts GROUP BY 1""").fetchall()
    assert len(per_month) == 36
    # about a million GP contacts a month at scale 1 (here 0.002), the largest part of the register
    assert all(0.8e6 * 0.002 <= gp <= 1.25e6 * 0.002 and gp > 0.6 * n for _, gp, n in per_month)
    services = dict(db.execute("SELECT service, count(*) FROM kpr_contacts GROUP BY 1").fetchall())
    assert services["GP"] > services["PHYSIO"] > services["EMERGENCY"] > services["MENTAL_HEALTH"] > \
        services["HEALTHY_LIFE"] > 0
    chapters = db.execute("""SELECT left(diagnosis_code, 1), count(*) FROM kpr_contacts
                             WHERE service = 'GP' AND diagnosis_system = 'ICPC2' GROUP BY 1 ORDER BY 2 DESC""").fetchall()
    assert [c for c, _ in chapters[:2]] == ["L", "P"] and len(chapters) >= 12
    systems = dict(db.execute("SELECT diagnosis_system, count(*) FROM kpr_contacts GROUP BY 1").fetchall())
    assert systems["ICPC2"] > 20 * systems["ICD10"] > 0


def test_gp_contact_on_or_just_before_most_certificates(db):
    share = dict(db.execute("""
        SELECT s.diagnosis_system, avg((EXISTS (SELECT 1 FROM kpr_contacts k WHERE k.person_id = s.person_id
               AND k.service = 'GP' AND k.contact_date::date BETWEEN greatest(s.start_date::date - 3,
               date_trunc('month', s.start_date::date)::date) AND s.start_date::date))::int)
        FROM nav_sickleave s GROUP BY 1""").fetchall())
    assert share["ICPC2"] > 0.85  # written by the GP at a consultation
    assert share["ICD10"] < 0.5   # written by a specialist


def test_measure_spells_volumes_sources_and_reappearance(db):
    n, ips, ended = db.execute(f"""SELECT count(DISTINCT spell_id), count(DISTINCT spell_id) FILTER (WHERE measure_type
                                   IN {IPS}), count(DISTINCT spell_id) FILTER (WHERE end_date IS NOT NULL)
                                   FROM nav_measures""").fetchone()
    assert 0.7 * 4000 * 0.002 * 36 <= n <= 1.3 * 4000 * 0.002 * 36  # a few thousand a month at scale 1
    assert 0.04 < ips / n < 0.2 and ended > n / 2
    # a spell is delivered when it starts and again, with its end_date, in the month it ends
    rows = db.execute("""SELECT spell_id, regexp_extract(filename, '_([0-9]{4}-[0-9]{2})_v', 1) AS p,
                                substr(start_date, 1, 7) s, substr(end_date, 1, 7) e FROM nav_measures""").fetchall()
    first: dict[str, str] = {}
    for sid, p, start, end in sorted(rows, key=lambda r: r[1]):
        first.setdefault(sid, p)
        assert start <= p and (end is None or end == p)
    assert all(first[sid] == s for sid, _, s, _ in rows)  # first delivered in the start month
    reappear = db.execute("""SELECT count(*) FROM (SELECT spell_id FROM nav_measures GROUP BY 1
                             HAVING count(*) > 1 AND count(end_date) = 1)""").fetchone()[0]
    assert reappear > 50
    # mostly for persons on AAP at the spell's start
    on_aap = db.execute("""SELECT avg((EXISTS (SELECT 1 FROM nav_aap a WHERE a.person_id = m.person_id
                                   AND a.start_date <= m.start_date AND (a.end_date IS NULL OR a.end_date >= m.start_date)))::int)
                           FROM (SELECT DISTINCT spell_id, person_id, start_date FROM nav_measures) m""").fetchone()[0]
    assert on_aap > 0.5


def test_ips_mostly_for_mental_disorders_and_ips_ung_only_for_the_young(db):
    share = dict(db.execute(f"""
        WITH m AS (SELECT DISTINCT spell_id, person_id, measure_type FROM nav_measures),
        mental AS (SELECT person_id FROM kpr_contacts WHERE service = 'MENTAL_HEALTH'
                   UNION SELECT person_id FROM nav_sickleave WHERE left(diagnosis_code, 1) IN ('P', 'F'))
        SELECT measure_type IN {IPS}, avg((person_id IN (SELECT person_id FROM mental))::int) FROM m GROUP BY 1
    """).fetchall())
    assert share[True] > 0.6 and share[True] > share[False] + 0.15
    ages = db.execute("""SELECT measure_type, year(m.start_date::date) - p.birth_year::int AS age FROM nav_measures m
                         JOIN (SELECT person_id, any_value(birth_year) AS birth_year FROM population GROUP BY 1) p
                         USING (person_id) WHERE measure_type IN ('IPSUNG', 'INDJOBSTOT')""").fetchall()
    ung = [a for t, a in ages if t == "IPSUNG"]
    assert ung and all(16 <= a <= 29 for a in ung)
    assert any(a >= 30 for t, a in ages if t == "INDJOBSTOT")


def test_municipal_mental_health_contacts_are_for_mental_disorders(db):
    share = dict(db.execute("""
        WITH mental AS (SELECT person_id FROM nav_sickleave WHERE left(diagnosis_code, 1) IN ('P', 'F'))
        SELECT service = 'MENTAL_HEALTH', avg((person_id IN (SELECT person_id FROM mental))::int)
        FROM (SELECT DISTINCT person_id, service FROM kpr_contacts WHERE service IN ('MENTAL_HEALTH', 'GP')) GROUP BY 1
    """).fetchall())
    # (most mental disorders of its users are on AAP or disability, without a certificate in the window)
    assert share[True] > 1.6 * share[False]


def test_cross_sector_coding_defects_at_low_rates(db):
    known = {r["service"] for r in codelists.load("kpr_services")}
    unknown, total = db.execute(f"""SELECT count(*) FILTER (WHERE service NOT IN {tuple(known)}), count(*)
                                    FROM kpr_contacts""").fetchone()
    assert 0 < unknown < 0.01 * total
    invalid, icpc = db.execute(f"""SELECT count(*) FILTER (WHERE diagnosis_code IN {P.INVALID_ICPC2}), count(*)
                                   FROM kpr_contacts WHERE diagnosis_system = 'ICPC2'""").fetchone()
    assert 0 < invalid < 0.02 * icpc
    types = {r["measure_type"] for r in codelists.load("nav_measure_types")}
    got = {t for (t,) in db.execute("SELECT DISTINCT measure_type FROM nav_measures").fetchall()}
    assert got - types <= set(P.UNKNOWN_MEASURE_TYPES)
    # new spells get an unknown code at the documented rate (0.4 %: about one in this run, so the
    # rate is checked on the draw itself, over every person and twelve months)
    import numpy as np

    from workhealth.generate.simulation import MEASURE_CODES, World, load_codes

    world = World(np.random.default_rng(1), 0.002, np.datetime64("2018-01"), load_codes(), seed=1)
    drawn = []
    for mi in range(12):
        world.mi += 1
        drawn.append(world._measure_types(np.arange(world.n), 2018))
    codes = np.array(MEASURE_CODES)[np.concatenate(drawn)]
    unknown = np.isin(codes, P.UNKNOWN_MEASURE_TYPES).mean()
    assert 0.5 * P.MEASURE_UNKNOWN_TYPE < unknown < 1.5 * P.MEASURE_UNKNOWN_TYPE
    assert set(codes) - types == set(P.UNKNOWN_MEASURE_TYPES)


def test_primary_care_contacts_leave_the_other_registers_unchanged(tmp_path, monkeypatch):
    """KPR draws from its own random stream: changing its parameters changes nothing else. (NAV
    measures are part of the simulated lives: who starts one changes their return to work.)"""
    generate(tmp_path / "a", start="2018-01", end="2018-02", scale=0.001, seed=3)
    monkeypatch.setitem(P.KPR_BACKGROUND_PER_MONTH, "GP", 2 * P.KPR_BACKGROUND_PER_MONTH["GP"])
    generate(tmp_path / "b", start="2018-01", end="2018-02", scale=0.001, seed=3)
    monkeypatch.setattr(P, "MEASURES_PER_MONTH", 2 * P.MEASURES_PER_MONTH)
    generate(tmp_path / "c", start="2018-01", end="2018-02", scale=0.001, seed=3)
    fa, fb, fc = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert set(fa) == set(fb) == set(fc)
    for name in fa:
        if name.startswith("kpr_contacts"):
            assert fa[name] != fb[name], name
        else:
            assert fa[name] == fb[name], name
    assert any(fb[name] != fc[name] for name in fa if name.startswith("nav_measures") and name.endswith(".gz"))


# ---------------------------------------------------------------------------------------------
# coding defects: present, at rates that differ by trust
# ---------------------------------------------------------------------------------------------


def _pooled(rows, index):
    good = [r for r in rows if P.TRUST_DEFECT_RATES[r[0]][index] <= 0.5 * min(
        P.TRUST_DEFECT_RATES[t][index] for t in P.TRUST_DEFECT_RATES) + 1e-9 or
        P.TRUST_DEFECT_RATES[r[0]][index] <= sorted(v[index] for v in P.TRUST_DEFECT_RATES.values())[6]]
    bad = [r for r in rows if P.TRUST_DEFECT_RATES[r[0]][index] >= sorted(
        v[index] for v in P.TRUST_DEFECT_RATES.values())[-6]]
    rate = lambda rs: sum(r[1] for r in rs) / max(1, sum(r[2] for r in rs))  # noqa: E731
    return rate(good), rate(bad)


def test_coding_defects_occur_with_rates_differing_by_trust(db):
    episodes = db.execute("SELECT health_trust, unit_id, main_diagnosis, referral_date, start_date, end_date "
                          "FROM npr_episodes").fetchall()
    checks = {
        "invalid_diagnosis": lambda e: e[2] is not None and not _valid_icd10(e[2]),
        "missing_diagnosis": lambda e: e[2] is None,
        "missing_referral": lambda e: e[3] is None,
        "referral_after_start": lambda e: e[3] is not None and e[3] > e[4],
        "end_before_start": lambda e: e[5] < e[4],
        "unknown_unit": lambda e: e[1] in P.UNKNOWN_UNITS,
    }
    for name, check in checks.items():
        index = P.CODING_DEFECTS.index(name)
        per_trust: dict[str, list[int]] = {}
        for e in episodes:
            c = per_trust.setdefault(e[0], [0, 0])
            c[0] += check(e)
            c[1] += 1
        rows = [(t, k, n) for t, (k, n) in per_trust.items()]
        good, bad = _pooled(rows, index)
        assert bad > 2.5 * good, (name, good, bad)
        assert sum(r[1] for r in rows) > 0
    # dotted and other invalid codes appear as documented
    invalid = {e[2] for e in episodes if e[2] is not None and not _valid_icd10(e[2])}
    assert invalid <= set(P.INVALID_DIAGNOSES) and "M54.5" in invalid
    # work-unit episodes without a work-related code
    rows = db.execute(f"""SELECT health_trust, count(*) FILTER (WHERE NOT {WORK_RELATED}), count(*)
                          FROM npr_episodes WHERE unit_id LIKE '%-HOA%' OR unit_id LIKE '%-ARR%'
                          GROUP BY 1""").fetchall()
    good, bad = _pooled(rows, 0)
    assert bad > 2 * good and bad > 0


def test_clean_inbox_has_no_quarantine_causes(db):
    """Without defect flags every row loads: no repeated keys, every value parses, period rules hold."""
    for register, reg in REGISTERS.items():
        key = ", ".join(reg.key)
        dup = db.execute(f"SELECT count(*) FROM (SELECT {key}, regexp_extract(filename, '([a-z_]+_[0-9-]+_v[0-9]+)', 1) f FROM {register} "
                         f"GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
        assert dup == 0, register


# ---------------------------------------------------------------------------------------------
# structural defects (opt-in)
# ---------------------------------------------------------------------------------------------


def _by_defect(summary) -> dict[str, dict]:
    out = {}
    for d in summary["deliveries"]:
        for name in d["defects"]:
            assert name not in out, f"{name} hits more than one delivery"
            out[name] = d
    return out


def test_each_structural_defect_hits_its_documented_delivery(defect_run):
    inbox, summary = defect_run
    hit = _by_defect(summary)
    assert set(hit) == set(DEFECTS)
    assert hit["correction"]["delivery"] == "npr_episodes_2018-03_v2"
    assert hit["checksum"]["delivery"] == "nav_aap_2018-04_v1"
    assert hit["rowcount"]["delivery"] == "nav_disability_2018-04_v1"
    assert hit["unparseable"]["delivery"] == "aareg_employment_2018-03_v1"
    assert hit["over_threshold"]["delivery"] == "nav_sickleave_2018-04_v1"
    assert hit["duplicate_key"]["delivery"] == "aareg_employment_2018-01_v1"
    assert hit["fnr"]["delivery"] == "npr_episodes_2018-04_v1"
    assert hit["arriving"]["delivery"] == "npr_episodes_2018-05_v1"
    assert hit["bad_header"]["delivery"] == "aareg_employment_2018-04_v1"
    # every other delivery is clean
    for d in summary["deliveries"]:
        if not d["defects"]:
            _check_delivery(inbox / d["delivery"], d)


def _manifest(inbox, d):
    return json.loads((inbox / d["delivery"] / "manifest.json").read_text())


def test_checksum_and_rowcount_defects(defect_run):
    inbox, summary = defect_run
    hit = _by_defect(summary)
    (f,) = _manifest(inbox, hit["checksum"])["files"]
    assert hashlib.sha256((inbox / hit["checksum"]["delivery"] / f["path"]).read_bytes()).hexdigest() != f["sha256"]
    (f,) = _manifest(inbox, hit["rowcount"])["files"]
    assert f["rows"] == _read(inbox / hit["rowcount"]["delivery"]).num_rows + 3


def test_row_level_defects_stay_under_or_go_over_the_threshold(defect_run):
    inbox, summary = defect_run
    hit = _by_defect(summary)
    threshold = 0.001

    t = _read(inbox / hit["unparseable"]["delivery"]).to_pylist()
    bad = [r for r in t if not re.fullmatch(r"\d+", r["earnings_nok"] or "") or
           not re.fullmatch(r"\d{4}-\d{2}", r["month"] or "") or not r["employer_id"]]
    assert any(r["employer_id"] is None for r in bad)
    assert any(r["earnings_nok"] and not r["earnings_nok"].isdigit() for r in bad + [{"earnings_nok": None}])
    assert 2 <= len(bad) <= threshold * len(t)

    t = _read(inbox / hit["duplicate_key"]["delivery"]).to_pylist()
    keys = [(r["person_id"], r["employer_id"], r["month"]) for r in t]
    repeated = len(keys) - len(set(keys))
    assert repeated == 1 and 2 <= threshold * len(t)

    t = _read(inbox / hit["over_threshold"]["delivery"]).to_pylist()
    bad = [r for r in t if not (r["grade"] or "").isdigit() or r["end_date"].endswith("-32")]
    assert len(bad) > threshold * len(t) and len(bad) >= 3


def test_fnr_arriving_bad_header_and_correction(defect_run):
    inbox, summary = defect_run
    hit = _by_defect(summary)
    t = _read(inbox / hit["fnr"]["delivery"])
    found = [p for v in t["secondary_diagnoses"].to_pylist() if v for p in v.split("|")
             if identity.is_identity_number(p)]
    assert len(found) == 1

    folder = inbox / hit["arriving"]["delivery"]
    assert (folder / "npr_episodes.csv.gz").exists() and not (folder / "manifest.json").exists()

    names = _read(inbox / hit["bad_header"]["delivery"]).column_names
    assert "fte_pct" not in names and "stillingsprosent" in names

    v1 = _read(inbox / "npr_episodes_2018-03_v1").to_pylist()
    v2 = _read(inbox / hit["correction"]["delivery"]).to_pylist()
    m1, m2 = (_manifest(inbox, {"delivery": f"npr_episodes_2018-03_v{v}"}) for v in (1, 2))
    assert m2["version"] == 2 and m2["produced_at"] > m1["produced_at"]
    a, b = {r["episode_id"]: r for r in v1}, {r["episode_id"]: r for r in v2}
    assert set(b) < set(a) and len(a) - len(b) >= 2
    assert sum(a[k] != b[k] for k in b) >= 2


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def test_cli_generates_and_rejects_unknown_defects(tmp_path):
    runner = CliRunner()
    result = runner.invoke(generate_command, ["--inbox", str(tmp_path), "--start", "2018-01", "--end", "2018-01",
                                              "--scale", "0.001", "--defect", "checksum", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "deliveries" in result.output and "checksum" in result.output
    assert (tmp_path / "nav_aap_2018-01_v1" / "nav_aap.csv").exists()
    result = runner.invoke(generate_command, ["--inbox", str(tmp_path), "--defect", "nosuch"])
    assert result.exit_code == 2
    assert all(name in result.output for name in DEFECTS)


def test_api_rejects_unknown_defect(tmp_path):
    with pytest.raises(ValueError, match="checksum"):
        generate(tmp_path, start="2018-01", end="2018-01", scale=0.001, defects=["nosuch"])


def test_every_row_of_a_long_clean_run_is_in_its_delivery_period(tmp_path):
    """Regression: relapsed sick-leave cases once produced certificates starting in the month
    before their delivery (found by a 4-year demo: deliveries refused for outside_period rows)."""
    import duckdb

    from workhealth.generate import generate

    generate(tmp_path, start="2016-01", end="2018-12", scale=0.005, seed=99)
    con = duckdb.connect()
    for register, column in (("nav_sickleave", "start_date"), ("npr_episodes", "end_date"),
                             ("aareg_employment", "month"), ("kpr_contacts", "contact_date")):
        bad, total = con.execute(f"""
            SELECT count(*) FILTER (WHERE left(CAST({column} AS VARCHAR), 7)
                                    <> regexp_extract(filename, '_(\\d{{4}}-\\d{{2}})_v', 1)), count(*)
            FROM read_csv('{tmp_path}/{register}_*/*.csv.gz', delim=';', filename=true, all_varchar=true)
        """).fetchone()
        assert total > 0 and bad == 0, f"{register}: {bad} of {total} rows outside their period"
