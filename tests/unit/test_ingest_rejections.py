"""Delivery-level checks: every structural defect rejects the whole delivery, keeps it byte for byte."""

from __future__ import annotations

import gzip
import json

import pytest

from ingest_helpers import csv_text, deliver, edit_manifest, query, raw_delivery, rows, snapshot, write_raw
from workhealth.ingest.load import ingest_delivery, ingest_inbox
from workhealth.generate.writer import write_manifest
from workhealth.core.registers import REGISTERS


def assert_rejected(s, folder, before, rule, *words):
    result = ingest_delivery(folder, s)
    assert result.status == "rejected", result
    assert result.reason.startswith(rule + ": delivery " + folder.name), result.reason
    for w in words:
        assert w in result.reason, (w, result.reason)
    assert result.rows_loaded == 0 and result.rows_quarantined == 0
    assert not folder.exists(), "moved out of the inbox"
    kept = s.rejected / folder.name
    after = snapshot(kept)
    assert after.pop("REJECTED.txt").decode().count(result.reason) == 1
    assert after == before, "kept byte for byte"
    assert sum(n for (n,) in query(s, "SELECT count(*) FROM raw.%s" % (result.register if result.register in REGISTERS else "population"))) == 0
    assert query(s, "SELECT count(*) FROM audit.quarantine")[0][0] == 0
    status, reason, stored = query(s, "SELECT status, reason, stored_at FROM audit.deliveries WHERE delivery = ?",
                                   [folder.name])[0]
    assert (status, reason, stored) == ("rejected", result.reason, str(kept))
    return result


@pytest.fixture
def s(workhealth_env):
    return workhealth_env


def test_valid_delivery_is_accepted_and_archived(s):
    folder = deliver(s.inbox, "nav_sickleave", n=5)
    before = snapshot(folder)
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_manifest, r.rows_loaded, r.rows_quarantined) == ("accepted", 5, 5, 0)
    assert snapshot(s.archive / folder.name) == before and not folder.exists()


def test_invalid_folder_name(s):
    folder = deliver(s.inbox, "nav_aap")
    bad = folder.rename(s.inbox / "nav_aap_2024-3_v1")
    before = snapshot(bad)
    [r] = ingest_inbox(s)
    assert r.delivery == bad.name and r.status == "rejected"
    assert r.reason.startswith("invalid_folder_name: delivery nav_aap_2024-3_v1")
    after = snapshot(s.rejected / bad.name)
    assert r.reason in after.pop("REJECTED.txt").decode() and after == before
    assert query(s, "SELECT status, register FROM audit.deliveries") == [("rejected", None)]


@pytest.mark.parametrize(
    "content, rule",
    [(b"{not json", "manifest_unreadable"), (b"[1, 2]", "manifest_invalid"), (b"\xff\xfe{}", "manifest_unreadable")],
)
def test_unreadable_manifest(s, content, rule):
    folder = deliver(s.inbox, "nav_aap")
    (folder / "manifest.json").write_bytes(content)
    assert_rejected(s, folder, snapshot(folder), rule)


@pytest.mark.parametrize(
    "changes, rule, word",
    [
        ({"register": "nav_disability"}, "manifest_mismatch", "register"),
        ({"period": "2024-04"}, "manifest_mismatch", "period"),
        ({"version": 2}, "manifest_mismatch", "version"),
        ({"schema_version": 2}, "unsupported_schema_version", "schema_version 2"),
        ({"produced_at": None}, "manifest_invalid", "produced_at"),
        ({"files": []}, "manifest_invalid", "files"),
    ],
)
def test_manifest_content(s, changes, rule, word):
    folder = deliver(s.inbox, "nav_aap")
    edit_manifest(folder, **changes)
    assert_rejected(s, folder, snapshot(folder), rule, word)


def test_missing_manifest_key(s):
    folder = deliver(s.inbox, "nav_aap")
    doc = json.loads((folder / "manifest.json").read_text())
    del doc["schema_version"]
    (folder / "manifest.json").write_text(json.dumps(doc))
    assert_rejected(s, folder, snapshot(folder), "manifest_invalid", "schema_version missing")


