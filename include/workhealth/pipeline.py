"""The whole pipeline as plain function calls: the same stage functions the DAGs run.

``workhealth run`` calls :func:`run`; the Airflow DAGs call the same stage functions one task
at a time. Stages so far: ingestion, then the dbt build of the marts. (Validation and
publishing join here.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workhealth.settings import Settings

#: Exit codes of ``workhealth run`` (documented in the README).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DELIVERY_REJECTED = 3
EXIT_BUILD_FAILED = 4


@dataclass
class RunReport:
    deliveries: list[dict] = field(default_factory=list)
    #: ``None`` when the build did not run; else ``{"ok", "nodes", "failed": [..], "summary"}``.
    build: dict | None = None

    @property
    def rejected(self) -> list[dict]:
        return [d for d in self.deliveries if d["status"] == "rejected"]

    @property
    def exit_code(self) -> int:
        if self.build is not None and not self.build["ok"]:
            return EXIT_BUILD_FAILED
        return EXIT_DELIVERY_REJECTED if self.rejected else EXIT_OK


def ingest_stage(s: Settings) -> list[dict]:
    from workhealth.deliveries.ingest import ingest_inbox

    return [r.to_dict() for r in ingest_inbox(s)]


def build_stage(s: Settings) -> dict:
    from workhealth import transform

    result = transform.build(s)
    return {"ok": result.ok, "nodes": len(result.nodes),
            "failed": [f"{n.status} {n.unique_id}: {n.message}" for n in result.failed],
            "summary": result.summary()}


def run(s: Settings) -> RunReport:
    report = RunReport()
    report.deliveries = ingest_stage(s)
    report.build = build_stage(s)
    return report
