"""Adversarial: ``workhealth sql`` may read its release (or snapshot) and nothing else, and never write.

A release here is a real folder of Parquet files and metadata.json, as publishing writes it, and
a real DuckDB warehouse beside it; each escape is tried through the command line and must be
refused with a clear message, leaving every file as it was.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from workhealth.cli import main


@pytest.fixture
def platform(tmp_path, monkeypatch) -> Path:
    """OUT/releases/r1 (+ latest) with an indicator table, its internal part OUT/internal/r1 with a
    mart and a data dictionary, and a live warehouse."""
    import duckdb

    release, internal = tmp_path / "out" / "releases" / "r1", tmp_path / "out" / "internal" / "r1"
    release.mkdir(parents=True)
    (internal / "marts").mkdir(parents=True)
    (internal / "data_dictionary.html").write_text("<html>person_id</html>")
    (release / "metadata.json").write_text(json.dumps({"release_id": "r1"}))
    warehouse = tmp_path / "warehouse" / "wh.duckdb"
    warehouse.parent.mkdir()
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE SCHEMA audit; CREATE TABLE audit.deliveries AS SELECT 'd1' AS delivery, 'accepted' AS status")
    con.execute("CREATE SCHEMA marts; CREATE TABLE marts.fct_treatment_courses AS SELECT range AS course_id FROM range(5)")
    for target in (internal / "marts" / "fct_treatment_courses.parquet", release / "courses.parquet"):
        con.execute(f"COPY marts.fct_treatment_courses TO '{target}' (FORMAT parquet)")
    con.close()
    (release / "courses.csv").write_text("course_id\n0\n")
    (tmp_path / "out" / "releases" / "latest").symlink_to("r1")
    monkeypatch.setenv("WORKHEALTH_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("WORKHEALTH_WAREHOUSE", str(warehouse))
    return tmp_path


def sql(*args) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["sql", *args])
    return result.exit_code, result.stdout, result.stderr


def fingerprint(root: Path) -> dict[str, str]:
    """sha256 of every file under root but the snapshot copies (the snapshot mode makes those)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "snapshots" not in p.parts}


@pytest.mark.parametrize("mode", [(), ("--snapshot",)], ids=["release", "snapshot"])
def test_a_plain_select_works(platform, mode):
    code, out, err = sql(*mode, "SELECT count(*) AS n FROM marts.fct_treatment_courses", "--format", "json")
    assert code == 0, err
    assert json.loads(out) == [{"n": 5}]


ESCAPES = {
    "attach the live warehouse": "ATTACH '{warehouse}' AS live",
    "delete through an attachment": "ATTACH '{warehouse}' AS live; DELETE FROM live.audit.deliveries",
    "read a file outside": "SELECT * FROM read_csv('/etc/passwd', header = false)",
    "read a file outside, by a relative path": "SELECT * FROM read_text('{release}/../../../../../../etc/passwd')",
    "read the live warehouse's folder": "SELECT * FROM glob('{warehouse_dir}/*')",
    "read the internal part beyond its marts": "SELECT * FROM read_text('{internal}/data_dictionary.html')",
    "overwrite a published file": "COPY (SELECT 1 AS x) TO '{release}/courses.csv'",
    "write a new file": "COPY (SELECT 1 AS x) TO '{tmp}/stolen.csv'",
    "install an extension": "INSTALL httpfs",
    "load an extension": "LOAD httpfs",
    "change a setting": "SET enable_external_access = true",
    "reset the lock": "RESET lock_configuration",
    "create a table": "CREATE TABLE marts.x AS SELECT 1",
    "two statements": "SELECT 1; SELECT 2",
}


@pytest.mark.parametrize("mode", [(), ("--snapshot",)], ids=["release", "snapshot"])
@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escapes_are_refused_and_change_nothing(platform, mode, name):
    before = fingerprint(platform)
    query = ESCAPES[name].format(warehouse=platform / "warehouse" / "wh.duckdb", warehouse_dir=platform / "warehouse",
                                 release=platform / "out" / "releases" / "r1",
                                 internal=platform / "out" / "internal" / "r1", tmp=platform)
    code, out, err = sql(*mode, query)
    assert code == 1, (out, err)
    assert any(line.startswith(("refused:", "error: Permission Error")) for line in err.splitlines()), err
    assert "root:" not in out + err  # not a line of /etc/passwd
    assert fingerprint(platform) == before
    assert not (platform / "stolen.csv").exists()


@pytest.mark.parametrize("mode", [(), ("--snapshot",)], ids=["release", "snapshot"])
def test_file_access_is_refused_even_inside_a_select(platform, mode):
    """read_csv is a SELECT: it passes the statement check and DuckDB itself refuses the file."""
    code, out, err = sql(*mode, "SELECT * FROM read_csv('/etc/passwd', header = false)")
    assert code == 1 and "root:" not in out + err
    assert "Permission" in err or "disabled" in err, err