def test_unknown_register(s):
    folder = raw_delivery(s.inbox, "nav_unknown", "2024-03", 1, "a;b\n1;2\n", 1)
    assert_rejected(s, folder, snapshot(folder), "unknown_register", "nav_unknown")


def test_invalid_period(s):
    folder = raw_delivery(s.inbox, "nav_aap", "2024-13", 1, csv_text(list(rows("nav_aap", 1)[0]), []), 0)
    assert_rejected(s, folder, snapshot(folder), "invalid_period", "2024-13")


def test_listed_file_missing(s):
    folder = deliver(s.inbox, "nav_aap")
    (folder / "nav_aap.csv").unlink()
    assert_rejected(s, folder, snapshot(folder), "file_missing", "file nav_aap.csv")


def test_unlisted_data_file(s):
    folder = deliver(s.inbox, "nav_aap")
    write_raw(folder, "extra.csv", "x\n")
    assert_rejected(s, folder, snapshot(folder), "unlisted_file", "file extra.csv")


def test_disallowed_suffix(s):
    folder = deliver(s.inbox, "nav_aap")
    (folder / "nav_aap.csv").rename(folder / "nav_aap.txt")
    doc = json.loads((folder / "manifest.json").read_text())
    doc["files"][0]["path"] = "nav_aap.txt"
    (folder / "manifest.json").write_text(json.dumps(doc))
    assert_rejected(s, folder, snapshot(folder), "file_type", "file nav_aap.txt")


def test_checksum_mismatch(s):
    folder = deliver(s.inbox, "nav_aap")
    with (folder / "nav_aap.csv").open("ab") as f:
        f.write(b"A99;0000000000000099;2024-03-01;\n")
    assert_rejected(s, folder, snapshot(folder), "checksum_mismatch", "file nav_aap.csv", "sha256")


def test_row_count_mismatch(s):
    folder = deliver(s.inbox, "nav_aap", n=10)
    edit_manifest(folder, files=[{**json.loads((folder / "manifest.json").read_text())["files"][0], "rows": 11}])
    assert_rejected(s, folder, snapshot(folder), "row_count_mismatch", "file nav_aap.csv",
                    "manifest says 11 rows, file has 10")


def test_missing_and_unknown_columns(s):
    header = ["decision_id", "person_id", "start_date", "finish"]
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, csv_text(header, ["A1;0000000000000001;2024-03-01;"]), 1)
    assert_rejected(s, folder, snapshot(folder), "header_mismatch", "file nav_aap.csv", "missing columns: end_date",
                    "unknown columns: 'finish'")


def test_columns_in_any_order_are_fine(s):
    header = ["end_date", "start_date", "person_id", "decision_id"]
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1,
                          csv_text(header, [";2024-03-01;0000000000000001;A1", "2024-05-01;2024-03-02;0000000000000002;A2"]), 2)
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_loaded) == ("accepted", 2)
    got = query(s, "SELECT decision_id, person_id, CAST(start_date AS VARCHAR), CAST(end_date AS VARCHAR), _row "
                   "FROM raw.nav_aap ORDER BY _row")
    assert got == [("A1", "0000000000000001", "2024-03-01", None, 1), ("A2", "0000000000000002", "2024-03-02", "2024-05-01", 2)]


def test_not_utf8(s):
    header = list(rows("nav_aap", 1)[0])
    text = csv_text(header, ["A1;0000000000000001;2024-03-01;", "A2;0000000000000002;2024-03-01;"]).encode()
    text = text.replace(b"A2", b"\xe6\xf8")  # latin-1 bytes
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, text, 2)
    assert_rejected(s, folder, snapshot(folder), "invalid_utf8", "file nav_aap.csv")


