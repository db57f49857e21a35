"""``workhealth sql``: read-only queries on the latest release (or a warehouse snapshot) that
work while the pipeline holds the warehouse's write lock, and never take that lock themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from workhealth.cli import main

pytestmark = pytest.mark.slow  # the clean pipeline run

PATHS = (("WORKHEALTH_INBOX", "inbox"), ("WORKHEALTH_WAREHOUSE", "warehouse/wh.duckdb"), ("WORKHEALTH_OUT", "out"),
         ("WORKHEALTH_ARCHIVE", "archive"), ("WORKHEALTH_REJECTED", "rejected"),
         ("WORKHEALTH_RESTRICTED", "restricted"))


@pytest.fixture(scope="module")
def published(clean_cli_run, tmp_path_factory) -> Path:
    """A private copy of the clean cycle's ``workhealth run`` (ingest, dbt build, validate, publish;
    the shared session fixture): the tests lock the warehouse and write a snapshot beside it."""
    from shared_fixtures import copy_run

    assert clean_cli_run.exit_code == 0, clean_cli_run.output
    return copy_run(clean_cli_run.settings.inbox.parent, tmp_path_factory.mktemp("sql"))


@pytest.fixture
def env(published, monkeypatch):
    for name, sub in PATHS:
        monkeypatch.setenv(name, str(published / sub))
    return published


def sql(*args) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["sql", *args])
    return result.exit_code, result.stdout, result.stderr


def warehouse_count(root: Path, table: str) -> int:
    import duckdb

    con = duckdb.connect(str(root / "warehouse" / "wh.duckdb"), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def writer(env):
    """Another process holding the warehouse read-write (what a running pipeline task does)."""
    code = ("import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('locked', flush=True); "
            "sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(env / "warehouse" / "wh.duckdb")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    proc.stdin.close()
    proc.wait(timeout=30)


def test_lists_the_release_tables(env):
    code, out, err = sql()
    assert code == 0, err
    tables = out.split()
    assert "marts.fct_treatment_courses" in tables and "marts.coding_quality_monthly" in tables
    assert any(t.startswith("release.") for t in tables), tables
    assert "release " in err and "latest" not in err.split(":")[0]  # names the release id it reads


def test_query_matches_the_warehouse(env):
    expected = warehouse_count(env, "marts.fct_person_month")
    code, out, err = sql("SELECT count(*) AS n FROM marts.fct_person_month", "--format", "json")
    assert code == 0, err
    assert json.loads(out) == [{"n": expected}] and expected > 0


def test_release_query_works_while_the_pipeline_writes(env, writer):
    code, out, err = sql("SELECT health_trust, count(*) AS courses FROM marts.fct_treatment_courses "
                         "GROUP BY 1 ORDER BY 1", "--format", "csv")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "health_trust,courses" and len(lines) > 1
    # The snapshot needs the warehouse: it says so instead of waiting or breaking the writer.
    code, out, err = sql("--snapshot", "SELECT 1")
    assert code == 6 and "warehouse busy (held by another process): try again" in err and "Traceback" not in err


def test_snapshot_has_every_schema_and_leaves_the_live_file_free(env):
    expected = warehouse_count(env, "raw.npr_episodes")
    code, out, err = sql("--snapshot", "SELECT count(*) AS n FROM raw.npr_episodes", "--format", "json")
    assert code == 0, err
    assert json.loads(out) == [{"n": expected}]
    assert "snapshot of the warehouse" in err and err.strip().endswith(".snapshot.duckdb")
    import duckdb

    duckdb.connect(str(env / "warehouse" / "wh.duckdb")).close()  # nobody holds the live file


def test_errors_are_named(env):
    code, _, err = sql("SELECT * FROM marts.no_such_mart")
    assert code == 1 and "no_such_mart" in err
    code, _, err = sql("--release", "19990101T000000Z", "SELECT 1")
    assert code == 1 and "no release 19990101T000000Z" in err and "releases:" in err
