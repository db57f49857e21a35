"""The ingestion DAG, run for real with ``dag.test()`` on a generated inbox."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
pytestmark = pytest.mark.slow


def _dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "ingest_deliveries.py"))
    assert bag.import_errors == {}
    return bag.dags["ingest_deliveries"]


def _task_states(dag_run) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
        return {(ti.rendered_map_index or ti.task_id): ti.state for ti in tis}


def _asset_events(run_id: str) -> set[str]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        return {e.asset.name for e in session.query(AssetEvent).filter_by(source_run_id=run_id).all()}


def test_clean_inbox_is_ingested_one_task_per_delivery(airflow_db, workhealth_env):
    from workhealth.ingest.log import list_deliveries
    from workhealth.generate import generate

    summary = generate(workhealth_env.inbox, start="2017-12", end="2018-01", scale=0.001, seed=11)
    generated = {d["delivery"] for d in summary["deliveries"]}

    run = _dag().test()

    assert run.state == "success"
    states = _task_states(run)
    assert {name for name in states if name in generated} == generated, "one mapped task per delivery"
    assert all(states[name] == "success" for name in generated)
    log = {d["delivery"]: d for d in list_deliveries(workhealth_env.warehouse)}
    assert set(log) == generated
    for d in log.values():
        assert d["status"] == "accepted"
        assert d["rows_loaded"] + d["rows_quarantined"] == d["rows_manifest"]
    registers = {d["register"] for d in summary["deliveries"]}
    assert _asset_events(run.run_id) == {f"raw.{r}" for r in registers}


def test_rejected_delivery_fails_its_task_visibly(airflow_db, workhealth_env):
    from workhealth.generate import generate

    summary = generate(workhealth_env.inbox, start="2018-01", end="2018-01", scale=0.001, seed=12,
                       defects=["checksum"])
    broken = {d["delivery"] for d in summary["deliveries"] if "checksum" in d["defects"]}
    assert len(broken) == 1

    run = _dag().test()

    assert run.state == "failed", "a refused delivery must not look like a success"
    states = _task_states(run)
    (name,) = broken
    assert states[name] == "failed"
    assert all(state == "success" for n, state in states.items() if n not in broken)


def test_identity_number_in_a_folder_name_reaches_no_xcom_map_index_or_log(airflow_db, workhealth_env, capfd):
    """The name is refused as a privacy breach, and the DAG carries the folder by inode, never by name."""
    import shutil

    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from workhealth.core.identity import make_identity_number
    from workhealth.generate import generate
    from workhealth.ingest.log import list_deliveries

    summary = generate(workhealth_env.inbox, start="2018-01", end="2018-01", scale=0.001, seed=13)
    number = make_identity_number(1, 1, 85, 123)
    src = workhealth_env.inbox / summary["deliveries"][0]["delivery"]
    shutil.move(src, workhealth_env.inbox / f"delivery_{number}")

    run = _dag().test()

    assert run.state == "failed", "the refused delivery fails its task"
    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        xcoms = session.query(XComModel).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        stored = " ".join([str(ti.rendered_map_index) for ti in tis] + [str(x.value) for x in xcoms])
    out = capfd.readouterr()
    log = list_deliveries(workhealth_env.warehouse)
    breach = [d for d in log if d.get("privacy_breach") or d["delivery"].startswith("delivery_")]
    assert breach and all(d["status"] == "rejected" for d in breach)
    for text in (stored, out.out, out.err, repr(log)):
        assert number not in text and number[5:] not in text
