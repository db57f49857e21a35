"""All configurable paths and knobs, read from environment variables in one place.

Nothing else in the project reads the environment. Every setting has a default under
the repository's ``data/`` folder (ignored by git), so a fresh clone works as is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: The repository root (``include/workhealth/core/settings.py`` -> four levels up).
REPO_ROOT = Path(__file__).resolve().parents[3]


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class Settings:
    """A snapshot of the settings; ``load()`` reads them from the environment."""

    data_dir: Path
    inbox: Path
    warehouse: Path
    out: Path
    #: Where delivered files are kept as delivered once accepted (``<archive>/<delivery>/``).
    archive: Path
    #: Where refused deliveries are kept byte for byte, with ``REJECTED.txt``.
    rejected: Path
    #: Restricted area for deliveries that carried a national identity number.
    restricted: Path
    airflow_home: Path
    dbt_project_dir: Path
    codelists_dir: Path
    #: Max share of a delivery's rows that may be quarantined before the whole delivery
    #: is rejected (the delivery contract, docs/ingestion.md: default 0.1 %).
    quarantine_threshold: float = 0.001
    duckdb_memory_limit: str = "8GB"
    duckdb_threads: int = 2
    #: Cron of the ``ingest_deliveries`` poll (``make up`` sets every minute; docs/operations.md).
    inbox_poll: str = "*/15 * * * *"
    #: Cron of the monthly cycle of ``build_marts`` (besides the runs new deliveries trigger).
    monthly_cycle: str = "0 6 10 * *"
    #: Failure alerts, off unless set: a webhook URL (JSON POST) and/or e-mail recipients.
    alert_webhook: str = ""
    alert_emails: tuple[str, ...] = ()
    smtp_host: str = "localhost"
    smtp_port: int = 25
    alert_sender: str = "workhealth@localhost"


def load() -> Settings:
    data_dir = _path("WORKHEALTH_DATA_DIR", REPO_ROOT / "data")
    return Settings(
        data_dir=data_dir,
        inbox=_path("WORKHEALTH_INBOX", data_dir / "inbox"),
        warehouse=_path("WORKHEALTH_WAREHOUSE", data_dir / "warehouse" / "workhealth.duckdb"),
        out=_path("WORKHEALTH_OUT", data_dir / "out"),
        archive=_path("WORKHEALTH_ARCHIVE", data_dir / "archive"),
        rejected=_path("WORKHEALTH_REJECTED", data_dir / "rejected"),
        restricted=_path("WORKHEALTH_RESTRICTED", data_dir / "restricted"),
        airflow_home=_path("AIRFLOW_HOME", data_dir / "airflow"),
        dbt_project_dir=_path("WORKHEALTH_DBT_PROJECT_DIR", REPO_ROOT / "dbt_project"),
        codelists_dir=_path("WORKHEALTH_CODELISTS_DIR", REPO_ROOT / "dbt_project" / "seeds"),
        quarantine_threshold=_float("WORKHEALTH_QUARANTINE_THRESHOLD", 0.001),
        duckdb_memory_limit=os.environ.get("WORKHEALTH_DUCKDB_MEMORY_LIMIT", "8GB"),
        duckdb_threads=_int("WORKHEALTH_DUCKDB_THREADS", 2),
        inbox_poll=os.environ.get("WORKHEALTH_INBOX_POLL") or "*/15 * * * *",
        monthly_cycle=os.environ.get("WORKHEALTH_MONTHLY_CYCLE") or "0 6 10 * *",
        alert_webhook=os.environ.get("WORKHEALTH_ALERT_WEBHOOK", ""),
        alert_emails=tuple(a.strip() for a in os.environ.get("WORKHEALTH_ALERT_EMAILS", "").split(",") if a.strip()),
        smtp_host=os.environ.get("WORKHEALTH_SMTP_HOST") or "localhost",
        smtp_port=_int("WORKHEALTH_SMTP_PORT", 25),
        alert_sender=os.environ.get("WORKHEALTH_ALERT_SENDER") or "workhealth@localhost",
    )


def airflow_environ(s: Settings | None = None) -> dict[str, str]:
    """Environment for Airflow processes on the embedded default (SQLite metadata, local folders).

    Values already set in the environment win, so a deployment (docker-compose) can override any.
    """
    s = s or load()
    defaults = {
        "AIRFLOW_HOME": str(s.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{s.airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # Paths of the platform, passed on explicitly so tasks see the same settings as the CLI.
        "WORKHEALTH_INBOX": str(s.inbox),
        "WORKHEALTH_WAREHOUSE": str(s.warehouse),
        "WORKHEALTH_OUT": str(s.out),
        "WORKHEALTH_ARCHIVE": str(s.archive),
        "WORKHEALTH_REJECTED": str(s.rejected),
        "WORKHEALTH_RESTRICTED": str(s.restricted),
    }
    return {k: os.environ.get(k, v) for k, v in defaults.items()}


#: The Airflow pool every task that opens the DuckDB warehouse runs in (DuckDB allows one writer).
WAREHOUSE_POOL = "duckdb_warehouse"
