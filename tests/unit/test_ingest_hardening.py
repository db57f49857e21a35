"""Edge cases beyond the basic rules: Parquet types, identity numbers outside data values,
transfer corruption re-sent, a move that failed after the commit, row numbers in big files."""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import random
import shutil

import pyarrow as pa
import pytest

from ingest_helpers import csv_text, deliver, edit_manifest, query, raw_delivery, rows, snapshot, table, write_raw
from workhealth.core import identity, warehouse
from workhealth.ingest.load import ingest_delivery, ingest_inbox
from workhealth.ingest.log import list_deliveries
from workhealth.generate.writer import write_delivery, write_manifest

FNR = identity.make_identity_number(17, 5, 85, 123)
FNR0 = identity.make_identity_number(3, 5, 85, 321)  # starts with 0: loses it as a number
DNR = identity.make_identity_number(3, 11, 2, 456, d_number=True)


@pytest.fixture
def s(workhealth_env):
    return workhealth_env


def audit_text(s) -> str:
    return "".join(repr(query(s, f"SELECT * FROM audit.{t}")) for t in ("deliveries", "delivery_events", "quarantine"))


def assert_restricted(s, folder, r, number):
    assert r.status == "rejected" and r.privacy_breach, r
    assert number not in r.reason and number not in audit_text(s)
    assert (s.restricted / folder.name).is_dir() and not (s.rejected / folder.name).exists()
    assert not folder.exists()
    note = (s.restricted / folder.name / "REJECTED.txt").read_text()
    assert number not in note


# --- Parquet types ----------------------------------------------------------------------------


def test_parquet_string_column_with_a_numeric_type_is_refused(s):
    t = table(rows("population", 3)).set_column(3, "municipality", pa.array([301, 1103, 5001], pa.int64()))
    folder = write_delivery(s.inbox, "population", "2024-03", 1, [t], fmt="parquet")
    before = snapshot(folder)
    r = ingest_delivery(folder, s)
    assert r.status == "rejected"
    assert r.reason.startswith("column_type: delivery population_2024-03_v1, file population.parquet:")
    assert "municipality is BIGINT (contract: string)" in r.reason
    kept = snapshot(s.rejected / folder.name)
    assert kept.pop("REJECTED.txt") and kept == before


def test_parquet_native_types_timestamps_and_month_dates(s):
    s = dataclasses.replace(s, quarantine_threshold=0.9)
    t = pa.table({
        "decision_id": ["A1", "A2", "A3"],
        "person_id": [f"{i:016x}" for i in range(3)],
        "start_date": pa.array([datetime.datetime(2024, 3, 1), datetime.datetime(2024, 3, 2, 13, 5),
                                datetime.datetime(2024, 3, 3)], pa.timestamp("us")),
        "end_date": pa.array([None, None, None], pa.null()),
        "grade": pa.array([50, 100, 7], pa.int16()),
    })
    folder = write_delivery(s.inbox, "nav_disability", "2024-03", 1, [t], fmt="parquet")
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("accepted", 2, 1)
    assert query(s, 'SELECT "row", rule, column_name, value FROM audit.quarantine') == [
        (2, "invalid_type", "start_date", "2024-03-02 13:05:00")]
    assert query(s, "SELECT decision_id, CAST(start_date AS VARCHAR), end_date, grade FROM raw.nav_disability "
                    "ORDER BY 1") == [("A1", "2024-03-01", None, 50), ("A3", "2024-03-03", None, 7)]

    t = pa.table({
        "person_id": ["0000000000000001", "0000000000000002"],
        "employer_id": ["E1", "E1"],
        "month": pa.array([datetime.date(2024, 3, 1), datetime.date(2024, 3, 15)], pa.date32()),
        "fte_pct": pa.array([50, 100], pa.int32()),
        "earnings_nok": pa.array([1000, 2000], pa.int64()),
    })
    folder = write_delivery(s.inbox, "aareg_employment", "2024-03", 1, [t], fmt="parquet")
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("accepted", 1, 1)
    assert query(s, "SELECT rule, column_name, value FROM audit.quarantine WHERE register = 'aareg_employment'") == [
        ("invalid_type", "month", "2024-03-15")]


