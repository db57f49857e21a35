"""The quality report in real headless Chromium: it renders, logs no console error, names a failing trust."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_report_renders_without_errors_and_shows_a_failing_trust(uncoded_run, browser_page):
    s, report = uncoded_run
    page_path = s.out / "quality" / "index.html"
    failing = sorted({f["health_trust"] for f in report.quality["findings"]
                      if f["expectation"] == "trust_work_unit_coding_gap"})
    assert failing
    html = page_path.read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html, \
        "self-contained: no external resource"

    page, errors = browser_page
    page.goto(page_path.as_uri())
    assert page.locator("#verdict").inner_text() == "PUBLISHABLE"
    summary = page.locator("#warning-summary")
    assert summary.is_visible()
    assert all(t in summary.inner_text() for t in failing), "every failing trust is named"
    assert failing[0] in page.locator("#warning-findings").inner_text()
    trust = page.locator(f'details.trust[data-trust="{failing[0]}"]')
    assert trust.get_attribute("open") is not None, "a trust with findings is open"
    assert trust.locator("svg").count() == 1 and trust.locator("svg polyline, svg circle").count() > 0
    assert trust.locator("td.fail").count() >= 1, "the failing month is highlighted"
    href = page.locator("a", has_text="Data Docs").get_attribute("href")
    assert (page_path.parent / href).exists()
    runs = page.locator("a.gx-run")
    assert runs.count() == 4, "one GX validation page per suite for this run"
    for i in range(runs.count()):
        target = page_path.parent / runs.nth(i).get_attribute("href")
        assert target.exists() and report.quality["run_id"] in str(target)
    assert page.locator("#periods span").count() == len(report.quality["periods"])
    assert errors == []
