"""Run dbt (the marts build) in a subprocess and read its results.

A subprocess, not dbt's in-process runner: dbtRunner keeps its DuckDB connection (and so the
single-writer lock) after it returns (dbt-labs/dbt-core#11980), and dbt's logging and pins
stay out of the Airflow worker process. Per-node outcomes come from ``run_results.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workhealth.core import warehouse
from workhealth.core.errors import WarehouseBusy
from workhealth.core.settings import Settings


@dataclass
class NodeResult:
    unique_id: str
    status: str
    message: str | None
    failures: int | None
    seconds: float


@dataclass
class DbtResult:
    command: list[str]
    returncode: int
    nodes: list[NodeResult] = field(default_factory=list)
    output_tail: str = ""

    @property
    def failed(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in ("error", "fail", "runtime error")]

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.failed

    def summary(self) -> str:
        if self.ok:
            return f"dbt: {len(self.nodes)} nodes ok"
        lines = [f"dbt failed (exit {self.returncode}):"]
        lines += [f"  {n.status.upper()} {n.unique_id}: {n.message}" for n in self.failed]
        if not self.failed:
            lines.append(self.output_tail)
        return "\n".join(lines)


def _dbt_bin() -> str:
    local = Path(sys.executable).with_name("dbt")
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def dbt_env(s: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "WORKHEALTH_WAREHOUSE": str(s.warehouse),
        "WORKHEALTH_DUCKDB_THREADS": str(s.duckdb_threads),
        "WORKHEALTH_DUCKDB_MEMORY_LIMIT": s.duckdb_memory_limit,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }


def build_vars() -> dict:
    """Vars whose home is Python, handed to every dbt run: the delivery contract of
    workhealth.core.registers (for quality.raw_register_periods; ingestion checks the same)."""
    from workhealth.core.register_sql import dbt_vars

    return dbt_vars()


def dbt(args: list[str], s: Settings, target: Path | None = None) -> DbtResult:
    """Run ``dbt <args>`` against the warehouse; target (default ``<out>/dbt/target``) and logs
    go under ``<out>/dbt``."""
    target = target or s.out / "dbt" / "target"
    logs = s.out / "dbt" / "logs"
    cmd = [_dbt_bin(), *args, "--project-dir", str(s.dbt_project_dir), "--profiles-dir",
           str(s.dbt_project_dir), "--target-path", str(target), "--log-path", str(logs),
           "--vars", json.dumps(build_vars())]
    s.warehouse.parent.mkdir(parents=True, exist_ok=True)
    results_file = target / "run_results.json"
    # A dbt that dies before writing its results must not be read as the previous build's
    # outcome: no nodes then means "dbt itself broke" (retried), not "a test failed" (not retried).
    results_file.unlink(missing_ok=True)
    proc = subprocess.run(cmd, env=dbt_env(s), text=True, capture_output=True, cwd=s.dbt_project_dir)
    result = DbtResult(command=cmd, returncode=proc.returncode,
                       output_tail="\n".join((proc.stdout + proc.stderr).splitlines()[-30:]))
    if warehouse.is_lock_conflict(proc.stdout + proc.stderr):
        raise WarehouseBusy(str(s.warehouse))  # nothing was built: not a failing model or test
    if results_file.exists():
        for r in json.loads(results_file.read_text())["results"]:
            result.nodes.append(NodeResult(r["unique_id"], r["status"], r.get("message"),
                                           r.get("failures"), float(r.get("execution_time") or 0)))
    return result


#: dbt's unit tests check the SQL on fixed inputs, so their outcome cannot change with a delivery:
#: they run in the test suite (tests/dbt/test_dbt_unit_tests.py, ``make check``), not in every
#: build of the warehouse (dbt's own advice; they were a third of a small build's node time).
BUILD_EXCLUDES = ("--exclude-resource-type", "unit_test")


def build(s: Settings, select: str | None = None) -> DbtResult:
    """``dbt build``: seeds, models and their data tests (not the unit tests: ``BUILD_EXCLUDES``);
    a failing test skips what depends on it.

    Raises WarehouseBusy at once when another process holds the warehouse: dbt itself would
    retry the connection of every node (minutes) before giving up.
    """
    warehouse.connect(s).close()
    return dbt(["build", *BUILD_EXCLUDES, *(["--select", select] if select else [])], s)


class DataDictionaryError(RuntimeError):
    """``dbt docs generate`` did not give the data dictionary page."""


#: The page ``dbt docs generate --static`` writes (dbt-core >= 1.7): index.html with the manifest
#: and the catalog inlined, so it opens from disk with no server and no other file.
STATIC_DOCS_PAGE = "static_index.html"


def data_dictionary(s: Settings, models: Sequence[str]) -> Path:
    """The data dictionary of ``models``: one offline HTML page by ``dbt docs generate --static``.

    The catalog (the columns and types as they are in the warehouse) is read for ``models`` only;
    descriptions come from the models' yml. dbt opens the warehouse read-only (profile target
    ``docs``), so it runs beside other readers but not while a writer holds the file
    (WarehouseBusy), and never next to an open read-write connection of the caller.
    Its own target folder (``<out>/dbt/docs``): the build's run_results.json stays as it was.
    Returns the page's path inside that folder (copy it: the next run overwrites it).
    """
    warehouse.connect(s, read_only=True).close()  # a writer holds it: WarehouseBusy now, not after dbt's retries
    target = s.out / "dbt" / "docs"
    page = target / STATIC_DOCS_PAGE
    page.unlink(missing_ok=True)  # a page left by an earlier run is not this run's dictionary
    result = dbt(["docs", "generate", "--static", "--target", "docs", "--select", *models], s, target=target)
    if result.returncode != 0 or not page.is_file():
        raise DataDictionaryError(f"dbt docs generate failed (exit {result.returncode}):\n{result.output_tail}")
    return page