def test_parquet_identity_number_stored_as_a_number(s):
    assert FNR0.startswith("0")
    t = table(rows("nav_disability", 4)).set_column(4, "grade", pa.array([50, int(FNR0), 20, 30], pa.int64()))
    folder = write_delivery(s.inbox, "nav_disability", "2024-03", 1, [t], fmt="parquet")
    r = ingest_delivery(folder, s)
    assert_restricted(s, folder, r, FNR0)
    assert r.reason.startswith("privacy_breach: delivery nav_disability_2024-03_v1, file nav_disability.parquet: "
                               "row 2, column grade")
    assert query(s, "SELECT count(*) FROM raw.nav_disability") == [(0,)]


def test_parquet_nested_column_refused_and_swept(s):
    t = table(rows("nav_aap", 2)).set_column(3, "end_date", pa.array([["x"], ["y", DNR]]))
    folder = write_delivery(s.inbox, "nav_aap", "2024-03", 1, [t], fmt="parquet")
    r = ingest_delivery(folder, s)
    assert_restricted(s, folder, r, DNR)
    assert "column_type" in r.reason and "nav_aap.parquet" in r.reason


# --- identity numbers outside the data values ------------------------------------------------


def test_identity_number_in_the_manifest(s):
    folder = deliver(s.inbox, "nav_aap")
    edit_manifest(folder, contact=f"ticket 4711|{FNR}")  # an extra key: the manifest is otherwise valid
    r = ingest_delivery(folder, s)
    assert_restricted(s, folder, r, FNR)
    assert r.reason.startswith("privacy_breach: delivery nav_aap_2024-03_v1, file manifest.json:")
    assert query(s, "SELECT count(*) FROM raw.nav_aap") == [(0,)]


def test_identity_number_in_a_manifest_value_that_would_be_quoted(s):
    folder = deliver(s.inbox, "nav_aap")
    edit_manifest(folder, produced_at=FNR)  # not a timestamp: the reason would quote it
    r = ingest_delivery(folder, s)
    assert_restricted(s, folder, r, FNR)
    assert "manifest_invalid" in r.reason


def test_identity_number_in_a_readme(s):
    folder = deliver(s.inbox, "nav_aap")
    write_raw(folder, "README.txt", f"Questions: ask the person with number {FNR}.\n")
    r = ingest_delivery(folder, s)
    assert_restricted(s, folder, r, FNR)
    assert "file README.txt" in r.reason


def test_readme_without_identity_numbers_is_archived_with_the_delivery(s):
    folder = deliver(s.inbox, "nav_aap")
    write_raw(folder, "README.txt", "Produced by NAV. Ticket 12345678901234.\n")
    before = snapshot(folder)
    r = ingest_delivery(folder, s)
    assert r.status == "accepted" and snapshot(s.archive / folder.name) == before


def test_identity_number_inside_a_header_name(s):
    text = f"decision_id,person_id,start_date,end_date,{FNR}\nA1,0000000000000001,2024-03-01,\n"
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, text, 1)  # comma-separated: one long name
    r = ingest_delivery(folder, s)
    assert_restricted(s, folder, r, FNR)


def test_identity_number_in_a_file_that_is_not_utf8(s):
    header = list(rows("nav_aap", 1)[0])
    text = csv_text(header, ["A1;0000000000000001;2024-03-01;", f"\u00e6\u00f8;{FNR};2024-03-01;"]).encode("latin-1")
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, text, 2, file_name="nav_aap.csv.gz")
    (folder / "nav_aap.csv.gz").write_bytes(gzip.compress(text))
    from ingest_helpers import rehash

    rehash(folder)
    r = ingest_delivery(folder, s)
    assert_restricted(s, folder, r, FNR)
    assert "invalid_utf8" in r.reason and "line 3" in r.reason


def test_replayed_privacy_breach_stays_restricted(s):
    rs = rows("nav_aap", 3)
    rs[1]["person_id"] = FNR
    folder = deliver(s.inbox, "nav_aap", rs=rs)
    copy = s.inbox.parent / "copy"
    shutil.copytree(folder, copy)
    assert ingest_delivery(folder, s).privacy_breach
    shutil.copytree(copy, folder)
    again = ingest_delivery(folder, s)
    assert again.status == "replay" and again.privacy_breach and FNR not in again.reason
    assert sorted(p.name.split("__")[0] for p in s.restricted.iterdir()) == [folder.name] * 2
    assert not s.rejected.exists() or not any(s.rejected.iterdir())
    assert [e for (e,) in query(s, 'SELECT event FROM audit.delivery_events ORDER BY "at"')] == [
        "privacy_breach", "replay"]


