"""The static report ``OUT/report/index.html``: SVG charts inlined, no scripts, opens from disk.

Every number comes from the release's files, read back after they were written: the
suppressed indicator tables (the cooperation and age-group charts carry their numbers as a table
under the chart, empty where suppressed), and for coding quality ``coding_quality_yearly`` from the release's
internal part (``OUT/internal/<release_id>/marts/``: the yearly rates per health trust,
computed in dbt), of which only rates over at least
``MIN_UNITS`` units of their denominator are shown (rates are not counts:
they need no secondary suppression, and the counts themselves are not shown).
A suppressed value is a gap in a line, never a zero.

The page ``OUT/report/evaluation.html`` ("What works for whom", linked from the index) shows the
evaluation (docs/evaluation.md): forest plots of the published ``effects`` (risk differences,
suppressed rows empty) and, for interventions whose overall row is published (at least
``MIN_UNITS`` treated entries), two aggregates from the release's internal part
(``evaluation/``): the covariate balance (|SMD| before and after matching) and the cumulative
incidence of sustained return to work, treated against matched comparison.
"""

from __future__ import annotations

import html
import io
import json
import os
from pathlib import Path

import pandas as pd

from workhealth.core.definitions import (CODING_QUALITY_RATES, ERA_CHANGE_DATE, FOLLOW_UP_MONTHS,
                                         TRAJECTORY_OFFSETS, dbt_vars)
from workhealth.publish.disclosure import MIN_UNITS
from workhealth.publish.indicators import STATES
from workhealth.publish.release import EFFECTS

_DTYPES = {"care_level": str, "diagnosis_group": str, "era": str, "age_group": str, "geo_level": str, "geo_code": str}
_STATE_COLOURS = {"WORK": "#2b8a3e", "SYK": "#f59f00", "AAP": "#e8590c", "UFOR": "#c92a2a",
                  "NONE": "#adb5bd", "DEAD": "#343a40"}
_ERAS = {"RASKERE_TILBAKE": "Raskere tilbake", "HELSE_OG_ARBEID": "Helse og arbeid"}


def _read(release: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(release / f"{name}.csv", sep=";", dtype=_DTYPES, keep_default_na=False,
                       na_values=[""])


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})  # reproducible
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inlined in HTML


def _figure(n: int, width: float = 4.2, height: float = 3.0):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False, sharey=True)
    return fig, list(axes[0])


def _by_year(ax, df: pd.DataFrame, label_col: str, value: str, labels: dict | None = None,
             years: list[int] | None = None) -> None:
    """One line per ``label_col`` value over the years; suppressed years are gaps."""
    for key, g in df.groupby(label_col, sort=True):
        g = g.sort_values("year")
        ax.plot(g["year"], g[value], marker="o", label=(labels or {}).get(key, key))
    years = years or sorted(df["year"].unique())
    if years:
        ax.set_xticks(years, [str(y) for y in years])
        ax.set_xlim(min(years) - 0.5, max(years) + 0.5)
    if df[value].notna().sum() == 0:
        ax.text(0.5, 0.5, "all values suppressed", transform=ax.transAxes, ha="center", color="#868e96")
    ax.grid(alpha=0.3)


def _legend(ax, **kwargs) -> None:
    if ax.get_legend_handles_labels()[0]:  # nothing to label when every line is suppressed
        ax.legend(**kwargs)


def chart_courses_by_rhf(courses: pd.DataFrame) -> str:
    d = courses[(courses.geo_level == "rhf") & (courses.diagnosis_group == "all") & (courses.era == "all")
                & (courses.age_group == "all")]
    fig, axes = _figure(3)
    years = sorted(courses["year"].unique())
    for ax, level, title in zip(axes, ("1", "2", "3"), ("døgn (1)", "dag (2)", "poliklinisk (3)")):
        _by_year(ax, d[d.care_level == level], "geo_code", "n_courses", years=years)
        ax.set_title(f"care level {title}")
        ax.set_xlabel("year of course start")
    axes[0].set_ylabel("treatment courses")
    _legend(axes[-1], title="RHF", fontsize=8)
    return _svg(fig)


def chart_sick_leave_by_era(courses: pd.DataFrame) -> str:
    d = courses[(courses.geo_level == "country") & (courses.care_level == "all")
                & (courses.diagnosis_group == "all") & (courses.age_group == "all") & (courses.era != "all")]
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    _by_year(a1, d, "era", "share_on_sick_leave_at_start", _ERAS)
    a1.set_ylim(0, 1)
    a1.set_title("share on sick leave at course start")
    _by_year(a2, d, "era", "median_sick_leave_days_at_start", _ERAS)
    a2.set_title("median days on sick leave at course start")
    for a in (a1, a2):
        a.set_xlabel("year of course start")
    _legend(a1, fontsize=8)
    return _svg(fig)


