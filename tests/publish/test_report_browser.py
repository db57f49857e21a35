"""The report in real headless Chromium (Debian's, through playwright): it renders from disk
with no console error, and every chart is there as inline SVG. Keeps a screenshot."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import settings_for

ARTEFACTS = Path(__file__).resolve().parents[1] / "artefacts"  # gitignored
CHARTS = ("courses-by-rhf", "sick-leave-by-era", "rtw-by-diagnosis", "trajectories", "coding-quality")


@pytest.mark.slow  # the built warehouse and Chromium
def test_report_renders_offline_with_every_chart(built_warehouse, tmp_path, quality_ok, browser_page):
    from workhealth.publish import publish
    from workhealth.transform import data_dictionary

    s = settings_for(tmp_path, warehouse=built_warehouse / "warehouse" / "wh.duckdb")
    result = publish(s, quality_ok, dictionary=data_dictionary)
    page_html = result.report_path.read_text()
    assert "<script" not in page_html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page_html), "no external resources"
    assert "2018-06" in page_html, "the warning period is named"

    page, errors = browser_page
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(result.report_path.as_uri())
    for chart in CHARTS:
        svg = page.locator(f"figure#{chart} svg")
        assert svg.count() == 1, chart
        box = svg.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, chart
    assert result.release_id in page.locator("p.note").first.inner_text()
    link = page.locator("a", has_text="courses.csv").get_attribute("href")
    assert (result.report_path.parent / link).resolve() == result.path / "courses.csv"
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert errors == []
    assert all(u.startswith("file://") for u in requests), "works offline: nothing but local files"
    assert shot.stat().st_size > 20_000
    ARTEFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTEFACTS / "publish_report.png")


def test_report_shows_only_coding_quality_rates_over_ten_episodes():
    from workhealth.publish.report import coding_quality_rates

    # rows of coding_quality_yearly (the rates are computed in dbt; the report only masks)
    yearly = pd.DataFrame({
        "health_trust": ["A", "B"], "year": [2018, 2018], "n_episodes": [11, 9], "n_work_unit_episodes": [9, 9],
        "invalid_main_diagnosis_rate": [1 / 11, 1 / 9], "missing_referral_rate": [1 / 11, 2 / 9],
        "work_unit_not_work_related_rate": [2 / 9, 3 / 9]})
    rates = coding_quality_rates(yearly).set_index("health_trust")
    assert rates.loc["A", "invalid_main_diagnosis_rate"] == 1 / 11  # 11 episodes over the year
    assert pd.isna(rates.loc["A", "work_unit_not_work_related_rate"])  # 9 work-unit episodes < 10
    assert rates[["invalid_main_diagnosis_rate", "missing_referral_rate"]].loc["B"].isna().all()