# --- re-sends, replays and moves ---------------------------------------------------------------


def test_corrupted_transfer_resent_with_the_same_manifest_is_accepted(s):
    folder = deliver(s.inbox, "nav_sickleave", n=8)
    good = (folder / "nav_sickleave.csv").read_bytes()
    (folder / "nav_sickleave.csv").write_bytes(good[: len(good) // 2])  # truncated in transit
    r = ingest_delivery(folder, s)
    assert r.status == "rejected" and r.reason.startswith("checksum_mismatch")
    shutil.copytree(s.rejected / folder.name, folder, ignore=shutil.ignore_patterns("REJECTED.txt"))
    (folder / "nav_sickleave.csv").write_bytes(good)  # sent again, intact, same manifest
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_loaded) == ("accepted", 8)
    assert query(s, "SELECT status FROM audit.deliveries") == [("accepted",)]


def test_move_failing_after_commit_is_finished_by_the_next_run(s):
    folder = deliver(s.inbox, "nav_aap", n=4)
    before = snapshot(folder)
    s.archive.parent.mkdir(parents=True, exist_ok=True)
    s.archive.write_text("not a folder")  # the move after the commit fails
    with pytest.raises(OSError):
        ingest_delivery(folder, s)
    assert folder.is_dir() and query(s, "SELECT status, rows_loaded FROM audit.deliveries") == [("accepted", 4)]
    s.archive.unlink()
    [r] = ingest_inbox(s)
    assert (r.status, r.rows_loaded) == ("replay", 4)
    assert snapshot(s.archive / folder.name) == before  # where audit.deliveries.stored_at says
    assert query(s, "SELECT count(*) FROM raw.nav_aap") == [(4,)]
    assert not (s.archive / "_replays").exists()


def test_rejected_note_does_not_overwrite_a_delivered_file_of_that_name(s):
    folder = deliver(s.inbox, "nav_aap")
    write_raw(folder, "REJECTED.txt", "the sender's own file")
    edit_manifest(folder, schema_version=7)
    before = snapshot(folder)
    ingest_delivery(folder, s)
    kept = snapshot(s.rejected / folder.name)
    notes = [k for k in kept if k.startswith("REJECTED__")]
    assert len(notes) == 1 and b"schema_version 7" in kept.pop(notes[0])
    assert kept == before


def test_rejected_replay_of_a_stale_version(s):
    deliver(s.inbox, "nav_aap", version=2)
    ingest_inbox(s)
    folder = deliver(s.inbox, "nav_aap", version=1)
    copy = s.inbox.parent / "copy"
    shutil.copytree(folder, copy)
    assert ingest_delivery(folder, s).reason.startswith("stale_version")
    shutil.copytree(copy, folder)
    again = ingest_delivery(folder, s)
    assert again.status == "replay" and "stale_version" in again.reason


# --- scale-related behaviour -----------------------------------------------------------------


def test_row_numbers_stay_exact_in_a_big_file_read_in_parallel(s):
    s = dataclasses.replace(s, quarantine_threshold=0.01)
    n = 200_000
    rnd = random.Random(7)
    bad = set(rnd.sample(range(1, n + 1), 40))
    multi = set(rnd.sample(range(1, n + 1), 40)) - bad
    lines = []
    for i in range(1, n + 1):
        if i in bad:
            lines.append(f"A{i};{i:016x};2024-03-01" if i % 2 else f"A{i};{i:016x};2024-03-01;;x")
        elif i in multi:
            lines.append(f'"A{i}\nsecond line";{i:016x};2024-03-01;')
        else:
            lines.append(f"A{i};{i:016x};2024-03-01;")
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, csv_text(list(rows("nav_aap", 1)[0]), lines), n)
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("accepted", n - len(bad), len(bad))
    assert query(s, "SELECT count(*) FROM raw.nav_aap WHERE _row <> CAST(regexp_extract(decision_id, "
                    "'A([0-9]+)', 1) AS BIGINT)") == [(0,)]
    got = query(s, 'SELECT "row", record FROM audit.quarantine ORDER BY 1')
    assert [g[0] for g in got] == sorted(bad) and all(rec.startswith(f"A{row};") for row, rec in got)


