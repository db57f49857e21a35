"""Independent check: recompute the marts from the archived raw delivery files, compare row for row.

One generated inbox (scale 0.002, 2016-07..2018-12, so both eras, with a v2 correction of the
middle npr_episodes month) is ingested and built with dbt once per module. The expected
person-month states, sick-leave cases and treatment courses are then recomputed in plain
Python (``independent.py``) from the archived ``.csv.gz`` files only, following
docs/definitions.md (horizon, states, cases, courses, age group, cooperation), and compared with
``marts.*`` (DuckDB is used only to read the marts).
"""

from __future__ import annotations

from datetime import date

import pytest

import independent as ind
from workhealth.core.definitions import FOLLOW_UP_MONTHS

pytestmark = pytest.mark.slow  # generates, ingests and builds 30 months

START, END, SCALE, SEED = "2016-07", "2018-12", 0.002, 20240101

COURSE_COLUMNS = (
    "course_id", "person_id", "health_trust", "rhf", "course_start", "course_end", "n_episodes", "care_level",
    "main_diagnosis", "diagnosis_group", "era", "referral_date", "waiting_days", "on_sick_leave_at_start",
    "sick_leave_days_at_start", "sick_leave_case_id", *(f"state_{k}m" for k in FOLLOW_UP_MONTHS),
    *(f"rtw_{k}m" for k in FOLLOW_UP_MONTHS), "hrb_12m", "age_group",
)
COOPERATION = ("nav_measure_6m", "ips_12m", "gp_before_3m", "gp_after_3m", "municipal_mental_health_after_3m")
CASE_COLUMNS = ("case_id", "person_id", "case_start", "case_end", "n_certificates", "diagnosis_system",
                "diagnosis_code")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Generate, ingest, dbt build; returns (settings, marts as Python values, delivery log)."""
    import duckdb

    from workhealth import transform
    from workhealth.core import settings
    from workhealth.ingest.load import ingest_inbox
    from workhealth.ingest.log import list_deliveries
    from workhealth.generate import generate

    root = tmp_path_factory.mktemp("independent")
    with pytest.MonkeyPatch.context() as mp:
        for name, sub in (("WORKHEALTH_INBOX", "inbox"), ("WORKHEALTH_WAREHOUSE", "warehouse/wh.duckdb"),
                          ("WORKHEALTH_OUT", "out"), ("WORKHEALTH_ARCHIVE", "archive"),
                          ("WORKHEALTH_REJECTED", "rejected"), ("WORKHEALTH_RESTRICTED", "restricted")):
            mp.setenv(name, str(root / sub))
        mp.setenv("WORKHEALTH_DUCKDB_THREADS", "2")
        mp.setenv("WORKHEALTH_DUCKDB_MEMORY_LIMIT", "2GB")
        s = settings.load()
        summary = generate(s.inbox, start=START, end=END, scale=SCALE, seed=SEED, defects=["correction"])
        assert any(x["version"] == 2 for x in summary["deliveries"]), "the correction defect wrote a v2"
        ingest_inbox(s)
        result = transform.build(s)
        assert result.ok, result.summary()
        log = list_deliveries(s.warehouse)

        con = duckdb.connect(str(s.warehouse), read_only=True)
        try:
            def rows(sql: str) -> list[dict]:
                cur = con.execute(sql)
                names = [c[0] for c in cur.description]
                return [dict(zip(names, r)) for r in cur.fetchall()]

            marts = {
                "person_month": {(r["person_id"], r["month"], r["state"])
                                 for r in rows("select person_id, month, state from marts.fct_person_month")},
                "courses": rows(f"select {', '.join(COURSE_COLUMNS + COOPERATION)} from marts.fct_treatment_courses"),
                "cases": rows(f"select {', '.join(CASE_COLUMNS)} from marts.fct_sick_leave_cases"),
                "geography": {r["person_id"]: (r["county"], r["rhf_of_residence"])
                              for r in rows("select person_id, county, rhf_of_residence from marts.dim_person")},
            }
        finally:
            con.close()
    return s, marts, log


@pytest.fixture(scope="module")
def expected(built):
    s, _, _ = built
    data = ind.load(s.archive)
    first, last = ind.horizon(data["periods"])
    assert last is not None, "no horizon"
    states = ind.person_months(data, first, last)
    cases = ind.sick_leave_cases(data, last)
    courses = ind.treatment_courses(data, first, last, states, cases)
    return {"data": data, "first": first, "last": last, "states": states, "cases": cases, "courses": courses}


def _diff_rows(name: str, key: str, got: list[dict], want: list[dict], columns: tuple[str, ...]) -> list[str]:
    """Human-readable differences, keyed rows compared column by column."""
    got_by = {r[key]: r for r in got}
    want_by = {r[key]: r for r in want}
    assert len(got_by) == len(got), f"{name}: duplicate {key} in the mart"
    assert len(want_by) == len(want), f"{name}: duplicate {key} in the recomputation"
    out = []
    for k in sorted(want_by.keys() - got_by.keys()):
        out.append(f"{name} {k}: missing from the mart; expected {want_by[k]}")
    for k in sorted(got_by.keys() - want_by.keys()):
        out.append(f"{name} {k}: in the mart but not expected: {got_by[k]}")
    for k in sorted(got_by.keys() & want_by.keys()):
        bad = {c: (got_by[k][c], want_by[k][c]) for c in columns if got_by[k][c] != want_by[k][c]}
        if bad:
            out.append(f"{name} {k}: (mart, expected) differ in {bad}")
    return out


def _message(diffs: list[str], n: int = 10) -> str:
    return f"{len(diffs)} differences; first {min(n, len(diffs))}:\n" + "\n".join(diffs[:n])


# --------------------------------------------------------------------------- deliveries and horizon
def test_the_archive_is_what_was_accepted(built, expected):
    """The recomputation's choice of deliveries (highest version per register and period) is
    exactly the set ingestion accepted; the v1 of the corrected month is superseded; nothing was
    quarantined (so the archived files hold exactly the loaded rows)."""
    _, _, log = built
    accepted = {d["delivery"] for d in log if d["status"] == "accepted"}
    assert expected["data"]["chosen"] == accepted
    superseded = [d for d in log if d["status"] == "superseded"]
    assert [d["register"] for d in superseded] == ["npr_episodes"]
    assert f"npr_episodes_{superseded[0]['period']}_v2" in accepted
    assert all(d["rows_quarantined"] == 0 for d in log if d["status"] == "accepted")
    # the correction really changes the data: v1 episodes missing from v2 are gone
    s, _, _ = built
    name = f"npr_episodes_{superseded[0]['period']}"
    v1 = {r["episode_id"] for r in ind.read_delivery(s.archive / f"{name}_v1")}
    v2 = {r["episode_id"] for r in ind.read_delivery(s.archive / f"{name}_v2")}
    dropped = v1 - v2
    assert dropped and not dropped & {e["episode_id"] for e in expected["data"]["episodes"]}


def test_horizon(built, expected):
    s, marts, _ = built
    assert (expected["first"], expected["last"]) == (date(2016, 7, 1), date(2018, 12, 1))
    months = {m for _, m, _ in marts["person_month"]}
    assert min(months) == expected["first"] and max(months) == expected["last"]


# --------------------------------------------------------------------------- 1. person-month states
def test_person_month_states(built, expected):
    _, marts, _ = built
    want = {(p, m, st) for (p, m), st in expected["states"].items()}
    got = marts["person_month"]
    n_persons = len(expected["data"]["persons"])
    assert n_persons > 2000 and len(want) == n_persons * 30
    assert {st for *_, st in want} == {"DEAD", "UFOR", "AAP", "SYK", "WORK", "NONE"}
    missing, extra = sorted(want - got), sorted(got - want)
    assert not missing and not extra, (
        f"fct_person_month: {len(missing)} expected rows missing (first {missing[:5]}), "
        f"{len(extra)} unexpected rows (first {extra[:5]})")


# --------------------------------------------------------------------------- 2. sick-leave cases
def test_sick_leave_cases(built, expected):
    _, marts, _ = built
    assert len(expected["cases"]) > 1000
    assert sum(c["n_certificates"] > 1 for c in expected["cases"]) > 100
    diffs = _diff_rows("fct_sick_leave_cases", "case_id", marts["cases"], expected["cases"], CASE_COLUMNS)
    assert not diffs, _message(diffs)


# --------------------------------------------------------------------------- 3. treatment courses
def test_treatment_courses(built, expected):
    _, marts, _ = built
    want = expected["courses"]
    assert len(want) > 20
    assert {c["era"] for c in want} == {"RASKERE_TILBAKE", "HELSE_OG_ARBEID"}
    assert sum(c["n_episodes"] > 1 for c in want) > 10
    assert any(c["state_12m"] is not None for c in want) and any(c["state_3m"] is None for c in want)
    assert any(c["on_sick_leave_at_start"] for c in want)
    diffs = _diff_rows("fct_treatment_courses", "course_id", marts["courses"], want, COURSE_COLUMNS)
    assert not diffs, _message(diffs)


# --------------------------------------------------------------------------- age group and cooperation
def test_age_groups(built, expected):
    """age_group = the age_groups band of year(course_start) - birth_year, row for row."""
    _, marts, _ = built
    want = expected["courses"]
    assert {c["age_group"] for c in want} >= {"16-29", "30-49", "50-66"}
    diffs = _diff_rows("fct_treatment_courses", "course_id", marts["courses"], want, ("age_group",))
    assert not diffs, _message(diffs)


def test_cooperation_attributes(built, expected):
    """The five cooperation attributes, row for row; the generated inbox holds both cross-sector
    registers for every month, so each attribute is known for some courses, true for some and
    missing near the horizon (and gp_before_3m in the first three months)."""
    _, marts, _ = built
    want = expected["courses"]
    assert expected["data"]["spells"] and expected["data"]["contacts"], "the inbox has no cross-sector registers"
    for column in COOPERATION:
        values = {c[column] for c in want}
        assert None in values and False in values, (column, values)
    assert any(c["gp_after_3m"] for c in want) and any(c["nav_measure_6m"] for c in want)
    diffs = _diff_rows("fct_treatment_courses", "course_id", marts["courses"], want, COOPERATION)
    assert not diffs, _message(diffs)


# --------------------------------------------------------------------------- geography of residence
def test_person_geography(built, expected):
    """dim_person's county and RHF of residence, recomputed from the archived population snapshots."""
    _, marts, _ = built
    want = ind.person_geography(expected["data"])
    assert len(want) > 2000 and marts["geography"] == want
