"""``workhealth run``: the whole pipeline in-process, with its documented exit codes."""

from __future__ import annotations

import json

from click.testing import CliRunner

from workhealth.cli import main


def test_run_clean_inbox_exits_0_and_reconciles(workhealth_env):
    from workhealth.generate import generate

    summary = generate(workhealth_env.inbox, start="2018-01", end="2018-02", scale=0.001, seed=3)
    result = CliRunner().invoke(main, ["run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {d["delivery"] for d in report["deliveries"]} == {d["delivery"] for d in summary["deliveries"]}
    for d in report["deliveries"]:
        assert d["status"] == "accepted"
        assert d["rows_loaded"] + d["rows_quarantined"] == d["rows_manifest"]
    assert report["build"]["ok"] and report["build"]["failed"] == []
    assert report["build"]["nodes"] > 100, "seeds, models, unit and data tests all ran"


def test_run_with_a_rejected_delivery_exits_3_and_says_why(workhealth_env):
    from workhealth.generate import generate

    generate(workhealth_env.inbox, start="2018-01", end="2018-01", scale=0.001, seed=4, defects=["rowcount"])
    result = CliRunner().invoke(main, ["run"])
    assert result.exit_code == 3, result.output
    assert "rejected" in result.output
    assert "row" in result.output.lower()


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