def test_lines_longer_than_duckdbs_default_limit_load(s):
    """A free-text field of several MB (DuckDB's own line limit is 2 MB; checks.MAX_LINE_SIZE
    and the read buffer are 32 MB) loads whole, wherever it sits in the file."""
    rs = rows("npr_episodes", 400)
    long_at = {3: 5 * 2**20, 250: 3 * 2**20}
    for i, size in long_at.items():
        rs[i]["secondary_diagnoses"] = "|".join(["F321"] * (size // 5))
    folder = deliver(s.inbox, "npr_episodes", rs=rs)
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("accepted", 400, 0), r
    got = query(s, "SELECT _row, strlen(secondary_diagnoses) FROM raw.npr_episodes "
                   "WHERE strlen(secondary_diagnoses) > 2 * 2 ^ 20 ORDER BY _row")
    assert got == [(i + 1, len(rs[i]["secondary_diagnoses"])) for i in sorted(long_at)]


def test_connect_applies_the_settings(s):
    s = dataclasses.replace(s, duckdb_memory_limit="1GB", duckdb_threads=1)
    conn = warehouse.connect(s)
    try:
        threads, mem, tmp = conn.execute("SELECT current_setting('threads'), current_setting('memory_limit'), "
                                         "current_setting('temp_directory')").fetchone()
    finally:
        conn.close()
    assert threads == 1 and mem == "953.6 MiB" and tmp.endswith("wh.duckdb.tmp")
    assert list_deliveries(warehouse=s.warehouse) == []  # the keyword of the API


def test_threshold_one_row_under(workhealth_env):
    s = workhealth_env
    rs = rows("nav_aap", 2000)
    rs[5]["start_date"] = "2024-03-32"
    r = ingest_delivery(deliver(s.inbox, "nav_aap", rs=rs), s)
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("accepted", 1999, 1)
    assert query(s, 'SELECT "row", rule FROM audit.quarantine') == [(6, "invalid_type")]


def test_write_manifest_helper_multi_file_with_parquet_and_csv_gz_and_fnr_in_second_file(s):
    folder = s.inbox / "nav_sickleave_2024-03_v1"
    from workhealth.generate.writer import write_data_file

    rs = rows("nav_sickleave", 3, start=50)
    rs[2]["certificate_id"] = DNR
    n1 = write_data_file(folder / "a.csv.gz", [table(rows("nav_sickleave", 4))])
    n2 = write_data_file(folder / "b.parquet", [table(rs)])
    write_manifest(folder, "nav_sickleave", "2024-03", 1, [{"path": "a.csv.gz", "rows": n1},
                                                           {"path": "b.parquet", "rows": n2}])
    r = ingest_delivery(folder, s)
    assert_restricted(s, folder, r, DNR)
    assert "file b.parquet: row 3, column certificate_id" in r.reason and "d-nummer" in r.reason


@pytest.mark.parametrize("chunk", [64, 1 << 24])
def test_sweep_line_numbers_across_chunks(tmp_path, monkeypatch, chunk):
    from workhealth.ingest import checks

    monkeypatch.setattr(checks, "_CHUNK", chunk)
    body = "".join(f"A{i};{i:016x};2024-03-01;\n" for i in range(1, 40))
    cases = {
        "first.csv": (f"{FNR};x\n" + body, 1),                      # the very first bytes of the file
        "middle.csv": (body + f'A99;"{FNR}";2024-03-01;\n' + body, 40),
        "long.csv": ("x" * 300 + "\n" + body + f"A99;M545| {DNR} ;\n", 41),  # a line longer than a chunk
        "notes.txt": (body + f"see {FNR}.\n", 40),
    }
    for name, (text, line) in cases.items():
        folder = tmp_path / name.split(".")[0]
        write_raw(folder, name, text)
        assert checks.sweep_identity_numbers(folder) == (name, line), name
    clean = tmp_path / "clean"
    write_raw(clean, "x.csv", body + f"A1;{FNR}0;{FNR[:-1]};00000{FNR}\n")
    write_raw(clean, "y.csv.gz", gzip.compress(body.encode()))
    assert checks.sweep_identity_numbers(clean) is None
