"""Adversarial: a national identity number in every place a delivery can carry one (a value inside
longer text, numeric forms, the manifest, folder, file and column names) rejects the delivery as a
privacy breach, by the parsed check and by the byte sweep alike; the files go to restricted/
(0700/0600), and the number (or its last six digits) appears nowhere: not in the result, the note,
the CLI's output, the delivery log, the audit tables or raw."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from ingest_helpers import csv_text, deliver, query, raw_delivery, rows, table  # noqa: E402

from workhealth.cli import main  # noqa: E402
from workhealth.core import identity  # noqa: E402
from workhealth.core.registers import REGISTERS  # noqa: E402
from workhealth.generate.writer import write_delivery  # noqa: E402

FNR0 = identity.make_identity_number(1, 1, 85, 123)    # 0101851....: loses its leading zero as a number
FNR = identity.make_identity_number(12, 7, 77, 321)    # 120777.....
assert FNR0.startswith("0") and not FNR.startswith("0")


@pytest.fixture
def s(workhealth_env):
    return workhealth_env


def _with_value(s, register, column, value, fmt="csv"):
    rs = rows(register, 4)
    rs[2][column] = value
    return deliver(s.inbox, register, rs=rs, fmt=fmt)


def _break_checksum(folder: Path) -> None:
    """Refused before its rows are parsed: the byte sweep, not the parsed check, must find it."""
    doc = json.loads((folder / "manifest.json").read_text())
    doc["files"][0]["sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(doc))


def _data_cases():
    return {
        "inside_text_after_comma": ("npr_episodes", "secondary_diagnoses", f"M545,{FNR0}", "csv"),
        "inside_text_after_word": ("npr_episodes", "procedure_codes", f"fnr {FNR0}", "csv.gz"),
        "plus_sign": ("aareg_employment", "earnings_nok", f"+{FNR}", "csv"),
        "leading_zero_lost_csv": ("aareg_employment", "earnings_nok", FNR0[1:], "csv"),
        "dot_zero": ("aareg_employment", "fte_pct", f"{FNR0[1:]}.0", "csv"),
        "exponent": ("aareg_employment", "fte_pct", f"{int(FNR0):.9e}", "csv"),
    }


def assert_nowhere(s, number: str, result, folder_name: str, cli_output: str) -> None:
    needles = (number, number[-6:])
    assert result.status == "rejected" and result.privacy_breach, result
    texts = {"reason": result.reason, "cli": cli_output}
    restricted = s.restricted
    assert stat.S_IMODE(restricted.stat().st_mode) == 0o700
    kept = [p for p in restricted.iterdir()]
    assert len(kept) == 1, kept
    for p in [kept[0], *kept[0].rglob("*")]:
        mode = stat.S_IMODE(p.lstat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), (p, oct(mode))
        if p.name.startswith("REJECTED"):
            texts["note"] = p.read_text()
    assert "note" in texts
    assert not (s.rejected.exists() and any(s.rejected.iterdir()))
    assert not (s.inbox / folder_name).exists()
    texts["stored_at"] = str(kept[0])
    for t in ("deliveries", "delivery_events", "quarantine"):
        texts[t] = repr(query(s, f"SELECT * FROM audit.{t}"))
    for reg in REGISTERS:
        assert query(s, f"SELECT count(*) FROM raw.{reg}")[0][0] == 0
    listed = CliRunner().invoke(main, ["deliveries", "--json"])
    texts["deliveries"] += listed.output
    assert query(s, "SELECT status, privacy_breach FROM audit.deliveries") == [("rejected", True)]
    assert query(s, "SELECT stored_at FROM audit.deliveries")[0][0] == str(kept[0])
    for where, text in texts.items():
        for n in needles:
            assert n not in text, (where, n, text)


def _ingest_cli(s):
    result = CliRunner().invoke(main, ["ingest"])
    assert result.exit_code == 3, result.output
    r = query(s, "SELECT delivery, reason, privacy_breach FROM audit.deliveries")
    return result, r


class R:  # the CLI's outcome as the parts assert_nowhere reads
    def __init__(self, reason, privacy):
        self.status, self.reason, self.privacy_breach = "rejected", reason, privacy

    def __repr__(self):
        return f"R({self.reason!r})"


def _run(s, folder_name, number):
    out, rows_ = _ingest_cli(s)
    (_, reason, privacy), = rows_
    assert_nowhere(s, number, R(reason, privacy), folder_name, out.output + (out.stderr or ""))
    return reason


@pytest.mark.parametrize("path", ["parsed", "swept"])
@pytest.mark.parametrize("case", list(_data_cases()))
def test_identity_number_in_a_data_value(s, case, path):
    register, column, value, fmt = _data_cases()[case]
    folder = _with_value(s, register, column, value, fmt)
    if path == "swept":
        _break_checksum(folder)
    reason = _run(s, folder.name, FNR if case == "plus_sign" else FNR0)
    assert reason.startswith(f"privacy_breach: delivery {folder.name}, file {register}.csv")
    assert ("row 3" if path == "parsed" else "line 4") in reason


@pytest.mark.parametrize("path", ["parsed", "swept"])
@pytest.mark.parametrize("kind", ["int64", "double"])
def test_identity_number_stored_as_a_parquet_number(s, kind, path):
    rs = rows("aareg_employment", 3)
    t = table(rs)
    if kind == "int64":
        col = pa.array([45000, int(FNR0), 1200], pa.int64())
        t = t.set_column(t.schema.get_field_index("earnings_nok"), "earnings_nok", col)
    else:
        col = pa.array([80.5, float(int(FNR0)), 20.0], pa.float64())
        t = t.set_column(t.schema.get_field_index("fte_pct"), "fte_pct", col)
    folder = write_delivery(s.inbox, "aareg_employment", "2024-03", 1, [t], fmt="parquet")
    if path == "swept":
        _break_checksum(folder)
    reason = _run(s, folder.name, FNR0)
    assert "row 2" in reason


@pytest.mark.parametrize("value", [FNR0, int(FNR0[1:]), f"note {FNR}"], ids=["string", "number", "in_text"])
def test_identity_number_in_any_manifest_value(s, value):
    folder = deliver(s.inbox, "nav_aap")
    doc = json.loads((folder / "manifest.json").read_text())
    doc["comment"] = {"batch": value}
    (folder / "manifest.json").write_text(json.dumps(doc))
    _run(s, folder.name, FNR if value == f"note {FNR}" else FNR0)


def test_identity_number_in_the_folder_name(s):
    folder = deliver(s.inbox, "nav_aap")
    named = folder.rename(s.inbox / f"nav_aap_{FNR0}")
    reason = _run(s, named.name, FNR0)
    assert "the delivery's own name" in reason and "01018" in reason


def test_identity_number_as_the_data_file_name(s):
    rs = rows("nav_aap", 3)
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, csv_text(list(rs[0]), [";".join(r.values()) for r in rs]),
                          3, file_name=f"{FNR0}.csv")
    reason = _run(s, folder.name, FNR0)
    assert "name of a file or folder" in reason


def test_identity_number_as_a_column_name_in_numeric_form(s):
    header = ["decision_id", "person_id", "start_date", FNR0[1:]]
    folder = raw_delivery(s.inbox, "nav_aap", "2024-03", 1, csv_text(header, []), 0)
    _run(s, folder.name, FNR0)


def test_one_rule_and_one_mask():
    assert identity.find_identity_number(f"+{FNR}") and identity.find_identity_number(FNR0[1:] + ".0")
    assert identity.find_identity_number(f"{int(FNR0):.9e}") and identity.find_identity_number(f"M545,{FNR0}")
    assert not identity.find_identity_number("E" + FNR0[1:])          # an id with a letter: not a number
    assert not identity.find_identity_number("0000" + FNR0)           # 15 digits
    assert identity.mask(f"x{FNR0}y") == "x01018******y" and identity.mask("v12345") == "v12345"


def test_a_value_that_is_no_identity_number_in_any_form_is_loaded(s):
    """The numeric forms do not flag ordinary numbers: 10-digit earnings that are no number in
    disguise, an id glued to a letter, a 12-digit value."""
    assert identity.find_identity_number(FNR0[1:]) and not identity.find_identity_number("1234567890")
    rs = rows("aareg_employment", 3)
    rs[0]["earnings_nok"] = "1234567890"
    rs[1]["employer_id"] = "E" + FNR0[1:]
    rs[2]["employer_id"] = FNR0 + "9"
    folder = deliver(s.inbox, "aareg_employment", rs=rs)
    result = CliRunner().invoke(main, ["ingest"])
    assert result.exit_code == 0, result.output
    assert query(s, "SELECT count(*) FROM raw.aareg_employment")[0][0] == 3
    assert not folder.exists()



def test_the_generator_never_draws_a_person_id_holding_an_identity_number():
    """Random 16-hex pseudonyms hold a valid 11-digit run about 5 times per million: the
    generator redraws those, or a national-scale delivery would be refused as a breach."""
    import numpy as np

    from workhealth.generate.simulation import _with_identity_number

    crafted = np.array([int("a" + FNR0 + "bcd", 16), 5, int("0000" + FNR0 + "b", 16)], dtype=np.uint64)
    assert _with_identity_number(crafted).tolist() == [0]  # the 15-digit run is no identity number
