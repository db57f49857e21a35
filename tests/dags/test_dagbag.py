"""Every DAG file imports cleanly and follows the project's DAG policy."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.dags, "no DAG found"


def test_one_dag_per_file_named_like_the_file(dagbag):
    files = {p.stem for p in DAGS.glob("*.py") if not p.name.startswith("_")}
    assert set(dagbag.dag_ids) == files


@pytest.mark.parametrize("dag_id", [p.stem for p in DAGS.glob("*.py") if not p.name.startswith("_")])
def test_dag_policy(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.doc_md and "Triage notes" in dag.doc_md, "docstring with triage notes shown in the UI"
    assert "workhealth" in dag.tags
    for t in dag.tasks:
        assert t.retries >= 1, f"{t.task_id} has no retries"
        assert t.execution_timeout is not None, f"{t.task_id} has no timeout"


def test_every_task_has_the_failure_callback(dagbag):
    """Each task as parsed, not only DEFAULT_ARGS: a task that sets its own callback list loses the alert."""
    if str(REPO / "plugins") not in sys.path:
        sys.path.insert(0, str(REPO / "plugins"))  # as Airflow does with its plugins folder
    from workhealth_airflow import callbacks

    tasks = [(dag.dag_id, t) for dag in dagbag.dags.values() for t in dag.tasks]
    assert len(tasks) >= 5
    for dag_id, t in tasks:
        registered = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
        assert callbacks.on_failure in registered, f"{dag_id}.{t.task_id} sends no failure alert"


def test_warehouse_tasks_run_in_the_one_slot_pool(dagbag):
    from workhealth.core.settings import WAREHOUSE_POOL

    load = dagbag.dags["ingest_deliveries"].get_task("load_delivery")
    assert load.pool == WAREHOUSE_POOL
