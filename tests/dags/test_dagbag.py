"""Every DAG file imports cleanly and follows the project's DAG policy."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


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


def test_warehouse_tasks_run_in_the_one_slot_pool(dagbag):
    from workhealth.core.settings import WAREHOUSE_POOL

    load = dagbag.dags["ingest_deliveries"].get_task("load_delivery")
    assert load.pool == WAREHOUSE_POOL
