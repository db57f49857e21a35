"""The quality report for quality teams: ``OUT/quality/index.html``, one self-contained page.

Inline CSS and inline SVG (no script, no external resource): the verdict and why, the status of
every period, what failed with sample rows (pseudonymous ids only), national trends and, per
health trust and month, the coding-quality measures (docs/definitions.md#coding-quality) with their change
against the previous month. Links to GX Data Docs (``data_docs/index.html``) and the run history.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import pandas as pd

from workhealth.core.registers import CROSS_SECTOR_REGISTERS

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2329;background:#f6f7f9}
header{background:#1f3a5f;color:#fff;padding:1rem 2rem}header a{color:#cfe3ff}
main{padding:1rem 2rem;max-width:1200px}section{background:#fff;border:1px solid #dde1e6;border-radius:6px;
padding:.8rem 1.2rem;margin:1rem 0}h1{margin:.2rem 0;font-size:1.5rem}h2{font-size:1.15rem;margin:.3rem 0 .6rem}
table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0}th,td{border-bottom:1px solid #e3e6ea;
padding:.2rem .5rem;text-align:right}td{white-space:nowrap}th{background:#f0f2f5}td.l,th.l{text-align:left}
.verdict{display:inline-block;padding:.3rem .8rem;border-radius:4px;font-weight:600}
.ok{background:#d8f3dc;color:#1b4332}.withheld{background:#ffd6d6;color:#7a0000}
.critical{color:#a10000;font-weight:600}.warning{color:#8a5a00;font-weight:600}.passed{color:#2d6a4f}
td.fail{background:#ffe8cc}.periods{display:flex;flex-wrap:wrap;gap:2px}
.periods span{font-size:.7rem;padding:2px 4px;border-radius:3px}
.p-passed{background:#d8f3dc}.p-warning{background:#ffe8a3}.p-critical{background:#ff9c9c}
details{margin:.3rem 0}summary{cursor:pointer}.muted{color:#5c6670;font-size:.85rem}
svg text{font-size:10px;fill:#444}
"""

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
TRUST_MEASURES = (
    ("n_episodes", "episodes", None),
    ("invalid_main_diagnosis_rate", "invalid/missing main diagnosis", "trust_invalid_main_diagnosis"),
    ("missing_referral_rate", "missing referral", "trust_missing_referral"),
    ("referral_after_start_rate", "referral after start", None),
    ("end_before_start_rate", "end before start", None),
    ("n_work_unit_episodes", "work-unit episodes", None),
    ("work_unit_gap_rate", "unit-based coding gap", "trust_work_unit_coding_gap"),
    ("work_related_rate", "work-related", None),
    # code-list defects (a trust outside the code list is its own row, named as delivered)
    ("unknown_health_trust_rate", "trust not in code list", "trust_not_in_code_list"),
    ("unknown_care_level_rate", "care level not in code list", "trust_unknown_care_level"),
    ("unknown_unit_rate", "unit not of the trust", None),
)


def _pct(v) -> str:
    return "" if v is None or pd.isna(v) else f"{100 * float(v):.1f} %"


def _change(v) -> str:
    return "" if v is None or pd.isna(v) else f"{100 * float(v):+.1f}"


