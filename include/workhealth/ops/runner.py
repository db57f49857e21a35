"""Run the pipeline's DAGs through Airflow on the embedded default (SQLite metadata).

Used by ``workhealth airflow-run`` (and so ``make demo``): prepares AIRFLOW_HOME, migrates the
metadata database, creates the warehouse pool and runs each DAG with ``airflow dags test``,
in the order the assets would trigger them under a scheduler. Airflow runs as a subprocess so
its configuration comes only from the environment built by ``settings.airflow_environ``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from workhealth.core.settings import WAREHOUSE_POOL, Settings, airflow_environ

#: The warehouse pool's description (one slot: DuckDB allows one writer).
POOL_DESCRIPTION = "DuckDB allows one writer: every task that opens the warehouse"

#: The DAGs of one monthly cycle, in dependency order.
PIPELINE_DAGS = ("ingest_deliveries", "build_marts")


def airflow_bin() -> str:
    local = Path(sys.executable).with_name("airflow")
    return str(local) if local.exists() else (shutil.which("airflow") or "airflow")


def airflow(args: list[str], s: Settings, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, **airflow_environ(s)}
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [airflow_bin(), *args], env=env, check=check, text=True,
        stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE if capture else None,
    )


def init(s: Settings) -> None:
    """Migrate the metadata database and create the one-slot warehouse pool (both idempotent)."""
    airflow(["db", "migrate"], s, capture=True)
    airflow(["pools", "set", WAREHOUSE_POOL, "1", POOL_DESCRIPTION], s, capture=True)


def last_run_state(dag_id: str, s: Settings) -> str:
    out = airflow(["dags", "list-runs", dag_id, "-o", "json"], s, capture=True).stdout
    # Airflow may print warnings before the JSON: take the line that is the JSON list.
    line = next((ln for ln in out.splitlines() if ln.startswith("[{") or ln.strip() == "[]"), "[]")
    runs = json.loads(line)
    if not runs:
        return "none"
    latest = max(runs, key=lambda r: r.get("run_after") or r.get("logical_date") or "")
    return latest["state"]


def run_dags(s: Settings, dag_ids: tuple[str, ...] = PIPELINE_DAGS) -> dict[str, str]:
    """``airflow dags test`` each DAG in order; returns the final state of each run."""
    init(s)
    states = {}
    for dag_id in dag_ids:
        airflow(["dags", "test", dag_id], s, check=False)
        states[dag_id] = last_run_state(dag_id, s)
    return states
