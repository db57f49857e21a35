"""``workhealth run`` end to end: ingest, build, validate (the real quality gate), publish."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import settings_for

pytestmark = pytest.mark.slow


def _cli_run(s):
    from workhealth.cli import main

    env = {"WORKHEALTH_ARCHIVE": str(s.archive), "WORKHEALTH_REJECTED": str(s.rejected),
           "WORKHEALTH_RESTRICTED": str(s.restricted)}
    return CliRunner(env=env).invoke(main, ["run", "--inbox", str(s.inbox), "--warehouse", str(s.warehouse),
                                            "--out", str(s.out)])


def test_run_publishes_after_a_passing_gate_and_only_when_something_changed(tmp_path):
    from workhealth import pipeline
    from workhealth.generate import generate

    s = settings_for(tmp_path)
    generate(s.inbox, start="2017-12", end="2018-03", scale=0.001, seed=31)
    first = _cli_run(s)
    assert first.exit_code == 0, first.output
    release_id = json.loads((s.out / "releases" / "latest" / "metadata.json").read_text())["release_id"]
    assert f"new release {release_id}: {s.out / 'releases' / release_id}" in first.output
    assert f"report: {s.out / 'report' / 'index.html'}" in first.output

    # The publish stage again on the gate's kept result: nothing changed, so no new release.
    quality = json.loads((s.out / "quality" / "result.json").read_text())
    again = pipeline.publish_stage(s, quality)
    assert again["created"] is False and again["release_id"] == release_id


def test_run_withholds_publication_past_a_critical_finding(tmp_path):
    from workhealth import pipeline
    from workhealth.generate import generate

    s = settings_for(tmp_path)
    generate(s.inbox, start="2017-12", end="2018-02", scale=0.001, seed=23, defects=["diagnosis_outage"])
    report = pipeline.run(s)
    assert report.build["ok"] and not report.quality["publishable"]
    assert report.publish is None and report.exit_code == pipeline.EXIT_PUBLICATION_WITHHELD
    assert not (s.out / "releases").exists()