def chart_rtw_by_diagnosis(outcomes: pd.DataFrame) -> str:
    d = outcomes[(outcomes.geo_level == "country") & (outcomes.care_level == "all") & (outcomes.era == "all")
                 & (outcomes.age_group == "all") & (outcomes.diagnosis_group != "all")]
    fig, axes = _figure(len(FOLLOW_UP_MONTHS))
    years = sorted(outcomes["year"].unique())
    for ax, k in zip(axes, FOLLOW_UP_MONTHS):
        _by_year(ax, d, "diagnosis_group", f"rtw_rate_{k}m", years=years)
        ax.set_title(f"at work {k} months after the course")
        ax.set_ylim(0, 1)
        ax.set_xlabel("year of course end")
    axes[0].set_ylabel("share at work")
    _legend(axes[-1], title="diagnosis group", fontsize=8)
    return _svg(fig)


def chart_trajectories(trajectories: pd.DataFrame) -> str:
    d = trajectories[(trajectories.geo_level == "country") & (trajectories.diagnosis_group == "all")]
    years = sorted(y for y, g in d.groupby("year") if g["share_WORK"].notna().any())
    fig, axes = _figure(max(1, len(years)), width=3.6, height=3.2)
    for ax, year in zip(axes, years):
        g = d[d.year == year].sort_values("month_offset")
        ax.stackplot(g["month_offset"], *[g[f"share_{st}"].fillna(0) for st in STATES],
                     labels=STATES, colors=[_STATE_COLOURS[st] for st in STATES], alpha=0.9)
        hidden = g[g["share_WORK"].isna()]["month_offset"]
        for t in hidden:  # suppressed months: hatched, not drawn as zero
            ax.axvspan(t - 0.5, t + 0.5, color="white", hatch="///", alpha=0.8, lw=0)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlim(TRAJECTORY_OFFSETS[0], TRAJECTORY_OFFSETS[-1])
        ax.set_ylim(0, 1)
        ax.set_title(f"courses started in {year}")
        ax.set_xlabel("months from course start")
    axes[0].set_ylabel("share of courses in each state")
    if years:
        axes[-1].legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8)
    else:
        axes[0].text(0.5, 0.5, "all values suppressed", transform=axes[0].transAxes, ha="center")
    return _svg(fig)


#: The cooperation chart's shares (columns of the cooperation table) and titles.
COOPERATION_MEASURES = (("share_nav_measure_6m", "NAV measure within 6 months"),
                        ("share_ips_12m", "IPS within 12 months"),
                        ("share_gp_before_3m", "GP in the 3 months before"),
                        ("share_gp_after_3m", "GP in the 3 months after"),
                        ("share_municipal_mental_health_after_3m", "municipal mental health after"))
#: The young (the youth guarantee's target group, codelists/age_groups.csv).
YOUNG = "16-29"


def _totals(df: pd.DataFrame, geo_level: str, **fixed: str) -> pd.DataFrame:
    """Rows of ``geo_level`` with every category at ``all`` except those in ``fixed`` (a value,
    or ``"*"`` for every value but ``all``)."""
    sel = df.geo_level == geo_level
    for dim in ("care_level", "diagnosis_group", "era", "age_group"):
        want = fixed.get(dim, "all")
        sel &= (df[dim] != "all") if want == "*" else (df[dim] == want)
    return df[sel]


def cooperation_by_rhf(cooperation: pd.DataFrame) -> pd.DataFrame:
    """The cooperation chart's numbers: per share, RHF (and the country, NO) and year of course
    start, the published value (NaN where suppressed). Long form: measure, geo_code, year, value."""
    d = pd.concat([_totals(cooperation, "country"), _totals(cooperation, "rhf")])
    out = d.melt(id_vars=["geo_code", "year"], value_vars=[m for m, _ in COOPERATION_MEASURES],
                 var_name="measure", value_name="value")
    return out.sort_values(["measure", "geo_code", "year"], kind="stable").reset_index(drop=True)


