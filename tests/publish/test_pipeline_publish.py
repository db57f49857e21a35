"""``workhealth run`` end to end: ingest, build, validate (the real quality gate), publish."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_run_publishes_after_a_passing_gate_and_only_when_something_changed(clean_cli_run, tmp_path):
    """The clean cycle through ``workhealth run`` (shared with the quality tests, tests/conftest.py)."""
    from shared_fixtures import copy_run, settings_under
    from workhealth import pipeline

    s, first = clean_cli_run.settings, clean_cli_run
    assert first.exit_code == 0, first.output
    release_id = json.loads((s.out / "releases" / "latest" / "metadata.json").read_text())["release_id"]
    assert f"new release {release_id}: {s.out / 'releases' / release_id}" in first.output
    assert f"report: {s.out / 'report' / 'index.html'}" in first.output

    # The publish stage again on the gate's kept result: nothing changed, so no new release
    # (on a copy of the run's folders: the shared run stays as it was whatever happens).
    own = settings_under(s, copy_run(s.inbox.parent, tmp_path / "copy"))
    quality = json.loads((own.out / "quality" / "result.json").read_text())
    again = pipeline.publish_stage(own, quality)
    assert again["created"] is False and again["release_id"] == release_id


def test_run_withholds_publication_past_a_critical_finding(outage_run):
    """The diagnosis-outage cycle through ``workhealth run`` (shared with the quality tests)."""
    from workhealth import pipeline

    s, run = outage_run
    report = run.report
    assert report.build["ok"] and not report.quality["publishable"]
    assert report.publish is None and report.exit_code == pipeline.EXIT_PUBLICATION_WITHHELD
    assert run.exit_code == pipeline.EXIT_PUBLICATION_WITHHELD, run.output
    assert not (s.out / "releases").exists()
