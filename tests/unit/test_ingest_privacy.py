"""The national identity number guard: a valid fødselsnummer/D-nummer anywhere rejects the delivery."""

from __future__ import annotations

import pytest

from ingest_helpers import csv_text, deliver, query, raw_delivery, rows, snapshot
from workhealth.core import identity
from workhealth.ingest.load import ingest_delivery

FNR = identity.make_identity_number(17, 5, 85, 123)
DNR = identity.make_identity_number(3, 11, 2, 456, d_number=True)


def wrong_control(v: str) -> str:
    bad = v[:9] + f"{(int(v[9:]) + 1) % 100:02d}"
    assert not identity.is_identity_number(bad)
    return bad


def impossible_date() -> str:
    for ind in range(1000):
        stem = f"310285{ind:03d}"  # 31 February
        ks = identity.control_digits(stem)
        if ks:
            return stem + ks
    raise AssertionError


@pytest.fixture
def s(workhealth_env):
    return workhealth_env


def all_audit_text(s) -> str:
    return repr(query(s, "SELECT * FROM audit.deliveries")) + repr(query(s, "SELECT * FROM audit.delivery_events")) + \
        repr(query(s, "SELECT * FROM audit.quarantine"))


def assert_breach(s, folder, number, file, row, column):
    before = snapshot(folder)
    r = ingest_delivery(folder, s)
    assert r.status == "rejected" and r.privacy_breach
    assert r.reason.startswith(f"privacy_breach: delivery {folder.name}, file {file}: row {row}")
    assert column in r.reason
    assert number not in r.reason
    kept = s.restricted / folder.name
    after = snapshot(kept)
    note = after.pop("REJECTED.txt").decode()
    assert number not in note and after == before
    assert not folder.exists() and not (s.rejected / folder.name).exists()
    assert query(s, f"SELECT count(*) FROM raw.{r.register}")[0][0] == 0
    assert query(s, "SELECT count(*) FROM audit.quarantine")[0][0] == 0
    assert query(s, "SELECT status, privacy_breach, stored_at FROM audit.deliveries") == [("rejected", True, str(kept))]
    assert number not in all_audit_text(s)
    return r


def test_fodselsnummer_as_person_id(s):
    rs = rows("nav_sickleave", 5)
    rs[3]["person_id"] = FNR
    folder = deliver(s.inbox, "nav_sickleave", rs=rs)
    r = assert_breach(s, folder, FNR, "nav_sickleave.csv", 4, "column person_id")
    assert "fodselsnummer" in r.reason


def test_d_nummer_in_optional_column_of_parquet(s):
    rs = rows("nav_sickleave", 5)
    rs[1]["diagnosis_code"] = DNR
    folder = deliver(s.inbox, "nav_sickleave", rs=rs, fmt="parquet")
    r = assert_breach(s, folder, DNR, "nav_sickleave.parquet", 2, "column diagnosis_code")
    assert "d-nummer" in r.reason


def test_fnr_inside_a_pipe_list(s):
    rs = rows("npr_episodes", 3)
    rs[2]["secondary_diagnoses"] = f"F321| {FNR}|Z560"
    folder = deliver(s.inbox, "npr_episodes", rs=rs, fmt="csv.gz")
    assert_breach(s, folder, FNR, "npr_episodes.csv.gz", 3, "column secondary_diagnoses")


def test_fnr_in_a_malformed_line(s):
    header = list(rows("nav_aap", 1)[0])
    lines = ["A1;0000000000000001;2024-03-01;", f'A2;"{FNR}";2024-03-01;;extra']
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, csv_text(header, lines), 2)
    assert_breach(s, folder, FNR, "nav_aap.csv", 2, "malformed line")


def test_fnr_takes_precedence_over_a_row_count_mismatch(s):
    rs = rows("nav_aap", 3)
    rs[0]["decision_id"] = FNR
    folder = deliver(s.inbox, "nav_aap", rs=rs)
    import json
    doc = json.loads((folder / "manifest.json").read_text())
    doc["files"][0]["rows"] = 99
    (folder / "manifest.json").write_text(json.dumps(doc))
    assert_breach(s, folder, FNR, "nav_aap.csv", 1, "column decision_id")


def test_fnr_as_column_name(s):
    header = ["decision_id", "person_id", "start_date", FNR]
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, csv_text(header, []), 0)
    r = ingest_delivery(folder, s)
    assert r.privacy_breach and FNR not in r.reason and (s.restricted / folder.name).is_dir()


def test_eleven_digit_values_that_are_not_identity_numbers_are_loaded(s):
    rs = rows("nav_sickleave", 4)
    rs[0]["diagnosis_code"] = wrong_control(FNR)
    rs[1]["diagnosis_code"] = impossible_date()
    rs[2]["diagnosis_code"] = FNR + "0"             # 12 digits: not a whole-value match
    rs[3]["person_id"] = "00000" + FNR               # a 16-hex person_id with an fnr-like run inside
    r = ingest_delivery(deliver(s.inbox, "nav_sickleave", rs=rs), s)
    assert (r.status, r.rows_loaded, r.privacy_breach) == ("accepted", 4, False)


def test_identity_module_agrees():
    assert identity.kind(FNR) == "fodselsnummer" and identity.kind(DNR) == "d-nummer"
    assert not identity.is_identity_number(impossible_date())


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_fnr_in_a_delivery_refused_before_parsing_goes_to_restricted(s, fmt):
    """A checksum mismatch refuses the delivery before its rows are read; the identity number
    inside must still send it to the restricted area, never to the ordinary rejected one."""
    import json

    rs = rows("npr_episodes", 4)
    rs[2]["secondary_diagnoses"] = f"M545|{FNR}"
    folder = deliver(s.inbox, "npr_episodes", rs=rs, fmt=fmt)
    doc = json.loads((folder / "manifest.json").read_text())
    doc["files"][0]["sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(doc))
    r = ingest_delivery(folder, s)
    assert r.status == "rejected" and r.privacy_breach
    assert "checksum" in r.reason.lower() or "sha256" in r.reason.lower()
    assert FNR not in r.reason and FNR not in all_audit_text(s)
    assert (s.restricted / folder.name).is_dir() and not (s.rejected / folder.name).exists()


def test_sweep_does_not_flag_hex_ids_or_wrong_control_digits(s):
    import json

    rs = rows("nav_sickleave", 3)
    rs[0]["person_id"] = "00000" + FNR
    rs[1]["diagnosis_code"] = wrong_control(FNR)
    folder = deliver(s.inbox, "nav_sickleave", rs=rs)
    doc = json.loads((folder / "manifest.json").read_text())
    doc["files"][0]["rows"] = 7
    (folder / "manifest.json").write_text(json.dumps(doc))
    r = ingest_delivery(folder, s)
    assert r.status == "rejected" and not r.privacy_breach
    assert (s.rejected / folder.name).is_dir()