def chart_cooperation_by_rhf(numbers: pd.DataFrame) -> str:
    fig, axes = _figure(len(COOPERATION_MEASURES), width=3.4, height=3.0)
    years = sorted(numbers["year"].unique())
    for ax, (measure, title) in zip(axes, COOPERATION_MEASURES):
        d = numbers[numbers.measure == measure]
        _by_year(ax, d[d.geo_code != "NO"], "geo_code", "value", years=years)
        country = d[d.geo_code == "NO"].sort_values("year")
        ax.plot(country["year"], country["value"], color="black", ls="--", lw=1.2, label="Norway")
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.set_xlabel("year of course start")
    axes[0].set_ylabel("share of courses (where known)")
    _legend(axes[-1], title="RHF", fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    return _svg(fig)


def young_vs_others(courses: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The age-group chart's numbers, nationally: courses by year of course start and return to
    work at 12 months by year of course end, per age group (UNKNOWN left out). Long form:
    measure (n_courses, rtw_rate_12m), age_group, year, value."""
    k = f"rtw_rate_{FOLLOW_UP_MONTHS[-1]}m"
    parts = []
    for df, measure in ((courses, "n_courses"), (outcomes, k)):
        d = _totals(df, "country", age_group="*")
        d = d[d.age_group != "UNKNOWN"]
        parts.append(d[["age_group", "year"]].assign(measure=measure, value=d[measure].astype("float64")))
    out = pd.concat(parts)[["measure", "age_group", "year", "value"]]
    return out.sort_values(["measure", "age_group", "year"], kind="stable").reset_index(drop=True)


def chart_young_vs_others(numbers: pd.DataFrame) -> str:
    import matplotlib.pyplot as plt

    k = FOLLOW_UP_MONTHS[-1]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    labels = {g: (f"{g} (young)" if g == YOUNG else g) for g in numbers["age_group"].unique()}
    _by_year(a1, numbers[numbers.measure == "n_courses"], "age_group", "value", labels)
    a1.set_title("treatment courses by age group")
    a1.set_xlabel("year of course start")
    a1.set_ylabel("treatment courses")
    _by_year(a2, numbers[numbers.measure == f"rtw_rate_{k}m"], "age_group", "value", labels)
    a2.set_title(f"at work {k} months after the course")
    a2.set_ylim(0, 1)
    a2.set_xlabel("year of course end")
    a2.set_ylabel("share at work")
    for ax in (a1, a2):  # the young stand out: a thicker line
        for line in ax.get_lines():
            if line.get_label() == labels.get(YOUNG):
                line.set_linewidth(2.8)
    _legend(a2, title="age group", fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    return _svg(fig)


def _numbers_table(numbers: pd.DataFrame, row_keys: list[str]) -> str:
    """The chart's numbers as an HTML table (rows: ``row_keys``; columns: years), for screen
    readers and for checking: each cell with ``data-year`` is a published value, empty where
    suppressed; a cell without it has no row in the table (e.g. a year without courses)."""
    years = sorted(numbers["year"].unique())
    cells = {(*k[:-1], k[-1]): v for k, v in zip(numbers[row_keys + ["year"]].itertuples(index=False, name=None),
                                                 numbers["value"])}
    head = "".join(f"<th>{html.escape(k)}</th>" for k in row_keys) + "".join(f"<th>{y}</th>" for y in years)
    rows = []
    for key in dict.fromkeys(numbers[row_keys].itertuples(index=False, name=None)):
        tds = "".join(f"<th>{html.escape(str(v))}</th>" for v in key)
        for y in years:
            if (*key, y) not in cells:
                tds += "<td></td>"
                continue
            v = cells[(*key, y)]
            tds += f"<td data-year='{y}'>{'' if pd.isna(v) else _number(v)}</td>"
        rows.append(f"<tr>{tds}</tr>")
    return (f"<details><summary>The numbers</summary><table class='numbers'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></details>")


def _number(v: float) -> str:
    """A published value as written in the CSV (counts without decimals)."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


#: The coding-quality chart's rates (columns of coding_quality_yearly, var('coding_quality_rates')) and titles.
CODING_QUALITY_MEASURES = (("invalid_main_diagnosis_rate", "invalid main diagnosis"),
                           ("missing_referral_rate", "missing referral date"),
                           ("work_unit_not_work_related_rate", "work units: not coded work-related"))


def coding_quality_rates(yearly: pd.DataFrame) -> pd.DataFrame:
    """The chart's yearly rates per health trust (the exported ``coding_quality_yearly``), each
    kept only where its denominator is >= MIN_UNITS (disclosure)."""
    out = yearly[["health_trust", "year"]].copy()
    for rate, _ in CODING_QUALITY_MEASURES:
        denominator = CODING_QUALITY_RATES[rate][1]
        out[rate] = yearly[rate].where(yearly[denominator] >= MIN_UNITS)
    return out


def chart_coding_quality(rates: pd.DataFrame) -> str:
    import matplotlib.pyplot as plt
    import numpy as np

    measures = CODING_QUALITY_MEASURES
    trusts = sorted(rates["health_trust"].unique())
    years = sorted(rates["year"].unique())
    if not trusts:
        fig, ax = plt.subplots(figsize=(6, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no episodes delivered yet", ha="center")
        return _svg(fig)
    fig, axes = plt.subplots(1, 3, figsize=(12, 0.28 * len(trusts) + 1.5), sharey=True)
    for ax, (col, title) in zip(axes, measures):
        grid = rates.pivot(index="health_trust", columns="year", values=col).reindex(index=trusts, columns=years)
        cmap = plt.get_cmap("viridis").with_extremes(bad="#eeeeee")  # grey: not shown (< MIN_UNITS)
        im = ax.imshow(np.ma.masked_invalid(grid.to_numpy(dtype=float)), aspect="auto", cmap=cmap, vmin=0)
        ax.set_xticks(range(len(years)), [str(y) for y in years])
        ax.set_yticks(range(len(trusts)), trusts, fontsize=7)
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.05)
    return _svg(fig)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
figure{margin:2em 0}figcaption{font-size:.9em;color:#555;margin-top:.4em}svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
.note{background:#f8f9fa;border-left:4px solid #adb5bd;padding:.5em 1em}"""


def _matplotlib() -> None:
    """Headless, reproducible SVG with the text as text (readable, searchable)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.hashsalt": "workhealth", "svg.fonttype": "none", "font.size": 9})


def build_report(release: Path, target: Path, marts: Path) -> Path:
    """Render ``target`` (OUT/report/index.html) from the public release folder ``release`` and
    the marts folder of its internal part ``marts`` (only the masked coding-quality rates of it
    reach the page; it is never linked)."""
    _matplotlib()
    release = Path(release)
    meta = json.loads((release / "metadata.json").read_text())
    courses, outcomes, trajectories, cooperation = (_read(release, n) for n in ("courses", "outcomes", "trajectories",
                                                                                "cooperation"))
    coop_numbers, age_numbers = cooperation_by_rhf(cooperation), young_vs_others(courses, outcomes)
    cq = pd.read_parquet(Path(marts) / "coding_quality_yearly.parquet")
    periods = meta["quality"]["periods"]
    warnings = sorted(p for p, v in periods.items() if v == "warning")
    rel = os.path.relpath(release, target.parent)
    figures = [
        ("courses-by-rhf", "Treatment courses per year by RHF and care level", chart_courses_by_rhf(courses),
         "Work-oriented treatment courses by year of course start, per regional health authority (RHF)."),
        ("sick-leave-by-era", "Sick leave at the start of the course: Raskere tilbake vs Helse og arbeid",
         chart_sick_leave_by_era(courses),
         f"Raskere tilbake: courses started before {ERA_CHANGE_DATE:%-d %B %Y}; Helse og arbeid: from then on."),
        ("rtw-by-diagnosis", "Return to work at {} and {} months by diagnosis group".format(
            ", ".join(map(str, FOLLOW_UP_MONTHS[:-1])), FOLLOW_UP_MONTHS[-1]),
         chart_rtw_by_diagnosis(outcomes),
         "Share of followed courses whose person is in the WORK state k months after the course ended."),
        ("trajectories", "Benefit trajectories: state by month from {} months before to {} after the start".format(
            -TRAJECTORY_OFFSETS.start, TRAJECTORY_OFFSETS[-1]),
         chart_trajectories(trajectories),
         "Share of courses in each person-month state; hatched months are suppressed."),
        ("cooperation-by-rhf", "Cooperation with NAV and the municipalities by RHF",
         chart_cooperation_by_rhf(coop_numbers),
         "Share of the courses started in the year (where the attribute is known) with a work-oriented NAV "
         "measure starting by 6 months after the course, an IPS spell by 12 months, a GP contact in the 3 "
         "months before the course start or after its end, and a municipal mental-health contact in the 3 "
         "months after; dashed: Norway.", _numbers_table(coop_numbers, ["measure", "geo_code"])),
        ("young-vs-others", f"The young ({YOUNG}) against the other age groups",
         chart_young_vs_others(age_numbers),
         f"Treatment courses by year of course start, and the share at work {FOLLOW_UP_MONTHS[-1]} months after "
         "the course by year of course end, per age group at the course start (Norway).",
         _numbers_table(age_numbers, ["measure", "age_group"])),
        ("coding-quality", "Coding quality per health trust (yearly rates)", chart_coding_quality(
            coding_quality_rates(cq)),
         f"Rates over fewer than {MIN_UNITS} episodes are not shown (grey)."),
    ]
    body = ["<h1>Work-oriented treatment in specialist care</h1>",
            "<p class='note'>Release <b>{}</b>, data up to <b>{}</b>, built {}. Suppressed values "
            "(disclosure control: counts 1-4, rates over fewer than {} courses, and cells that would let "
            "them be recovered) are left out of the charts as gaps.</p>".format(
                html.escape(meta["release_id"]), html.escape(str(meta["horizon"])), html.escape(meta["built_at"]),
                MIN_UNITS)]
    has_evaluation = (release / f"{EFFECTS}.csv").is_file()
    if has_evaluation:
        body.append("<p class='note' id='pages'>Also in this report: <a href='evaluation.html'>What works for "
                    "whom</a>, the evaluation of the interventions (effects on return to work by subgroup).</p>")
    if warnings:
        body.append("<p class='note'>Quality warnings (published, see the quality report) for: "
                    + html.escape(", ".join(warnings)) + "</p>")
    withheld = meta.get("withheld") or {}
    if withheld:
        body.append("<p class='note' id='withheld'>Withheld by the quality gate (no value of the year is published): "
                    + "; ".join(html.escape(f"{year} ({', '.join(sorted({f['check'] + ' ' + f['period'] for f in fs}))})")
                                for year, fs in withheld.items()) + "</p>")
    for fid, title, svg, caption, *numbers in figures:
        body.append(f"<figure id='{fid}' class='chart'><h2>{html.escape(title)}</h2>{svg}"
                    f"<figcaption>{html.escape(caption)}</figcaption>{''.join(numbers)}</figure>")
    files = "".join(f"<li><a href='{html.escape(rel)}/{f}'>{f}</a></li>"
                    for t in meta["tables"].values() for f in t["files"])
    body.append(f"<h2>Files of this release</h2><ul>{files}<li><a href='{html.escape(rel)}/metadata.json'>"
                "metadata.json</a></li></ul>")
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>workhealth indicators {html.escape(meta['release_id'])}</title><style>{_CSS}</style>"
            "</head><body>" + "\n".join(body) + "</body></html>\n")
    if has_evaluation:  # before the index, so the index never links a page that is not there
        page_path = target.with_name("evaluation.html")
        _write_page(page_path, evaluation_page(release, meta, Path(marts).parent / "evaluation", page_path))
    _write_page(target, page)
    return target


def _write_page(target: Path, page: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, target)


# -- What works for whom (docs/evaluation.md) ----------------------------------------------------

_EVAL = dbt_vars()
EVALUATION_FOLLOW_UP: tuple[int, ...] = tuple(int(k) for k in _EVAL["evaluation_follow_up_months"])
#: The forest plots' outcome: at work 12 months after the index month.
FOREST_OUTCOME, FOREST_K = "rtw", 12
MAX_ABS_SMD = float(_EVAL["evaluation_max_abs_smd"])
INTERVENTIONS = {
    "HA_COURSE": "Helse og arbeid course (any care level)",
    "HA_COURSE_1": "Course at care level 1 (døgn)",
    "HA_COURSE_2": "Course at care level 2 (dag)",
    "HA_COURSE_3": "Course at care level 3 (poliklinisk)",
    "IPS": "IPS (individual placement and support)",
    "NAV_MEASURE": "Other work-oriented NAV measure",
}
_SUBGROUP_ORDER = ("all", "diagnosis_group", "age_group", "sex", "duration_band", "state_prev", "era", "rhf",
                   "care_level")
_SEX = {"1": "male", "2": "female"}
_TREATED, _COMPARISON, _NAIVE = "#1864ab", "#868e96", "#c92a2a"


def read_effects(release: Path) -> pd.DataFrame:
    """The published effects table (suppressed values NaN)."""
    return pd.read_csv(release / f"{EFFECTS}.csv", sep=";", dtype={"subgroup_value": str, "subgroup_dim": str},
                       keep_default_na=False, na_values=[""])


def _subgroup_label(dim: str, value: str) -> str:
    if dim == "all":
        return "everyone"
    shown = _SEX.get(value, value) if dim == "sex" else (_ERAS.get(value, value) if dim == "era" else value)
    return f"{dim.replace('_', ' ')}: {shown}"


def forest_numbers(effects: pd.DataFrame, outcome: str = FOREST_OUTCOME, k: int = FOREST_K) -> pd.DataFrame:
    """The forest plots' rows: per intervention and subgroup (everyone first, then each dimension's
    values) the published n_treated, risk difference, its 95 % interval and the naive difference."""
    d = effects[(effects.outcome == outcome) & (effects.k == k)].copy()
    d["_dim"] = d["subgroup_dim"].map({dim: i for i, dim in enumerate(_SUBGROUP_ORDER)}).fillna(len(_SUBGROUP_ORDER))
    order = {name: i for i, name in enumerate(INTERVENTIONS)}
    d["_iv"] = d["intervention"].map(order).fillna(len(order))
    d = d.sort_values(["_iv", "intervention", "_dim", "subgroup_dim", "subgroup_value"], kind="stable")
    cols = ["intervention", "subgroup_dim", "subgroup_value", "n_treated", "risk_difference", "ci_low", "ci_high",
            "naive_difference"]
    return d[cols].reset_index(drop=True)


def chart_forest(numbers: pd.DataFrame, intervention: str) -> str:
    """Risk difference with its 95 % interval (square and line) and the naive difference (open
    diamond) per subgroup of ``intervention``; a suppressed row keeps its label, without marks."""
    import matplotlib.pyplot as plt

    d = numbers[numbers.intervention == intervention].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7.5, 0.24 * len(d) + 1.3))
    y = -d.index.to_numpy()
    shown = d["risk_difference"].notna()
    ax.hlines(y[shown], d.loc[shown, "ci_low"], d.loc[shown, "ci_high"], color=_TREATED, lw=1.6)
    ax.plot(d.loc[shown, "risk_difference"], y[shown], "s", color=_TREATED, ms=5, label="matched (95 % interval)")
    naive = d["naive_difference"].notna()
    ax.plot(d.loc[naive, "naive_difference"], y[naive], "D", mfc="none", color=_NAIVE, ms=5,
            label="naive (unmatched pool)")
    ax.axvline(0, color="black", lw=0.8)
    labels = [_subgroup_label(dim, v) + ("" if ok else "  (suppressed)")
              for dim, v, ok in zip(d["subgroup_dim"], d["subgroup_value"], shown)]
    ax.set_yticks(y, labels, fontsize=8)
    for tick, ok in zip(ax.get_yticklabels(), shown):
        if not ok:
            tick.set_color("#868e96")
    ax.set_ylim(y.min() - 0.7 if len(y) else -1, 0.7)
    ax.set_xlabel(f"risk difference: share at work {FOREST_K} months after the start, treated minus comparison")
    ax.set_title(INTERVENTIONS.get(intervention, intervention))
    ax.grid(axis="x", alpha=0.3)
    if not shown.any():
        ax.text(0.5, 0.5, "all values suppressed", transform=ax.transAxes, ha="center", color="#868e96")
    _legend(ax, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _svg(fig)


def _effects_table(d: pd.DataFrame) -> str:
    """A forest plot's numbers (published values, empty where suppressed), for screen readers and
    for checking; each value cell names its column (``data-col``)."""
    cols = ["n_treated", "risk_difference", "ci_low", "ci_high", "naive_difference"]
    head = "<th>subgroup</th>" + "".join(f"<th>{c}</th>" for c in cols)
    rows = []
    for r in d.itertuples(index=False):
        tds = "".join(f"<td data-col='{c}'>{'' if pd.isna(getattr(r, c)) else _number(getattr(r, c))}</td>"
                      for c in cols)
        rows.append(f"<tr data-dim='{html.escape(r.subgroup_dim)}' data-value='{html.escape(r.subgroup_value)}'>"
                    f"<th>{html.escape(_subgroup_label(r.subgroup_dim, r.subgroup_value))}</th>{tds}</tr>")
    return (f"<details><summary>The numbers</summary><table class='numbers'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></details>")


def shown_interventions(effects: pd.DataFrame) -> dict[str, int]:
    """Interventions whose aggregates (balance, cumulative incidence) the page may show, with the
    last month to show: those whose overall row at the first follow-up has a published treated
    rate (at least MIN_UNITS treated entries, not suppressed), up to the largest k at which the
    overall sustained-return rate is published."""
    everyone = effects[effects.subgroup_dim == "all"]
    out = {}
    for name in INTERVENTIONS:
        rows = everyone[everyone.intervention == name]
        first = rows[(rows.outcome == FOREST_OUTCOME) & (rows.k == EVALUATION_FOLLOW_UP[0])]
        if first.empty or first["rate_treated"].isna().all():
            continue
        sustained = rows[(rows.outcome == "sustained_rtw") & rows["rate_treated"].notna()
                         & rows["rate_comparison"].notna()]
        if not sustained.empty:
            out[name] = int(sustained["k"].max())
    return out


def balance_numbers(balance: pd.DataFrame, interventions) -> pd.DataFrame:
    """|SMD| before and after matching per intervention and covariate (everyone)."""
    d = balance[(balance.subgroup_dim == "all") & balance.intervention.isin(list(interventions))]
    return d.assign(before=d["smd_before"].abs(), after=d["smd_after"].abs())[
        ["intervention", "covariate", "before", "after"]].reset_index(drop=True)


def _no_intervention_shown() -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 1))
    ax.axis("off")
    ax.text(0.5, 0.5, f"no intervention with {MIN_UNITS} or more treated entries", ha="center")
    return _svg(fig)


def chart_balance(numbers: pd.DataFrame) -> str:

    names = list(dict.fromkeys(numbers["intervention"]))
    covariates = list(dict.fromkeys(numbers["covariate"]))
    if not names:
        return _no_intervention_shown()
    fig, axes = _figure(len(names), width=3.0, height=0.22 * len(covariates) + 1.2)
    y = -pd.RangeIndex(len(covariates)).to_numpy()
    for ax, name in zip(axes, names):
        d = numbers[numbers.intervention == name].set_index("covariate").reindex(covariates)
        ax.plot(d["before"], y, "o", mfc="none", color=_COMPARISON, label="before matching")
        ax.plot(d["after"], y, "o", color=_TREATED, label="after matching")
        ax.axvline(MAX_ABS_SMD, color=_NAIVE, ls="--", lw=1, label=f"{MAX_ABS_SMD}")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("|standardized mean difference|")
        ax.set_xlim(left=0)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [c.replace("_", " ") for c in covariates], fontsize=8)
    _legend(axes[-1], fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return _svg(fig)


def cif_numbers(cif: pd.DataFrame, shown: dict[str, int]) -> pd.DataFrame:
    """Cumulative incidence of sustained return (everyone) per intervention, role and month, up
    to each intervention's last shown month."""
    d = cif[(cif.subgroup_dim == "all") & cif.intervention.isin(list(shown))]
    last = pd.Series([shown.get(i, -1) for i in d["intervention"]], index=d.index, dtype="int64")
    d = d[d["month"].astype("int64") <= last]
    return d[["intervention", "role", "month", "cif"]].sort_values(["intervention", "role", "month"]).reset_index(
        drop=True)


def chart_cif(numbers: pd.DataFrame) -> str:

    names = list(dict.fromkeys(numbers["intervention"]))
    if not names:
        return _no_intervention_shown()
    fig, axes = _figure(len(names), width=3.0, height=3.0)
    for ax, name in zip(axes, names):
        d = numbers[numbers.intervention == name]
        for role, colour, label in (("treated", _TREATED, "treated"), ("comparison", _COMPARISON,
                                                                       "matched comparison")):
            g = d[d.role == role]
            ax.step(g["month"], g["cif"], where="post", color=colour, label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("months after the start")
        ax.set_xlim(0, max(EVALUATION_FOLLOW_UP))
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("cumulative share back at work (3 months in a row)")
    _legend(axes[-1], fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return _svg(fig)


_METHODS = f"""<section id='methods' class='note'><h2>How to read this: methods and limitations</h2>
<p><b>What is compared.</b> Each person who starts an intervention in a month (the <i>treated</i>) is
compared with up to five similar persons who, in the <i>same month and the same situation</i>, did
not start anything of its kind then: the same sex, age group, benefit (sick leave or work assessment
allowance) and how long they had been on it, diagnosis group and health region, and the closest in
their history of work, benefits, earnings and earlier treatment (a propensity score). This is the
<i>comparison</i>. The comparison persons may start the intervention later; they still count as
comparison, as they would in a trial started that month.</p>
<p><b>The numbers.</b> The effect is the difference between the share at work among the treated and
among their comparison persons ({FOREST_K} months after the start in the plots above), with a 95 %
interval from resampling the matched groups. The <i>naive</i> difference compares the treated with
everyone who did not start, without matching: the gap between the two shows how much the
differences between the groups would have misled.</p>
<p><b>Intention to treat.</b> Everyone counts in the group they were in at the start, whether they
completed the intervention or not, and whatever they did afterwards.</p>
<p><b>Limitations.</b> Matching can only make the groups alike in what the registers record. If
those who start differ in something unrecorded (motivation, the severity of the illness) the
estimate is biased: this is <i>unmeasured confounding</i>. The E-value in the published table says
how strongly such an unrecorded factor would have to be linked to both starting and returning to
work to explain the estimate away; small E-values (near 1) mean a weak factor would suffice.
The comparison is chosen by the month before the start: someone whose sick leave ended late that
month can be a comparison, while a course usually starts only for someone still on sick leave, so
the effect of a course at 3 and 6 months may be underestimated.
Subgroups with fewer than 100 treated are flagged imprecise, and groups where matching left the
groups visibly different (a standardized mean difference above {MAX_ABS_SMD}) are flagged imbalanced.</p>
<p><b>Suppressed cells.</b> To protect privacy, counts from 1 to 4 and every estimate over fewer than
{MIN_UNITS} treated are not published (and some others, so they cannot be worked out from the
totals): they are empty in the table and left out of the plots, never shown as zero. The balance and
cumulative-incidence plots show only interventions with at least {MIN_UNITS} treated, as
aggregates.</p></section>"""


def evaluation_page(release: Path, meta: dict, evaluation: Path, target: Path) -> str:
    """The "What works for whom" page (to be written to ``target``) from the release's published
    effects and (aggregates only) the internal part's balance and cumulative incidence."""
    _matplotlib()
    effects = read_effects(release)
    numbers = forest_numbers(effects)
    shown = shown_interventions(effects)
    balance = balance_numbers(pd.read_parquet(evaluation / "balance.parquet"), shown)
    cif = cif_numbers(pd.read_parquet(evaluation / "cumulative_incidence.parquet"), shown)
    rel = os.path.relpath(release, target.parent)
    body = ["<p><a href='index.html'>&larr; the indicator report</a></p>",
            "<h1>What works for whom</h1>",
            "<p class='note'>Release <b>{}</b>, data up to <b>{}</b>. The effect of starting each intervention on "
            "return to work, for everyone and by subgroup, estimated by comparing those who start with similar "
            "persons who do not (below: how to read this). Suppressed values are left out.</p>".format(
                html.escape(meta["release_id"]), html.escape(str(meta["horizon"])))]
    for name in dict.fromkeys(numbers["intervention"]):
        d = numbers[numbers.intervention == name]
        body.append(f"<figure id='forest-{html.escape(name)}' class='chart forest'>"
                    f"<h2>{html.escape(INTERVENTIONS.get(name, name))}: at work after {FOREST_K} months</h2>"
                    f"{chart_forest(numbers, name)}<figcaption>Risk difference (treated minus matched comparison) "
                    f"in the share at work {FOREST_K} months after the start, with its 95 % interval (squares and "
                    "lines), and the naive difference against everyone who did not start (open diamonds), per "
                    "subgroup.</figcaption>" + _effects_table(d) + "</figure>")
    body.append(f"<figure id='balance' class='chart'><h2>Balance: how alike the groups are</h2>{chart_balance(balance)}"
                "<figcaption>Absolute standardized mean difference of each characteristic between the treated and "
                f"their comparison, before matching (open) and after (filled); below the dashed line at {MAX_ABS_SMD} "
                "the groups count as alike.</figcaption></figure>")
    body.append("<figure id='cumulative-incidence' class='chart'><h2>Back at work for good: cumulative incidence"
                f"</h2>{chart_cif(cif)}<figcaption>Share back at work for at least three months in a row, by month "
                "after the start, for the treated and their matched comparison (death and disability benefit "
                "end the follow-up as competing events), as far as it is published.</figcaption></figure>")
    body.append(_METHODS)
    body.append(f"<p>The published table: <a href='{html.escape(rel)}/{EFFECTS}.csv'>{EFFECTS}.csv</a> "
                f"(<a href='{html.escape(rel)}/{EFFECTS}.parquet'>Parquet</a>).</p>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>What works for whom {html.escape(meta['release_id'])}</title><style>{_CSS}</style>"
            "</head><body>" + "\n".join(body) + "</body></html>\n")
