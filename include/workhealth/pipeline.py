"""The whole pipeline as plain function calls: the same stage functions the DAGs run.

``workhealth run`` calls :func:`run`; the Airflow DAGs call the same stage functions one task
at a time. Stages so far: ingestion. (dbt build, validation and publishing join here.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workhealth.settings import Settings

#: Exit codes of ``workhealth run`` (documented in the README).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DELIVERY_REJECTED = 3


@dataclass
class RunReport:
    deliveries: list[dict] = field(default_factory=list)

    @property
    def rejected(self) -> list[dict]:
        return [d for d in self.deliveries if d["status"] == "rejected"]

    @property
    def exit_code(self) -> int:
        return EXIT_DELIVERY_REJECTED if self.rejected else EXIT_OK


def ingest_stage(s: Settings) -> list[dict]:
    from workhealth.deliveries.ingest import ingest_inbox

    return [r.to_dict() for r in ingest_inbox(s)]


def run(s: Settings) -> RunReport:
    report = RunReport()
    report.deliveries = ingest_stage(s)
    return report
