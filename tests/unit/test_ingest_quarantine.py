"""Row rules: defective rows are quarantined with their reason, the rest is loaded; the threshold."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ingest_helpers import csv_text, deliver, query, raw_delivery, rows, snapshot
from workhealth.ingest.load import ingest_delivery, ingest_inbox


@pytest.fixture
def s(workhealth_env):
    return dataclasses.replace(workhealth_env, quarantine_threshold=0.9)


def quarantine(s):
    return query(s, "SELECT file, \"row\", rule, column_name, value FROM audit.quarantine ORDER BY \"row\", rule")


def reconciles(s, delivery):
    m, loaded, quarantined = query(s, "SELECT rows_manifest, rows_loaded, rows_quarantined FROM audit.deliveries "
                                      "WHERE delivery = ?", [delivery])[0]
    raw = query(s, "SELECT count(*) FROM raw.npr_episodes WHERE _delivery = ?", [delivery])[0][0] if \
        delivery.startswith("npr") else loaded
    distinct_q = query(s, 'SELECT count(DISTINCT (file, "row")) FROM audit.quarantine WHERE delivery = ?', [delivery])[0][0]
    assert loaded + quarantined == m and raw == loaded and distinct_q == quarantined
    return loaded, quarantined


def npr(n=10, **per_row):
    rs = rows("npr_episodes", n)
    for i, changes in per_row.items():
        rs[int(i[1:])].update(changes)
    return rs


@pytest.mark.parametrize(
    "row, changes, rule, column, value",
    [
        (2, {"start_date": ""}, "missing_required", "start_date", ""),
        (2, {"health_trust": ""}, "missing_required", "health_trust", ""),
        (3, {"start_date": "2024-02-30"}, "invalid_type", "start_date", "2024-02-30"),
        (3, {"start_date": "2024-3-01"}, "invalid_type", "start_date", "2024-3-01"),
        (3, {"start_date": "01.03.2024"}, "invalid_type", "start_date", "01.03.2024"),
        (4, {"care_level": "three"}, "invalid_type", "care_level", "three"),
        (4, {"debitor": "2.5"}, "invalid_type", "debitor", "2.5"),
        (5, {"person_id": "00000000000000AB"}, "invalid_person_id", "person_id", "00000000000000AB"),
        (5, {"person_id": "abc"}, "invalid_person_id", "person_id", "abc"),
        (7, {"end_date": "2024-04-01"}, "outside_period", "end_date", "2024-04-01"),
    ],
)
def test_row_rule_quarantines_the_row_and_loads_the_rest(s, row, changes, rule, column, value):
    folder = deliver(s.inbox, "npr_episodes", rs=npr(**{f"r{row}": changes}))
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_manifest, r.rows_loaded, r.rows_quarantined) == ("accepted", 10, 9, 1)
    [(file, qrow, qrule, qcol, qvalue)] = quarantine(s)
    assert (file, qrow, qrule, qcol) == ("npr_episodes.csv", row + 1, rule, column)
    assert qvalue in (value, None) if value == "" else qvalue == value
    record = json.loads(query(s, "SELECT record FROM audit.quarantine")[0][0])
    assert record["episode_id"] == f"E{row:08d}"
    assert row + 1 not in {x for (x,) in query(s, "SELECT _row FROM raw.npr_episodes")}
    reconciles(s, folder.name)


def test_quoted_empty_is_missing(s):
    header = list(rows("nav_aap", 1)[0])
    text = csv_text(header, ['A1;0000000000000001;"";', 'A2;0000000000000002;2024-03-01;""'])
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, text, 2)
    r = ingest_delivery(folder, s)
    assert (r.rows_loaded, r.rows_quarantined) == (1, 1)
    assert query(s, 'SELECT "row", rule, column_name FROM audit.quarantine') == [(1, "missing_required", "start_date")]
    assert query(s, "SELECT decision_id, end_date FROM raw.nav_aap") == [("A2", None)]


def test_other_registers_types_and_domains(s):
    rs = rows("aareg_employment", 8)
    rs[1]["fte_pct"] = "80,5"
    rs[2]["fte_pct"] = "101"
    rs[3]["month"] = "2024-3"
    rs[4]["month"] = "2024-02"
    rs[5]["earnings_nok"] = "12.5"
    folder = deliver(s.inbox, "aareg_employment", rs=rs)
    r = ingest_delivery(folder, s)
    assert (r.rows_loaded, r.rows_quarantined) == (3, 5)
    assert [q[1:4] for q in quarantine(s)] == [
        (2, "invalid_type", "fte_pct"), (3, "outside_domain", "fte_pct"), (4, "invalid_type", "month"),
        (5, "outside_period", "month"), (6, "invalid_type", "earnings_nok")]
    assert query(s, "SELECT DISTINCT CAST(month AS VARCHAR), fte_pct FROM raw.aareg_employment") == [("2024-03-01", 80.5)]

    rs = rows("nav_sickleave", 4)
    rs[0]["diagnosis_system"] = "ICD9"
    rs[1]["grade"] = "0"
    folder = deliver(s.inbox, "nav_sickleave", rs=rs)
    r = ingest_delivery(folder, s)
    assert (r.rows_loaded, r.rows_quarantined) == (2, 2)
    assert query(s, "SELECT \"row\", rule, column_name, value FROM audit.quarantine WHERE register = 'nav_sickleave' "
                    "ORDER BY 1") == [(1, "outside_domain", "diagnosis_system", "ICD9"), (2, "outside_domain", "grade", "0")]


def test_duplicate_key_quarantines_every_copy(s):
    rs = npr(6)
    rs[4]["episode_id"] = rs[1]["episode_id"]
    folder = deliver(s.inbox, "npr_episodes", rs=rs)
    r = ingest_delivery(folder, s)
    assert (r.rows_loaded, r.rows_quarantined) == (4, 2)
    assert quarantine(s) == [("npr_episodes.csv", 2, "duplicate_key", "episode_id", "E00000001"),
                             ("npr_episodes.csv", 5, "duplicate_key", "episode_id", "E00000001")]


def test_duplicate_compound_key(s):
    rs = rows("aareg_employment", 5)
    rs[3]["person_id"], rs[3]["employer_id"] = rs[0]["person_id"], rs[0]["employer_id"]
    r = ingest_delivery(deliver(s.inbox, "aareg_employment", rs=rs), s)
    assert r.rows_quarantined == 2
    assert [q[1:4] for q in quarantine(s)] == [(1, "duplicate_key", "person_id, employer_id, month"),
                                               (4, "duplicate_key", "person_id, employer_id, month")]


def test_row_with_several_defects_counts_once(s):
    folder = deliver(s.inbox, "npr_episodes", rs=npr(r3={"care_level": "nine", "start_date": "x"}))
    r = ingest_delivery(folder, s)
    assert (r.rows_loaded, r.rows_quarantined) == (9, 1)
    assert [q[2:4] for q in quarantine(s)] == [("invalid_type", "care_level"), ("invalid_type", "start_date")]
    reconciles(s, folder.name)


def test_malformed_rows_quarantined_with_row_numbers(s):
    header = list(rows("nav_aap", 1)[0])
    lines = ["A1;0000000000000001;2024-03-01;", "A2;0000000000000002;2024-03-01",  # too few
             'A3;0000000000000003;"2024-03-01\nstill the same record";', "A4;0000000000000004;2024-03-01;;extra",
             "A5;0000000000000005;2024-03-01;"]
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, csv_text(header, lines), 5)
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("accepted", 2, 3)
    q = query(s, 'SELECT "row", rule, column_name, record FROM audit.quarantine ORDER BY 1')
    assert [x[:3] for x in q] == [(2, "malformed_row", None), (3, "invalid_type", "start_date"), (4, "malformed_row", None)]
    assert q[0][3] == "A2;0000000000000002;2024-03-01" and q[2][3] == "A4;0000000000000004;2024-03-01;;extra"
    assert query(s, "SELECT decision_id, _row FROM raw.nav_aap ORDER BY _row") == [("A1", 1), ("A5", 5)]


def test_malformed_lines_stay_with_their_delivery_in_one_inbox_run(s):
    """ingest_inbox reads every delivery on one connection: the malformed lines DuckDB recorded
    for one delivery are not counted again for the next (a clean one stays clean)."""
    header = list(rows("nav_aap", 1)[0])
    lines = ["A1;0000000000000001;2024-03-01;", "A2;0000000000000002;2024-03-01;;extra"]
    raw_delivery(s.inbox, "nav_aap", "2024-03", 1, csv_text(header, lines), 2)
    deliver(s.inbox, "nav_aap", "2024-04", n=3)
    got = {r.delivery: (r.status, r.rows_loaded, r.rows_quarantined) for r in ingest_inbox(s)}
    assert got == {"nav_aap_2024-03_v1": ("accepted", 1, 1), "nav_aap_2024-04_v1": ("accepted", 3, 0)}
    assert query(s, "SELECT delivery, count(*) FROM audit.quarantine GROUP BY 1") == [("nav_aap_2024-03_v1", 1)]


def test_coding_defects_are_loaded_not_quarantined(workhealth_env):
    s = workhealth_env  # default threshold
    rs = npr(5)
    rs[0]["main_diagnosis"] = "XYZ99"           # not ICD-10
    rs[1]["referral_date"] = ""                 # missing referral
    rs[2]["referral_date"] = "2024-03-10"       # referral after start
    rs[3]["start_date"] = "2024-03-16"          # end before start
    rs[4]["unit_id"] = "NO-SUCH-UNIT"           # unknown unit
    r = ingest_delivery(deliver(s.inbox, "npr_episodes", rs=rs), s)
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("accepted", 5, 0)


def _with_defects(s, n, bad):
    rs = rows("nav_aap", n)
    for i in range(bad):
        rs[i]["start_date"] = "not a date"
    return deliver(s.inbox, "nav_aap", rs=rs)


def test_threshold_just_under_is_accepted(workhealth_env):
    s = workhealth_env  # 0.1 %: 2 of 2000 is exactly at the threshold
    r = ingest_delivery(_with_defects(s, 2000, 2), s)
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("accepted", 1998, 2)


def test_threshold_just_over_rejects_the_delivery(workhealth_env):
    s = workhealth_env
    folder = _with_defects(s, 2000, 3)
    before = snapshot(folder)
    r = ingest_delivery(folder, s)
    assert r.status == "rejected" and r.rows_loaded == 0
    assert r.reason.startswith(f"quarantine_threshold: delivery {folder.name}: 3 of 2000 rows (0.150%)")
    assert "invalid_type 3 rows (e.g. nav_aap.csv row 1, nav_aap.csv row 2, nav_aap.csv row 3)" in r.reason
    assert query(s, "SELECT count(*) FROM raw.nav_aap")[0][0] == 0
    assert query(s, "SELECT count(*) FROM audit.quarantine")[0][0] == 0
    kept = snapshot(s.rejected / folder.name)
    assert kept.pop("REJECTED.txt") and kept == before


def test_parquet_typed_columns(s):
    import datetime

    import pyarrow as pa

    from workhealth.generate.writer import write_delivery

    t = pa.table({
        "person_id": pa.array(["0000000000000001", "0000000000000002", "0000000000000003"]),
        "employer_id": pa.array(["E1", "E1", "E1"]),
        "month": pa.array([datetime.date(2024, 3, 1)] * 3, pa.date32()),
        "fte_pct": pa.array([50.0, 100.0, 120.0]),
        "earnings_nok": pa.array([1, 2, 3], pa.int64()),
    })
    folder = write_delivery(s.inbox, "aareg_employment", "2024-03", 1, [t], fmt="parquet")
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("accepted", 2, 1)
    assert quarantine(s) == [("aareg_employment.parquet", 3, "outside_domain", "fte_pct", "120.0")]
    assert query(s, "SELECT CAST(month AS VARCHAR), fte_pct, earnings_nok, _row FROM raw.aareg_employment ORDER BY _row") == [
        ("2024-03-01", 50.0, 1, 1), ("2024-03-01", 100.0, 2, 2)]
