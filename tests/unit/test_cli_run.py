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
    # strict JSON (jq reads it): no NaN or Infinity
    report = json.loads(uncoded_cli_run.output, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert {d["delivery"] for d in report["deliveries"]} == set(uncoded_cli_run.delivered)
    for d in report["deliveries"]:
        assert d["status"] == "accepted"
        assert d["rows_loaded"] + d["rows_quarantined"] == d["rows_manifest"]
    assert report["build"]["ok"] and report["build"]["failed"] == []
    assert report["build"]["nodes"] > 100, "seeds, models, unit and data tests all ran"
    assert report["quality"]["publishable"] and report["publish"]["created"]
    assert report["evaluation"]["ok"] and set(report["evaluation"]["rows"]) >= {"evaluation.effects",
                                                                         "marts.fct_evaluation_cohort"}


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
    assert "evaluation: matched/treated entries" in run.output


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


def test_a_failed_evaluation_is_reported_with_intervention_and_step_and_exits_8(tmp_path):
    """The evaluation stage on a warehouse without its input (no dbt build): a real
    EvaluationError comes back as a failed stage naming the intervention(s) and the step, and
    the run's exit code is 8 unless an earlier stage already decided it."""
    from workhealth import pipeline
    from workhealth.core import settings

    s = dataclasses.replace(settings.load(), warehouse=tmp_path / "wh.duckdb")
    evaluation = pipeline.evaluate_stage(s)
    assert not evaluation["ok"]
    assert evaluation["intervention"] == "HA_COURSE, HA_COURSE_1, HA_COURSE_2, HA_COURSE_3"
    assert evaluation["step"] == "read"
    assert evaluation["summary"].startswith(f"evaluation failed: intervention {evaluation['intervention']}, "
                                            "step read: ")
    assert evaluation["summary"].endswith("(nothing published)")

    ok_build, ok_quality = {"ok": True}, {"publishable": True, "withheld": {}}
    failed = pipeline.RunReport(build=ok_build, quality=ok_quality, evaluation=evaluation)
    assert failed.exit_code == pipeline.EXIT_EVALUATION_FAILED == 8
    rejected = [{"status": "rejected"}]
    assert pipeline.RunReport(deliveries=rejected, build=ok_build, quality=ok_quality,
                              evaluation=evaluation).exit_code == 8, "before 3: nothing was published"
    assert pipeline.RunReport(build=ok_build, quality={"publishable": False}).exit_code == 5
    assert pipeline.RunReport(build={"ok": False}).exit_code == 4
    done = {"ok": True}
    assert pipeline.RunReport(deliveries=rejected, build=ok_build, quality=ok_quality, evaluation=done).exit_code == 3
    assert pipeline.RunReport(build=ok_build, quality={"publishable": True, "withheld": {"2017": []}},
                              evaluation=done).exit_code == 7
