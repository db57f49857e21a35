"""``workhealth run``: the whole pipeline in-process, with its documented exit codes."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from click.testing import CliRunner

from workhealth.cli import main


@pytest.mark.slow
def test_run_clean_inbox_exits_0_and_reconciles(clean_cli_run):
    """The clean quality cycle's ``workhealth run`` (shared session fixture, tests/conftest.py);
    ``--json`` then prints that run's report (pipeline.run replayed, not run a second time)."""
    assert clean_cli_run.exit_code == 0, clean_cli_run.output
    with mock.patch("workhealth.pipeline.run", return_value=clean_cli_run.report):
        result = CliRunner().invoke(main, ["run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {d["delivery"] for d in report["deliveries"]} == set(clean_cli_run.delivered)
    for d in report["deliveries"]:
        assert d["status"] == "accepted"
        assert d["rows_loaded"] + d["rows_quarantined"] == d["rows_manifest"]
    assert report["build"]["ok"] and report["build"]["failed"] == []
    assert report["build"]["nodes"] > 100, "seeds, models, unit and data tests all ran"


def test_run_with_a_rejected_delivery_exits_3_and_says_why(workhealth_env):
    """Ingestion is real (one delivery with a wrong row count among good ones); the stages after
    it are stand-ins (a whole dbt build, validation and release run in the clean cycle above):
    what is asked here is the exit code and the reason shown for the rejection."""
    from workhealth import pipeline
    from workhealth.generate import generate

    generate(workhealth_env.inbox, start="2018-01", end="2018-01", scale=0.001, seed=4, defects=["rowcount"])
    built = {"ok": True, "nodes": 1, "failed": [], "summary": "dbt: 1 nodes ok"}
    passed = {"publishable": True, "summary": "quality: passed", "withheld_reason": ""}
    released = {"created": True, "release_id": "r1", "path": "releases/r1", "report_path": "report/index.html"}
    with mock.patch.object(pipeline, "build_stage", return_value=built) as build, \
            mock.patch.object(pipeline, "validate_stage", return_value=passed), \
            mock.patch.object(pipeline, "publish_stage", return_value=released):
        result = CliRunner().invoke(main, ["run"])
    build.assert_called_once()  # the accepted deliveries are still built
    assert result.exit_code == 3, result.output
    assert "rejected" in result.output
    assert "row" in result.output.lower()
    assert "1 rejected" in result.output


def test_paths_are_settings(tmp_path, monkeypatch):
    from workhealth.core import settings

    monkeypatch.setenv("WORKHEALTH_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.delenv("WORKHEALTH_INBOX", raising=False)
    monkeypatch.setenv("WORKHEALTH_WAREHOUSE", str(tmp_path / "w.duckdb"))
    s = settings.load()
    assert s.inbox == tmp_path / "d" / "inbox"
    assert s.warehouse == tmp_path / "w.duckdb"
    env = settings.airflow_environ(s)
    assert env["WORKHEALTH_WAREHOUSE"] == str(tmp_path / "w.duckdb")
