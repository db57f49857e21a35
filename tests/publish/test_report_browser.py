"""The report in real headless Chromium (Debian's, through playwright): it renders from disk
with no console error, and every chart is there as inline SVG. Keeps a screenshot."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from shared_fixtures import settings_for
from test_evaluation_report import check_the_page_of_a_real_release

ARTEFACTS = Path(__file__).resolve().parents[1] / "artefacts"  # gitignored
CHARTS = ("courses-by-rhf", "sick-leave-by-era", "rtw-by-diagnosis", "trajectories", "cooperation-by-rhf",
          "young-vs-others", "coding-quality")
_DTYPES = {c: str for c in ("geo_level", "geo_code", "care_level", "diagnosis_group", "era", "age_group")}


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
    _check_numbers(page, result.path)
    link = page.locator("a", has_text="courses.csv").get_attribute("href")
    assert (result.report_path.parent / link).resolve() == result.path / "courses.csv"
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert errors == []
    assert all(u.startswith("file://") for u in requests), "works offline: nothing but local files"
    assert shot.stat().st_size > 20_000
    ARTEFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTEFACTS / "publish_report.png")
    # the "What works for whom" page of the same release, from the index's link
    check_the_page_of_a_real_release(page, errors, requests, result)


def _published(release: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(release / f"{name}.csv", sep=";", dtype=_DTYPES, keep_default_na=False, na_values=[""])


def _totals(df: pd.DataFrame, **dims) -> pd.DataFrame:
    sel = pd.Series(True, index=df.index)
    for dim in ("care_level", "diagnosis_group", "era", "age_group"):
        sel &= df[dim] == dims.get(dim, "all")
    return df[sel & (df.geo_level == dims["geo_level"])]


def _check_numbers(page, release: Path) -> None:
    """The cooperation and age-group charts are labelled and their numbers, as the browser shows
    them under the chart, are the published CSV's (suppressed: empty)."""
    coop = page.locator("figure#cooperation-by-rhf")
    svg_text = coop.locator("svg").text_content()
    for label in ("NAV measure within 6 months", "IPS within 12 months", "GP in the 3 months before",
                  "GP in the 3 months after", "municipal mental health after", "year of course start"):
        assert label in svg_text, label
    young = page.locator("figure#young-vs-others")
    assert "16-29 (young)" in young.locator("svg").text_content()
    assert "at work 12 months after the course" in young.locator("svg").text_content()

    def shown(figure) -> dict:
        figure.locator("summary").click()  # open the numbers
        cells = figure.locator("table.numbers").evaluate(
            """t => [...t.tBodies[0].rows].flatMap(r => [...r.querySelectorAll('td')].map(td =>
                 [r.cells[0].textContent, r.cells[1].textContent, td.dataset.year, td.innerText]).filter(c => c[2] !== undefined))""")
        assert figure.locator("table.numbers").is_visible()
        return {(a, b, int(y)): (None if v == "" else float(v)) for a, b, y, v in cells}

    cooperation = _published(release, "cooperation")
    expected = {}
    for level in ("country", "rhf"):
        for _, r in _totals(cooperation, geo_level=level).iterrows():
            for m in ("nav_measure_6m", "ips_12m", "gp_before_3m", "gp_after_3m", "municipal_mental_health_after_3m"):
                v = r[f"share_{m}"]
                expected[(f"share_{m}", r["geo_code"], int(r["year"]))] = None if pd.isna(v) else float(v)
    got = shown(coop)
    assert got == expected
    assert any(v is not None for v in got.values()), "some cooperation share is published"

    expected = {}
    for name, measure in (("courses", "n_courses"), ("outcomes", "rtw_rate_12m")):
        t = _published(release, name)
        t = t[(t.geo_level == "country") & (t.care_level == "all") & (t.diagnosis_group == "all") & (t.era == "all")
              & ~t.age_group.isin(["all", "UNKNOWN"])]
        for _, r in t.iterrows():
            expected[(measure, r["age_group"], int(r["year"]))] = None if pd.isna(r[measure]) else float(r[measure])
    got = shown(young)
    assert got == expected
    assert {k[1] for k in got} >= {"16-29", "30-49"}, "the young and the others are there"
    assert any(v is not None and k[0] == "n_courses" for k, v in got.items())


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
