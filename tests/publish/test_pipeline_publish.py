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


def test_a_critical_finding_in_one_month_withholds_its_year_in_every_table(outage_run):
    """The diagnosis-outage cycle (30 % invalid main diagnoses in 2017-12) through ``workhealth
    run`` (shared with the quality tests): the release is published; every row of 2017 in every
    table has empty measures flagged ``withheld``, 2018 is published as disclosure control left
    it, and metadata.json names 2017 with the finding that withheld it."""
    import pandas as pd

    from workhealth import pipeline
    from workhealth.publish import indicators

    s, run = outage_run
    report = run.report
    assert report.build["ok"] and report.quality["publishable"]
    assert list(report.quality["withheld"]) == ["2017"]
    assert report.publish is not None and report.publish["created"]
    assert run.exit_code == report.exit_code == pipeline.EXIT_YEARS_WITHHELD, run.output

    release = s.out / "releases" / "latest"
    meta = json.loads((release / "metadata.json").read_text())
    assert list(meta["withheld"]) == ["2017"]
    [finding] = meta["withheld"]["2017"]
    assert finding["check"] == "national_invalid_main_diagnosis_share" and finding["period"] == "2017-12"
    assert finding["observed"] > 0.2 and finding["threshold"] == "at most 0.2"
    page = (s.out / "report" / "index.html").read_text()
    assert "Withheld by the quality gate" in page and "2017 (national_invalid_main_diagnosis_share 2017-12)" in page
    for spec in indicators.TABLES:
        for df in (pd.read_csv(release / f"{spec.name}.csv", sep=";", dtype={"year": int}),
                   pd.read_parquet(release / f"{spec.name}.parquet")):
            # outcomes are by year of course end: no course of this 4-month window need end in 2017
            assert {2017, 2018} <= set(df["year"]) or (spec.name == "outcomes" and 2018 in set(df["year"])), \
                spec.name
            y2017, y2018 = df[df["year"] == 2017], df[df["year"] == 2018]
            for m in spec.measures:
                assert y2017[m.name].isna().all(), f"{spec.name}.{m.name}: a 2017 value is published"
                assert (y2017[f"{m.name}_flag"] == "withheld").all(), f"{spec.name}.{m.name}"
                assert not (y2018[f"{m.name}_flag"] == "withheld").any(), f"{spec.name}.{m.name}"
            assert y2018[spec.measures[0].name].notna().any(), f"{spec.name}: 2018 is published"
            assert meta["tables"][spec.name]["suppressed"][spec.measures[0].name]["withheld"] == len(y2017)