def _observed(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return escape(str(v))


def svg_chart(periods: list[str], series: list[tuple[str, list]], threshold: float | None = None,
              width: int = 640, height: int = 170, title: str = "") -> str:
    """A line chart of rates (fractions) over periods, with a dashed threshold line."""
    left, right, top, bottom = 44, 10, 16, 22
    values = [v for _, vals in series for v in vals if v is not None and not pd.isna(v)]
    ymax = max(values + ([threshold] if threshold is not None else []) + [0.01]) * 1.1
    n = max(len(periods), 2)

    def x(i):
        return left + (width - left - right) * i / (n - 1)

    def y(v):
        return top + (height - top - bottom) * (1 - v / ymax)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" stroke="#999"/>']
    for t in (0, ymax / 2, ymax / 1.1):
        parts.append(f'<text x="2" y="{y(t) + 3:.1f}">{100 * t:.1f} %</text>')
    for i, anchor in {0: "start", (len(periods) - 1) // 2: "middle", len(periods) - 1: "end"}.items():
        if periods:
            parts.append(f'<text x="{x(i):.1f}" y="{height - 6}" text-anchor="{anchor}">{escape(periods[i])}</text>')
    if threshold is not None:
        parts.append(f'<line x1="{left}" y1="{y(threshold):.1f}" x2="{width - right}" y2="{y(threshold):.1f}" '
                     f'stroke="#a10000" stroke-dasharray="4 3"><title>threshold {100 * threshold:.1f} %</title></line>')
    for k, (label, vals) in enumerate(series):
        color = COLORS[k % len(COLORS)]
        segment: list[str] = []
        segments = []
        for i, v in enumerate(vals):
            if v is None or pd.isna(v):
                if segment:
                    segments.append(segment)
                segment = []
            else:
                segment.append(f"{x(i):.1f},{y(float(v)):.1f}")
        if segment:
            segments.append(segment)
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{color}"/>')
            else:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{" ".join(seg)}"/>')
        parts.append(f'<text x="{left + 6 + 170 * k}" y="11" style="fill:{color}">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _samples_html(samples: list[dict]) -> str:
    if not samples:
        return ""
    cols = list(samples[0])
    head = "".join(f'<th class="l">{escape(c)}</th>' for c in cols)
    body = "".join("<tr>" + "".join(f'<td class="l">{escape("" if r[c] is None else str(r[c]))}</td>' for c in cols)
                   + "</tr>" for r in samples)
    return (f'<details><summary>{len(samples)} sample row(s)</summary><table class="samples">'
            f"<tr>{head}</tr>{body}</table></details>")


def _summary_html(rows, severity: str) -> str:
    """Per check: how many findings, which periods, which trusts or registers are named."""
    by_check: dict[str, list] = {}
    for f in rows:
        by_check.setdefault(f"{f.suite}.{f.expectation}", []).append(f)
    out = [f'<table id="{severity}-summary"><tr><th class="l">check</th><th>findings</th><th class="l">periods</th>'
           '<th class="l">health trusts / registers named</th></tr>']
    for check, fs in by_check.items():
        periods = sorted({f.period for f in fs if f.period})
        span = f"{periods[0]} .. {periods[-1]} ({len(periods)})" if len(periods) > 1 else "".join(periods) or "all"
        named = sorted({f.health_trust or f.register for f in fs if f.health_trust or f.register})
        out.append(f'<tr><td class="l {severity}">{escape(check)}</td><td>{len(fs)}</td><td class="l">{escape(span)}</td>'
                   f'<td class="l" style="white-space:normal">{escape(", ".join(named))}</td></tr>')
    out.append("</table>")
    return "".join(out)


def _findings_html(findings, severity: str) -> str:
    rows = [f for f in findings if f.severity == severity]
    if not rows:
        return f'<p class="passed">No {severity} findings.</p>'
    return (_summary_html(rows, severity) + f'<details{" open" if len(rows) <= 40 else ""}><summary>every '
            f"{severity} finding ({len(rows)}), with sample rows</summary>{_findings_table(rows, severity)}</details>")


def _findings_table(rows, severity: str) -> str:
    out = [f'<table id="{severity}-findings"><tr><th class="l">check</th><th class="l">period</th>'
           '<th class="l">health trust / register</th><th class="l">measure</th><th>observed</th>'
           '<th class="l">threshold</th><th class="l">sample rows</th></tr>']
    for f in rows:
        where = f.health_trust or f.register or ""
        out.append(f'<tr class="{severity}"><td class="l">{escape(f.suite)}.<b>{escape(f.expectation)}</b></td>'
                   f'<td class="l">{escape(f.period or "all")}</td><td class="l trust">{escape(where)}</td>'
                   f'<td class="l">{escape(f.column or "")}</td><td>{_observed(f.observed)}</td>'
                   f'<td class="l">{escape(f.threshold)}</td><td class="l">{_samples_html(f.samples)}</td></tr>')
    out.append("</table>")
    return "".join(out)


def _trust_sections(by_trust: pd.DataFrame, findings, catalogue) -> str:
    if by_trust.empty:
        return "<p>No episodes.</p>"
    failing: dict[str, set] = {}
    for f in findings:
        if f.health_trust:
            failing.setdefault(f.health_trust, set()).add((f.period, f.expectation))
    df = by_trust.sort_values(["health_trust", "period"]).copy()
    months = pd.PeriodIndex(df["period"], freq="M")
    consecutive = (df["health_trust"] == df["health_trust"].shift(1)).to_numpy() & \
        (months.asi8 - pd.Series(months.asi8).shift(1).to_numpy() == 1)
    trusts = sorted(df["health_trust"].unique(), key=lambda t: (-len(failing.get(t, ())), t))
    gap_max = catalogue.check("coding_quality_by_trust", "trust_work_unit_coding_gap").kwargs.get("max_value")
    out = []
    for trust in trusts:
        t = df[df["health_trust"] == trust]
        cons = consecutive[(df["health_trust"] == trust).to_numpy()]
        bad = failing.get(trust, set())
        label = (f'<span class="warning">{len(bad)} finding(s)</span>' if bad else '<span class="passed">no findings</span>')
        periods = t["period"].tolist()
        chart = svg_chart(periods, [("coding gap", t["work_unit_gap_rate"].tolist()),
                                    ("invalid/missing diagnosis", t["invalid_main_diagnosis_rate"].tolist()),
                                    ("missing referral", t["missing_referral_rate"].tolist())],
                          threshold=gap_max, title=f"{trust}: coding-quality rates by month (dashed: the "
                                                   f"coding-gap threshold)")
        head = "".join(f"<th>{escape(label_)}</th>" + ("<th>change</th>" if col.endswith("_rate") else "")
                       for col, label_, _ in TRUST_MEASURES)
        rows = []
        for i, (_, r) in enumerate(t.iterrows()):
            cells = []
            for col, _, check in TRUST_MEASURES:
                cls = ' class="fail"' if check and (r["period"], check) in bad else ""
                if col.endswith("_rate"):
                    prev = t[col].iloc[i - 1] if i and cons[i] else None
                    change = None if prev is None or pd.isna(prev) or pd.isna(r[col]) else r[col] - prev
                    cells.append(f"<td{cls}>{_pct(r[col])}</td><td>{_change(change)}</td>")
                else:
                    cells.append(f"<td{cls}>{int(r[col])}</td>")
            rows.append(f'<tr><td class="l">{escape(r["period"])}</td>{"".join(cells)}</tr>')
        out.append(f'<details class="trust" data-trust="{escape(trust)}"{" open" if bad else ""}>'
                   f"<summary><b>{escape(trust)}</b> — {label}</summary>{chart}"
                   f'<table><tr><th class="l">month</th>{head}</tr>{"".join(rows)}</table>'
                   '<p class="muted">Rates in % of the month\'s episodes (coding gap: of work-unit episodes); '
                   "change in percentage points against the previous month; highlighted cells failed a check "
                   "(rate above its threshold beyond chance, Wilson 95 %; a code outside its code list: "
                   "any).</p></details>")
    return "".join(out)


#: the cross-sector registers' rows of raw_register_periods in the report: (column, label, checks)
CROSS_SECTOR_MEASURES = (
    ("n_rows", "rows", ("volume_against_previous_period",)),
    ("volume_ratio", "volume vs previous", ("volume_against_previous_period",)),
    ("unknown_measure_type_rate", "measure type not in code list",
     ("measure_type_in_code_list", "measure_type_share_not_in_code_list")),
    ("unknown_service_rate", "service not in code list", ("service_in_code_list", "service_share_not_in_code_list")),
    ("invalid_icpc2_rate", "invalid ICPC-2 code", ("kpr_icpc2_diagnosis_valid",)),
)


def _cross_sector_html(raw: pd.DataFrame, findings) -> str:
    """nav_measures and kpr_contacts per delivered period, cells of failed checks highlighted."""
    if raw.empty:
        return "<p>No deliveries.</p>"
    failed = {(f.register, f.period, f.expectation): f.severity for f in findings if f.register}
    out = []
    for register in CROSS_SECTOR_REGISTERS:
        t = raw[raw["register"] == register].sort_values("period")
        if t.empty:
            out.append(f'<p data-register="{register}">{register}: no accepted delivery.</p>')
            continue
        cols = [m for m in CROSS_SECTOR_MEASURES if m[0] in t.columns and not t[m[0]].isna().all()]
        head = "".join(f"<th>{escape(label)}</th>" for _, label, _ in cols)
        rows = []
        for _, r in t.iterrows():
            cells = []
            for col, _, checks in cols:
                sevs = {failed.get((register, r["period"], c)) for c in checks}
                sev = "critical" if "critical" in sevs else "warning" if "warning" in sevs else None
                cls = f' class="fail {sev}"' if sev else ""
                v = r[col]
                text = ("" if pd.isna(v) else f"{int(v):,}" if col == "n_rows"
                        else f"{float(v):.2f}" if col == "volume_ratio" else _pct(v))
                cells.append(f"<td{cls}>{text}</td>")
            rows.append(f'<tr><td class="l">{escape(r["period"])}</td>{"".join(cells)}</tr>')
        out.append(f'<table data-register="{register}"><caption class="l"><b>{register}</b></caption>'
                   f'<tr><th class="l">period</th>{head}</tr>{"".join(rows)}</table>')
    return "".join(out)


def _verdict(publishable: bool | None, withheld: dict | None) -> str:
    """A run's verdict in the history: publishable, years withheld, or the release withheld."""
    if not publishable:
        return "withheld"
    return f"publishable, {', '.join(sorted(withheld))} withheld" if withheld else "publishable"


def _history_html(quality_dir: Path, current) -> str:
    rows = []
    for path in sorted((quality_dir / "history").glob("*/result.json"), reverse=True)[:30]:
        try:
            r = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if r.get("run_id") == current.run_id:
            continue
        rows.append((r["run_id"], _verdict(r.get("publishable"), r.get("withheld")), r.get("n_critical"),
                     r.get("n_warning")))
    rows.insert(0, (current.run_id, _verdict(current.publishable, current.withheld), len(current.critical),
                    len(current.warnings)))
    body = "".join(f'<tr><td class="l"><a href="history/{escape(rid)}/result.json">{escape(rid)}</a></td>'
                   f'<td class="l {"passed" if verdict == "publishable" else "critical"}">{escape(verdict)}</td>'
                   f"<td>{nc}</td><td>{nw}</td></tr>" for rid, verdict, nc, nw in rows)
    return ('<table><tr><th class="l">run</th><th class="l">verdict</th><th>critical</th><th>warnings</th></tr>'
            f"{body}</table>")


def _data_docs_links(quality_dir: Path, catalogue, run_id: str) -> str:
    """This run's GX validation pages (static HTML: readable offline, unlike the index, whose
    lists GX fills in with JavaScript from CDNs)."""
    links = []
    for suite in catalogue.suites:
        pages = sorted((quality_dir / "data_docs" / "validations" / suite.name / run_id).rglob("*.html"))
        if pages:
            links.append(f'<a class="gx-run" href="{escape(pages[-1].relative_to(quality_dir).as_posix())}">'
                         f"{escape(suite.name)}</a>")
    return " · ".join(links)


def write(result, frames: dict[str, pd.DataFrame], catalogue, quality_dir: Path, timings: dict) -> Path:
    national = frames.get("coding_quality_national", pd.DataFrame())
    by_trust = frames.get("coding_quality_by_trust", pd.DataFrame())
    withheld_years = ", ".join(result.withheld)
    verdict = ('<span class="verdict withheld" id="verdict">PUBLICATION WITHHELD</span>' if not result.publishable
               else f'<span class="verdict withheld" id="verdict">PUBLISHABLE, YEAR(S) {escape(withheld_years)} '
                    'WITHHELD</span>' if result.withheld else
               '<span class="verdict ok" id="verdict">PUBLISHABLE</span>')
    reason = f"<pre>{escape(result.withheld_reason())}</pre>" if result.critical else ""
    periods = "".join(f'<span class="p-{s}" title="{escape(p)}: {s}">{escape(p)}</span>'
                      for p, s in result.periods.items())
    national_html = ""
    if not national.empty:
        p = national["period"].tolist()
        limit = catalogue.check("coding_quality_national", "national_invalid_main_diagnosis_share").kwargs["max_value"]
        national_html = svg_chart(p, [("invalid/missing main diagnosis", national["invalid_main_diagnosis_rate"].tolist()),
                                      ("missing referral", national["missing_referral_rate"].tolist()),
                                      ("unit-based coding gap", national["work_unit_gap_rate"].tolist())],
                                  threshold=limit, width=900, height=220,
                                  title="National coding-quality rates by month (dashed: critical threshold "
                                        "for invalid/missing main diagnoses)")
    checks = "".join(
        f'<tr><td class="l">{escape(c["suite"])}.{escape(c["name"])}</td><td class="l {c["severity"]}">{c["severity"]}</td>'
        f'<td class="l">{escape(c["column"] or "")}</td><td class="l">{escape(c["threshold"])}</td>'
        f'<td class="l">{escape(", ".join(c["references"].values()))}</td>'
        f'<td class="l {"passed" if c["success"] else c["severity"]}">{"passed" if c["success"] else "failed"}</td>'
        f'<td class="l muted">{escape(c["description"])}</td></tr>' for c in result.checks)
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>workhealth quality report {escape(result.run_id)}</title>
<link rel="icon" href="data:,"><meta name="viewport" content="width=device-width, initial-scale=1">
<style>{CSS}</style></head><body>
<header><h1>Coding and data quality — workhealth</h1>
<div>run {escape(result.run_id)} · {escape(result.started_at)} · warehouse {escape(result.warehouse)}</div>
<div><a href="data_docs/index.html">Great Expectations Data Docs</a> ·
<a href="history/{escape(result.run_id)}/result.json">this run as JSON</a> · internal, for quality teams</div>
<div>GX validation results of this run: {_data_docs_links(quality_dir, catalogue, result.run_id)}</div></header>
<main>
<section><h2>Verdict</h2>{verdict} <span class="muted">{len(result.critical)} critical, {len(result.warnings)}
warning finding(s) over {len(result.periods)} periods, data horizon {escape(result.horizon or "none")}. A critical
finding in a month withholds that year in every published table (empty, flag withheld); a warehouse-wide one (a mart
key not unique, a person-month without exactly one state) withholds the whole release; months after the horizon
withhold nothing. Warnings are published.</span>{reason}</section>
<section><h2>Periods</h2><div class="periods" id="periods">{periods}</div></section>
<section><h2>Critical findings</h2>{_findings_html(result.findings, "critical")}</section>
<section><h2>Warnings</h2>{_findings_html(result.findings, "warning")}</section>
<section><h2>National trends</h2>{national_html}</section>
<section id="cross-sector"><h2>Cross-sector registers</h2>
<p class="muted">NAV measures and KPR contacts per delivered period (they do not move the data horizon): rows,
volume against the median of the previous periods, shares of codes outside their code lists (of the period's rows)
and of invalid ICPC-2 codes (of its ICPC-2 coded rows); highlighted cells failed a check.</p>
{_cross_sector_html(frames.get("raw_register_periods", pd.DataFrame()), result.findings)}</section>
<section id="trusts"><h2>Per health trust and month</h2>
<p class="muted">Trusts with findings first (open). Coding-quality measures as defined in docs/definitions.md, per month of end_date.</p>
{_trust_sections(by_trust, result.findings, catalogue)}</section>
<section><h2>Checks</h2><table><tr><th class="l">check</th><th class="l">severity</th><th class="l">measure</th>
<th class="l">threshold</th><th class="l">thresholds.yml</th><th class="l">result</th><th class="l">what</th></tr>{checks}</table></section>
<section><h2>Run history</h2>{_history_html(quality_dir, result)}</section>
<p class="muted">Timings: {escape(timing)}.</p>
</main></body></html>
"""
    path = quality_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
