"""``validate(settings)``: the quality gate over the warehouse, as one function.

1. read the catalogue (expectations/*.yml, thresholds.yml);
2. read each suite's frame, a dbt model of schema ``quality``, over a read-only connection (frames.py);
3. validate the frames with GX (gx_runner.py) and turn every failing row into a finding
   (severity, suite, check, period, health trust, observed value, threshold);
4. fetch a few sample rows per failing check and period (pseudonymous ids only);
5. keep the run under OUT/quality/history/<run_id>/ and refresh OUT/quality/index.html.

Gate (docs/quality.md#the-gate): a critical finding of a check with scope ``period`` withholds
the calendar year of its month (``QualityResult.withheld``: the release is published with that
year's measures empty, flag ``withheld``), unless the month is after the data horizon, where it
is reported and withholds nothing. A critical finding of a check with scope ``warehouse``, or
one without a period, withholds the whole release (``publishable`` is false). Warnings never
withhold.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from workhealth.core.settings import Settings

PASSED, WARNING, CRITICAL = "passed", "warning", "critical"
#: Sample rows fetched per failing check, period and trust.
SAMPLE_ROWS = 5
#: Samples are fetched for at most this many findings per check (the report lists them all).
SAMPLED_FINDINGS_PER_CHECK = 12
#: What the frames and sample rows read: the frames (dbt models of schema quality), and for samples
#: raw registers and the delivery log, dbt's code lists, flagged episodes, marts.
REQUIRED_TABLES = ("publication.pub_release_period", "quality.raw_register_periods", "quality.coding_quality_national",
                   "quality.coding_quality_by_trust", "quality.public_marts_periods",
                   "audit.deliveries", "codelists.health_trusts", "intermediate.int_episodes_coding_flagged",
                   "marts.coding_quality_monthly", "marts.dim_person", "marts.fct_person_month",
                   "marts.fct_treatment_courses", "marts.fct_course_trajectories", "marts.fct_sick_leave_cases")


@dataclass
class Finding:
    severity: str
    suite: str
    expectation: str
    period: str | None
    health_trust: str | None
    observed: float | int | str | None
    threshold: str
    message: str
    register: str | None = None
    column: str | None = None
    samples: list[dict] = field(default_factory=list)
    #: The check's scope (catalogue.SCOPES): what a critical finding withholds.
    scope: str = "period"

    @property
    def warehouse_wide(self) -> bool:
        """A critical finding that withholds the whole release: scope warehouse, or no period."""
        return self.severity == CRITICAL and (self.scope == "warehouse" or self.period is None)


@dataclass
class QualityResult:
    run_id: str
    started_at: str
    seconds: float
    warehouse: str
    periods: dict[str, str]
    findings: list[Finding]
    report_path: Path
    data_docs_path: Path
    history_dir: Path
    checks: list[dict] = field(default_factory=list)
    #: The data horizon (``YYYY-MM``, publication.pub_release_period) the gate was judged against.
    horizon: str | None = None

    @property
    def publishable(self) -> bool:
        """False iff a warehouse-wide critical finding withholds the whole release."""
        return not self.blocking

    @property
    def blocking(self) -> list[Finding]:
        """Critical findings that withhold the whole release."""
        return [f for f in self.critical if f.warehouse_wide]

    def _after_horizon(self, f: Finding) -> bool:
        return self.horizon is not None and f.period is not None and f.period[:7] > self.horizon

    @property
    def after_horizon(self) -> list[Finding]:
        """Critical period findings in months after the horizon: reported, withholding nothing."""
        return [f for f in self.critical if not f.warehouse_wide and self._after_horizon(f)]

    @property
    def withheld(self) -> dict[str, list[dict]]:
        """``{year: [finding, ...]}``: the years withheld by critical period findings (each with
        suite, check, period, health_trust, register, observed value and threshold)."""
        out: dict[str, list[dict]] = {}
        for f in self.critical:
            if f.warehouse_wide or self._after_horizon(f):
                continue
            out.setdefault(f.period[:4], []).append(
                {"suite": f.suite, "check": f.expectation, "period": f.period, "health_trust": f.health_trust,
                 "register": f.register, "observed": f.observed, "threshold": f.threshold})
        return dict(sorted(out.items()))

    @property
    def critical(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == CRITICAL]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def withheld_reason(self) -> str:
        """What the critical findings withhold, one line per finding (expectation, period,
        observed value, threshold); empty when there is no critical finding."""
        if not self.critical:
            return ""
        if not self.publishable:
            lines = [f"publication withheld: {len(self.blocking)} warehouse-wide critical quality finding(s) "
                     f"(report: {self.report_path})"]
            lines += [f"  CRITICAL {f.message}" for f in self.blocking]
            lines += [f"  CRITICAL {f.message}" for f in self.critical if not f.warehouse_wide]
            return "\n".join(lines)
        lines = []
        if self.withheld:
            lines.append(f"year(s) withheld: {', '.join(self.withheld)} (published with empty measures, flag "
                         f"withheld; report: {self.report_path})")
            lines += [f"  CRITICAL {f.message}" for f in self.critical if f not in self.after_horizon]
        if self.after_horizon:
            lines.append(f"critical finding(s) after the horizon {self.horizon} (reported, withholding nothing):")
            lines += [f"  CRITICAL {f.message}" for f in self.after_horizon]
        return "\n".join(lines)

    def summary(self) -> str:
        verdict = ("publication withheld" if not self.publishable else
                   f"publishable, year(s) {', '.join(self.withheld)} withheld" if self.withheld else "publishable")
        bad = sorted(p for p, s in self.periods.items() if s == CRITICAL)
        return (f"quality: {verdict}; {len(self.periods)} periods, {len(self.critical)} critical and "
                f"{len(self.warnings)} warning finding(s)" + (f"; critical periods {', '.join(bad)}" if bad else "")
                + f"; report {self.report_path}")

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id, "started_at": self.started_at, "seconds": self.seconds,
            "warehouse": self.warehouse, "publishable": self.publishable, "horizon": self.horizon,
            "withheld": self.withheld, "periods": self.periods,
            "n_critical": len(self.critical), "n_warning": len(self.warnings),
            "findings": [asdict(f) for f in self.findings], "checks": self.checks,
            "report_path": str(self.report_path), "data_docs_path": str(self.data_docs_path),
            "history_dir": str(self.history_dir),
        }


def _new_run_id(history: Path) -> str:
    base = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id, n = base, 1
    while (history / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def _number(value):
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _findings(outcome: dict) -> list[Finding]:
    findings = []
    for suite, result in outcome.items():
        for check, r in result["results"]:
            if r.success:
                continue
            info = r.exception_info or {}
            if info.get("raised_exception"):
                findings.append(Finding(CRITICAL, suite, check.name, None, None, None, check.threshold_text(),
                                        f"{suite}.{check.name}: the check could not run: "
                                        f"{info.get('exception_message')}", column=check.column,
                                        scope="warehouse"))
                continue
            for row in r.result.get("unexpected_index_list") or []:
                period, trust, register = row.get("period"), row.get("health_trust"), row.get("register")
                observed = _number(row.get(check.column))
                where = " ".join(x for x in (register, period, f"health trust {trust}" if trust else None) if x)
                findings.append(Finding(
                    check.severity, suite, check.name, period, trust, observed, check.threshold_text(),
                    f"{suite}.{check.name} {where}: {check.column} = {_fmt(observed)} "
                    f"(threshold: {check.threshold_text()})", register=register, column=check.column,
                    scope=check.scope))
    order = {CRITICAL: 0, WARNING: 1}
    return sorted(findings, key=lambda f: (order[f.severity], f.suite, f.expectation, f.period or "",
                                           f.health_trust or "", f.register or ""))


def _periods(frames: dict, findings: list[Finding]) -> dict[str, str]:
    periods: set[str] = set()
    for df in frames.values():
        periods |= {p for p in df["period"].dropna().astype(str)}
    status = dict.fromkeys(sorted(periods), PASSED)
    for f in findings:
        if f.period is None:
            continue
        if f.severity == CRITICAL or status.get(f.period) != CRITICAL:
            status[f.period] = f.severity
    return dict(sorted(status.items()))


def validate(s: Settings, run_id: str | None = None, expectations_dir: Path | None = None) -> QualityResult:
    """Validate the warehouse ``s.warehouse`` (read-only) against the catalogue; see the module docstring."""
    from workhealth.core import warehouse
    from workhealth.quality import catalogue as cat
    from workhealth.quality import gx_runner, report
    from workhealth.quality.frames import FRAMES, sample_rows

    t0 = time.perf_counter()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    catalogue = cat.load(expectations_dir)
    quality_dir = Path(s.out) / "quality"
    history = quality_dir / "history"
    run_id = run_id or _new_run_id(history)
    if not Path(s.warehouse).exists():
        raise FileNotFoundError(f"warehouse {s.warehouse} does not exist: ingest and build the marts first")

    con = warehouse.connect(s, read_only=True)
    try:
        present = {f"{a}.{b}" for a, b in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
        missing = sorted(set(REQUIRED_TABLES) - present)
        if missing:
            raise RuntimeError(f"warehouse {s.warehouse} lacks {', '.join(missing)}: ingest and build the marts "
                               "(dbt build) before validating")
        horizon = (con.execute("SELECT strftime(max(horizon_month), '%Y-%m') FROM publication.pub_release_period")
                   .fetchone() or (None,))[0]
        timings: dict[str, float] = {}
        frames, params = {}, {}
        for suite in catalogue.suites:
            t = time.perf_counter()
            params[suite.frame] = suite.frame_parameters
            frames[suite.frame] = FRAMES[suite.frame].build(con, suite.frame_parameters)
            timings[f"frame {suite.frame}"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        outcome = gx_runner.run_suites(catalogue, frames, {n: f.index for n, f in FRAMES.items()}, quality_dir, run_id)
        timings["gx validation + data docs"] = round(time.perf_counter() - t, 3)
        findings = _findings(outcome)
        t = time.perf_counter()
        sampled: dict[tuple, int] = {}
        for f in findings:
            check = catalogue.check(f.suite, f.expectation)
            key = (f.suite, f.expectation)
            if check.sample and sampled.get(key, 0) < SAMPLED_FINDINGS_PER_CHECK:
                sampled[key] = sampled.get(key, 0) + 1
                suite = next(x for x in catalogue.suites if x.name == f.suite)
                f.samples = sample_rows(con, check.sample, asdict(f), params[suite.frame], SAMPLE_ROWS)
        timings["sample rows"] = round(time.perf_counter() - t, 3)
    finally:
        con.close()

    checks = [{"suite": c.suite, "name": c.name, "severity": c.severity, "description": c.description,
               "column": c.column, "threshold": c.threshold_text(), "references": c.references,
               "success": next(r.success for ch, r in outcome[c.suite]["results"] if ch.name == c.name)}
              for suite in catalogue.suites for c in suite.checks]
    result = QualityResult(
        run_id=run_id, started_at=started, seconds=0.0, warehouse=str(s.warehouse),
        periods=_periods(frames, findings), findings=findings, report_path=quality_dir / "index.html",
        data_docs_path=quality_dir / "data_docs" / "index.html", history_dir=history / run_id, checks=checks,
        horizon=horizon)

    run_dir = result.history_dir
    (run_dir / "frames").mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        df.to_csv(run_dir / "frames" / f"{name}.csv", index=False)
    (run_dir / "gx_validation_results.json").write_text(
        json.dumps({k: v["gx"] for k, v in outcome.items()}, indent=1, default=str))
    result.seconds = round(time.perf_counter() - t0, 3)
    timings["total before report"] = result.seconds
    report.write(result, frames, catalogue, quality_dir, timings)
    result.seconds = round(time.perf_counter() - t0, 3)
    payload = json.dumps({**result.to_dict(), "timings": timings}, indent=1, default=str)
    (run_dir / "result.json").write_text(payload)
    (quality_dir / "result.json").write_text(payload)
    return result
