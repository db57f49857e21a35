"""The whole pipeline as plain function calls: the same stage functions the DAGs run.

``workhealth run`` calls :func:`run`; the Airflow DAGs call the same stage functions one task
at a time. Stages so far: ingestion, the dbt build of the marts, then validation (the quality
gate, which runs only after a successful build), then the evaluation (the target-trial emulation
of docs/evaluation.md, past the gate only; workhealth.evaluate), then publishing (a new
indicator release with the evaluation's effects and the report, unless a warehouse-wide
critical finding withholds the whole release or the evaluation failed; the years of critical
period findings are published withheld; workhealth.publish).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from workhealth.core.settings import Settings

#: Exit codes of ``workhealth run`` (documented in the README).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DELIVERY_REJECTED = 3
EXIT_BUILD_FAILED = 4
EXIT_PUBLICATION_WITHHELD = 5
# 6, the warehouse held by another process, is every command's: workhealth.core.errors.
#: Published, but with years withheld by critical period findings (someone must act, as for 3).
EXIT_YEARS_WITHHELD = 7
#: The evaluation failed (the intervention and step are named); nothing was published.
EXIT_EVALUATION_FAILED = 8


@dataclass
class RunReport:
    deliveries: list[dict] = field(default_factory=list)
    #: ``None`` when the build did not run; else ``{"ok", "nodes", "failed": [..], "summary"}``.
    build: dict | None = None
    #: ``None`` when validation did not run (no successful build); else ``QualityResult.to_dict()``
    #: (``publishable``, ``withheld`` years, findings, ...) plus ``"summary"`` and
    #: ``"withheld_reason"`` (empty without a critical finding).
    quality: dict | None = None
    #: ``None`` when the evaluation did not run (no build, or the whole release withheld); else
    #: ``{"ok": True, "rows", "interventions", "seconds", "summary"}`` or, when it failed,
    #: ``{"ok": False, "intervention", "step", "error", "summary"}``.
    evaluation: dict | None = None
    #: ``None`` when publishing did not run (no build, the whole release withheld, or the
    #: evaluation failed); else
    #: ``PublishResult.to_dict()`` (release_id, created, path, report_path, fingerprint, horizon).
    publish: dict | None = None

    @property
    def rejected(self) -> list[dict]:
        return [d for d in self.deliveries if d["status"] == "rejected"]

    @property
    def exit_code(self) -> int:
        if self.build is not None and not self.build["ok"]:
            return EXIT_BUILD_FAILED
        if self.quality is not None and not self.quality["publishable"]:
            return EXIT_PUBLICATION_WITHHELD
        if self.evaluation is not None and not self.evaluation["ok"]:
            return EXIT_EVALUATION_FAILED
        if self.quality is not None and self.quality.get("withheld"):
            return EXIT_YEARS_WITHHELD
        return EXIT_DELIVERY_REJECTED if self.rejected else EXIT_OK


def ingest_stage(s: Settings) -> list[dict]:
    from workhealth.ingest.load import ingest_inbox

    return [r.to_dict() for r in ingest_inbox(s)]


def build_stage(s: Settings) -> dict:
    from workhealth import transform

    result = transform.build(s)
    return {"ok": result.ok, "nodes": len(result.nodes),
            "failed": [f"{n.status} {n.unique_id}: {n.message}" for n in result.failed],
            "summary": result.summary()}


def validate_stage(s: Settings) -> dict:
    """The quality gate (workhealth.quality): findings, period status and the report under OUT/quality/."""
    from workhealth.quality import validate

    result = validate(s)
    return {**result.to_dict(), "summary": result.summary(), "withheld_reason": result.withheld_reason()}


def evaluate_stage(s: Settings, quality: dict | None = None) -> dict:
    """The evaluation (workhealth.evaluate): matched cohorts and effects per intervention and
    subgroup into the warehouse (``marts.fct_evaluation_cohort``, schema ``evaluation``).
    A failure comes back as ``ok`` false with the intervention and step it names; any other
    error (the warehouse busy, a bug) propagates. The index months of the years ``quality``
    withholds are left out."""
    from workhealth.evaluate import EvaluationError, evaluate

    try:
        result = evaluate(s, withheld_years=(quality or {}).get("withheld") or {})
    except EvaluationError as exc:
        intervention, step, detail = evaluation_failure(exc)
        return {"ok": False, "intervention": intervention, "step": step, "error": str(exc),
                "summary": f"evaluation failed: intervention {intervention}, step {step}: {detail} "
                           "(nothing published)"}
    # JSON-safe (``workhealth run --json``): a caliper that does not exist (no treated entry) is NaN
    interventions = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                      for k, v in dataclasses.asdict(i).items()} for i in result.interventions]
    treated = ", ".join(f"{i['intervention']} {i['n_matched']}/{i['n_treated']}" for i in interventions)
    return {"ok": True, "rows": result.rows, "interventions": interventions, "seconds": round(result.seconds, 1),
            "summary": f"evaluation: matched/treated entries {treated or 'none'} ({result.seconds:.0f} s)"}


def evaluation_failure(exc: Exception) -> tuple[str, str, str]:
    """(intervention, step, detail) of an EvaluationError, whose message is
    ``<intervention>: <step>: <detail>``."""
    parts = str(exc).split(": ", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else ("unknown", "unknown", str(exc))


def publish_stage(s: Settings, quality: dict) -> dict:
    """A new release (public part OUT/releases/, internal part OUT/internal/) when the inputs
    changed, and the report OUT/report/."""
    from workhealth.publish import publish
    from workhealth.transform import data_dictionary

    return publish(s, quality, dictionary=data_dictionary).to_dict()


def run(s: Settings) -> RunReport:
    report = RunReport()
    report.deliveries = ingest_stage(s)
    report.build = build_stage(s)
    if report.build["ok"]:  # validating stale or half-built marts would judge the wrong data
        report.quality = validate_stage(s)
        # The gate: nothing is published past a warehouse-wide critical finding; the years of
        # critical period findings are published withheld (report.quality["withheld"]).
        if report.quality["publishable"]:
            # The effects are part of the release: a failed evaluation publishes nothing.
            report.evaluation = evaluate_stage(s, report.quality)
            if report.evaluation["ok"]:
                report.publish = publish_stage(s, report.quality)
    return report
