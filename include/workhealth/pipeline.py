"""The whole pipeline as plain function calls: the same stage functions the DAGs run.

``workhealth run`` calls :func:`run`; the Airflow DAGs call the same stage functions one task
at a time. Stages so far: ingestion, the dbt build of the marts, then validation (the quality
gate, which runs only after a successful build), then publishing (a new indicator release and
the report, unless a warehouse-wide critical finding withholds the whole release; the years
of critical period findings are published withheld; workhealth.publish).
"""

from __future__ import annotations

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


@dataclass
class RunReport:
    deliveries: list[dict] = field(default_factory=list)
    #: ``None`` when the build did not run; else ``{"ok", "nodes", "failed": [..], "summary"}``.
    build: dict | None = None
    #: ``None`` when validation did not run (no successful build); else ``QualityResult.to_dict()``
    #: (``publishable``, ``withheld`` years, findings, ...) plus ``"summary"`` and
    #: ``"withheld_reason"`` (empty without a critical finding).
    quality: dict | None = None
    #: ``None`` when publishing did not run (no build, or the whole release withheld); else
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
            report.publish = publish_stage(s, report.quality)
    return report
