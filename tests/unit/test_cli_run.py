"""``workhealth run``: the whole pipeline in-process, with its documented exit codes."""

from __future__ import annotations

import dataclasses
import json

import pytest


@pytest.mark.slow
def test_run_json_reports_every_delivery_and_the_build(uncoded_cli_run):
    """``workhealth run --json`` of the uncoded-work-units cycle (shared session fixture, tests/conftest.py):
    exit 0 (the coding defect is a warning), and the JSON report reconciles every delivery."""
    assert uncoded_cli_run.exit_code == 0, uncoded_cli_run.output
    report = json.loads(uncoded_cli_run.output)
    assert {d["delivery"] for d in report["deliveries"]} == set(uncoded_cli_run.delivered)
    for d in report["deliveries"]:
        assert d["status"] == "accepted"
        assert d["rows_loaded"] + d["rows_quarantined"] == d["rows_manifest"]
    assert report["build"]["ok"] and report["build"]["failed"] == []
    assert report["build"]["nodes"] > 100, "seeds, models, unit and data tests all ran"
    assert report["quality"]["publishable"] and report["publish"]["created"]


@pytest.mark.slow
def test_run_with_a_rejected_delivery_exits_3_and_says_why(tmp_path):
    """One delivery with a wrong row count among good ones: it is refused with its reason, the
    others are loaded, built, validated and published, and the run exits 3."""
    from shared_fixtures import cli_run

    from workhealth.core import settings
    from workhealth.generate import generate

    s = dataclasses.replace(settings.load(), **{name: tmp_path / name for name in (
        "inbox", "out", "archive", "rejected", "restricted")}, warehouse=tmp_path / "warehouse" / "wh.duckdb")
    summary = generate(s.inbox, start="2018-01", end="2018-02", scale=0.001, seed=4, defects=["rowcount"])
    [refused] = [d["delivery"] for d in summary["deliveries"] if d["defects"]]
    run = cli_run(s)
    assert run.exit_code == 3, run.output
    line = next(x for x in run.output.splitlines() if refused in x)
    assert line.startswith("rejected") and "reason:" in line and "row" in line.lower(), line
    assert "1 rejected" in run.output
    assert run.report.build["ok"], run.report.build["summary"]  # the accepted deliveries are still built
    assert run.report.publish is not None and run.report.publish["created"]


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
