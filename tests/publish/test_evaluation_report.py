"""The "What works for whom" page (report.evaluation_page) in real headless Chromium.

Two inputs: the real release of the publishing warehouse (checked from
tests/publish/test_report_browser.py, which publishes it anyway: a publish costs most of a
minute; its index months have no 12-month follow-up yet, so the forest plots are empty, every
row suppressed or without units), and here a release folder written from evaluation tables with
enough treated entries to draw every mark, passed through the real disclosure control
(``suppress_effects``): the inputs are constructed, the page, the charts and the disclosure are
the real ones.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # Chromium

ARTEFACTS = Path(__file__).resolve().parents[1] / "artefacts"  # gitignored
INTERVENTIONS = ("HA_COURSE", "HA_COURSE_1", "HA_COURSE_2", "HA_COURSE_3", "IPS", "NAV_MEASURE")
COVARIATES = ("age", "months_work_12m", "months_syk_12m", "employed_prev", "mean_earnings_12m")
SUBGROUPS = (("all", "all"), ("age_group", "16-29"), ("age_group", "30-49"), ("age_group", "50-66"),
             ("sex", "1"), ("sex", "2"))
KS = (3, 6, 12, 24)


def _methods_text(page) -> str:
    box = page.locator("section#methods")
    assert box.count() == 1 and box.is_visible()
    return box.inner_text()


def _assert_methods(text: str) -> None:
    for phrase in ("same month and the same situation", "comparison", "unmeasured confounding", "E-value",
                   "Intention to treat", "empty in the table"):
        assert phrase in text, phrase


def _shown_numbers(figure) -> dict:
    """A forest figure's numbers table as the browser shows it: (dim, value, column) -> value."""
    figure.locator("summary").click()
    cells = figure.locator("table.numbers").evaluate(
        """t => [...t.tBodies[0].rows].flatMap(r => [...r.querySelectorAll('td')].map(td =>
             [r.dataset.dim, r.dataset.value, td.dataset.col, td.innerText]))""")
    return {(d, v, c): (None if x == "" else float(x)) for d, v, c, x in cells}


def _svg_texts(svg) -> list[str]:
    """The text of every <text> element of an inline SVG, in document order."""
    return svg.evaluate("s => [...s.querySelectorAll('text')].map(t => t.textContent.trim())")


def _published(release: Path, intervention: str) -> dict:
    e = pd.read_csv(release / "effects.csv", sep=";", dtype={"subgroup_value": str}, keep_default_na=False,
                    na_values=[""])
    e = e[(e.intervention == intervention) & (e.outcome == "rtw") & (e.k == 12)]
    return {(r["subgroup_dim"], r["subgroup_value"], c): (None if pd.isna(r[c]) else float(r[c]))
            for _, r in e.iterrows()
            for c in ("n_treated", "risk_difference", "ci_low", "ci_high", "naive_difference")}


def check_the_page_of_a_real_release(page, errors: list, requests: list, result) -> None:
    """On the report index of a real release (tests/publish/test_report_browser.py, which has
    published one already): the link to the page works, every forest plot is there with the
    published numbers of the effects table, the balance and incidence charts and the methods
    box too, with no console error and nothing but local files."""
    page_path = result.report_path.with_name("evaluation.html")
    text = page_path.read_text(encoding="utf-8")
    assert "<script" not in text and not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    page.goto(result.report_path.as_uri())
    page.locator("p#pages a", has_text="What works for whom").click()
    page.wait_for_load_state()
    assert page.url == page_path.as_uri()
    assert page.locator("h1").inner_text() == "What works for whom"
    effects = pd.read_csv(result.path / "effects.csv", sep=";")
    assert len(effects) > 0
    for name in sorted(set(effects["intervention"])):
        svg = page.locator(f"figure#forest-{name} svg")
        assert svg.count() == 1, name
        box = svg.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, name
        assert _shown_numbers(page.locator(f"figure#forest-{name}")) == _published(result.path, name), name
    for chart in ("balance", "cumulative-incidence"):
        assert page.locator(f"figure#{chart} svg").count() == 1, chart
    _assert_methods(_methods_text(page))
    link = page.locator("a", has_text="effects.csv").get_attribute("href")
    assert (page_path.parent / link).resolve() == result.path / "effects.csv"
    assert errors == []
    assert all(u.startswith("file://") for u in requests), "works offline: nothing but local files"


