"""Shared by the dbt tests: run ``dbt build`` on a warehouse file in a subprocess.

A subprocess, not dbtRunner: dbt's in-process runner keeps the DuckDB lock after it returns
(dbt-labs/dbt-core#11980). dbt's target and logs go to the test's tmp folder, never the repo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workhealth.transform.dbt import BUILD_EXCLUDES, build_vars

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "dbt_project"


def _dbt() -> str:
    local = Path(sys.executable).with_name("dbt")
    return str(local) if local.exists() else str(REPO / ".venv" / "bin" / "dbt")


def run_dbt_build(warehouse: Path, tmp: Path, *command: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """``dbt build`` as the warehouse's build runs it (or ``command``) against ``warehouse``;
    returns the process and run_results.json's results."""
    env = {**os.environ, "WORKHEALTH_WAREHOUSE": str(warehouse), "WORKHEALTH_DUCKDB_THREADS": "2",
           "WORKHEALTH_DUCKDB_MEMORY_LIMIT": "2GB", "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    # the vars workhealth hands every dbt run (workhealth.transform.dbt.build_vars)
    cmd = [_dbt(), *(command or ("build", *BUILD_EXCLUDES)), "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
           "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs"), "--vars", json.dumps(build_vars())]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    results_file = tmp / "target" / "run_results.json"
    results = json.loads(results_file.read_text())["results"] if results_file.exists() else []
    return proc, results


@pytest.fixture(scope="session")
def dbt_build():
    return run_dbt_build