def test_not_gzip(s):
    header = list(rows("nav_aap", 1)[0])
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, csv_text(header, ["A1;0000000000000001;2024-03-01;"]), 1,
                          file_name="nav_aap.csv.gz")
    assert_rejected(s, folder, snapshot(folder), "unreadable_file", "file nav_aap.csv.gz")


def test_not_parquet(s):
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, b"PAR1 not really", 1, file_name="nav_aap.parquet")
    assert_rejected(s, folder, snapshot(folder), "unreadable_file", "file nav_aap.parquet")


def test_parquet_with_wrong_columns(s):
    rs = [{k: v for k, v in r.items() if k != "end_date"} for r in rows("nav_aap", 3)]
    folder = deliver(s.inbox, "nav_aap", rs=rs, fmt="parquet")
    assert_rejected(s, folder, snapshot(folder), "header_mismatch", "missing columns: end_date")


def test_empty_file_has_no_header(s):
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, b"", 0)
    assert_rejected(s, folder, snapshot(folder), "header_mismatch", "no header")


def test_second_rejection_of_same_name_gets_timestamped_folder(s):
    folder = deliver(s.inbox, "nav_aap")
    edit_manifest(folder, version=3)
    first = ingest_delivery(folder, s)
    folder = deliver(s.inbox, "nav_aap")
    edit_manifest(folder, version=4)  # other content, same defect class
    second = ingest_delivery(folder, s)
    assert first.status == second.status == "rejected"
    kept = sorted(p.name for p in s.rejected.iterdir())
    assert kept[0] == "nav_aap_2024-03_v1" and kept[1].startswith("nav_aap_2024-03_v1__")
    assert "manifest says 4" in query(s, "SELECT reason FROM audit.deliveries")[0][0]


def test_gzip_csv_accepted(s):
    folder = deliver(s.inbox, "npr_episodes", n=20, fmt="csv.gz")
    with gzip.open(folder / "npr_episodes.csv.gz", "rt") as f:
        assert "episode_id" in f.readline()
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_loaded) == ("accepted", 20)


def test_empty_delivery_is_accepted(s):
    header = list(rows("nav_aap", 1)[0])
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, csv_text(header, []), 0)
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_manifest, r.rows_loaded) == ("accepted", 0, 0)


def test_multi_file_delivery(s):
    folder = s.inbox / "nav_sickleave_2024-03_v1"
    from ingest_helpers import table
    from workhealth.generate.writer import write_data_file

    n1 = write_data_file(folder / "part1.csv", [table(rows("nav_sickleave", 4))])
    n2 = write_data_file(folder / "part2.parquet", [table(rows("nav_sickleave", 3, start=100))])
    n3 = write_data_file(folder / "sub/part3.csv.gz", [table(rows("nav_sickleave", 2, start=200))])
    write_manifest(folder, "nav_sickleave", "2024-03", 1,
                   [{"path": "part1.csv", "rows": n1}, {"path": "part2.parquet", "rows": n2},
                    {"path": "sub/part3.csv.gz", "rows": n3}])
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_manifest, r.rows_loaded) == ("accepted", 9, 9)
    assert query(s, "SELECT _file, count(*), max(_row) FROM raw.nav_sickleave GROUP BY 1 ORDER BY 1") == [
        ("part1.csv", 4, 4), ("part2.parquet", 3, 3), ("sub/part3.csv.gz", 2, 2)]


def test_multi_file_one_bad_file_rejects_all(s):
    folder = s.inbox / "nav_sickleave_2024-03_v1"
    from ingest_helpers import table
    from workhealth.generate.writer import write_data_file

    n1 = write_data_file(folder / "part1.csv", [table(rows("nav_sickleave", 4))])
    n2 = write_data_file(folder / "part2.csv", [table(rows("nav_sickleave", 3, start=100))])
    write_manifest(folder, "nav_sickleave", "2024-03", 1,
                   [{"path": "part1.csv", "rows": n1}, {"path": "part2.csv", "rows": n2 + 1}])
    assert_rejected(s, folder, snapshot(folder), "row_count_mismatch", "file part2.csv")