def _evaluation_tables(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """evaluation.effects, .balance and .cumulative_incidence as the evaluation writes them: IPS
    with 3 treated entries (every estimate suppressed), the others with hundreds."""
    effects, balance, cif = [], [], []
    for name in INTERVENTIONS:
        n_all = 3 if name == "IPS" else 600
        shares = {"age_group": (0.3, 0.5, 0.2), "sex": (0.45, 0.55)}
        for dim, value in SUBGROUPS:
            if dim == "all":
                n = n_all
            else:
                values = [v for d, v in SUBGROUPS if d == dim]
                split = np.floor(np.array(shares[dim]) * n_all).astype(int)
                split[-1] = n_all - split[:-1].sum()
                n = int(split[values.index(value)])
            for outcome in ("rtw", "hrb", "sustained_rtw"):
                for k in KS:
                    rate_c = 0.3 + 0.02 * k / 12
                    rd = 0.05 + 0.01 * rng.standard_normal()
                    effects.append(dict(
                        intervention=name, subgroup_dim=dim, subgroup_value=value, outcome=outcome, k=k,
                        n_treated=n, n_comparison=min(4 * n, 2000), n_unmatched=n // 20,
                        rate_treated=rate_c + rd, rate_comparison=rate_c, risk_difference=rd,
                        ci_low=rd - 0.04, ci_high=rd + 0.04, naive_difference=rd - 0.08,
                        e_value=1.3, max_abs_smd=0.05, imbalanced=False, imprecise=n < 100))
            for cov in COVARIATES:
                before = 0.4 * rng.standard_normal()
                balance.append(dict(intervention=name, subgroup_dim=dim, subgroup_value=value, covariate=cov,
                                    smd_before=before, smd_after=before / 10))
            for role, slope in (("treated", 0.03), ("comparison", 0.025)):
                for month in range(25):
                    cif.append(dict(intervention=name, subgroup_dim=dim, subgroup_value=value, month=month,
                                    role=role, cif=min(1.0, slope * month)))
    return pd.DataFrame(effects), pd.DataFrame(balance), pd.DataFrame(cif)


def test_the_page_draws_estimates_balance_and_incidence_and_leaves_suppressed_out(tmp_path, browser_page):
    from workhealth.publish import report
    from workhealth.publish.disclosure import suppress_effects

    effects, balance, cif = _evaluation_tables(np.random.default_rng(7))
    release, evaluation = tmp_path / "releases" / "r1", tmp_path / "internal" / "r1" / "evaluation"
    release.mkdir(parents=True)
    evaluation.mkdir(parents=True)
    published = suppress_effects(effects)
    published.to_csv(release / "effects.csv", sep=";", index=False, na_rep="", lineterminator="\n")
    balance.to_parquet(evaluation / "balance.parquet")
    cif.to_parquet(evaluation / "cumulative_incidence.parquet")
    # IPS: 3 treated, so every estimate and its counts are suppressed; the others are shown
    ips = published[(published.intervention == "IPS") & (published.subgroup_dim == "all")]
    assert ips["risk_difference"].isna().all() and ips["n_treated"].isna().all()
    assert report.shown_interventions(report.read_effects(release)) == {n: 24 for n in INTERVENTIONS if n != "IPS"}

    target = tmp_path / "report" / "evaluation.html"
    meta = {"release_id": "r1", "horizon": "2020-12"}
    target.parent.mkdir()
    target.write_text(report.evaluation_page(release, meta, evaluation, target), encoding="utf-8")

    page, errors = browser_page
    page.goto(target.as_uri())
    for name in INTERVENTIONS:
        figure = page.locator(f"figure#forest-{name}")
        svg_text = figure.locator("svg").text_content()
        assert report.INTERVENTIONS[name] in svg_text, name
        shown = _shown_numbers(figure)
        assert shown == _published(release, name), name
        if name == "IPS":
            assert all(v is None for k, v in shown.items() if k[2] != "n_treated"), "suppressed: empty"
            assert "(suppressed)" in svg_text and "all values suppressed" in svg_text
        else:
            assert shown[("all", "all", "n_treated")] == 600
            assert shown[("age_group", "16-29", "risk_difference")] is not None
            assert "(suppressed)" not in svg_text and "matched (95 % interval)" in svg_text
            assert "naive (unmatched pool)" in svg_text and "age group: 16-29" in svg_text
    love = _svg_texts(page.locator("figure#balance svg"))
    cumulative = _svg_texts(page.locator("figure#cumulative-incidence svg"))
    panels = [n for n in INTERVENTIONS if n != "IPS"]  # titled by intervention; IPS (3 treated) has none
    assert [x for x in love if x in INTERVENTIONS] == panels
    assert [x for x in cumulative if x in INTERVENTIONS] == panels
    assert {"months work 12m", "after matching", "before matching"} <= set(love)
    assert {"treated", "matched comparison"} <= set(cumulative)
    for chart in ("balance", "cumulative-incidence", *(f"forest-{n}" for n in INTERVENTIONS)):
        box = page.locator(f"figure#{chart} svg").bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, chart
    _assert_methods(_methods_text(page))
    shot = tmp_path / "evaluation.png"
    page.screenshot(path=str(shot), full_page=True)
    assert errors == []
    assert shot.stat().st_size > 20_000
    ARTEFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTEFACTS / "evaluation_report.png")
