"""The marts DAG, run for real with ``dag.test()`` after ingesting a generated inbox: its
failures (a failing dbt test, a withheld year). The whole pipeline succeeding, with its asset
events, runs under a real scheduler in tests/integration/test_real_scheduler.py."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_evaluate_runs_between_the_gate_and_publish_in_the_pool_with_its_asset():
    """The structure as parsed (no run): dbt_build -> validate -> evaluate -> publish ->
    withheld_years, every warehouse task in the one-slot pool, evaluate producing its asset."""
    from airflow.dag_processing.dagbag import DagBag

    from workhealth.core.settings import WAREHOUSE_POOL

    bag = DagBag(dag_folder=str(DAGS / "build_marts.py"))
    assert bag.import_errors == {}
    dag = bag.dags["build_marts"]
    upstream = {t.task_id: set(t.upstream_task_ids) for t in dag.tasks}
    assert upstream == {"dbt_build": set(), "validate": {"dbt_build"}, "evaluate": {"validate"},
                        "publish": {"validate", "evaluate"}, "withheld_years": {"validate", "publish"}}
    for task_id in ("dbt_build", "validate", "evaluate", "publish"):
        assert dag.get_task(task_id).pool == WAREHOUSE_POOL, task_id
    evaluate = dag.get_task("evaluate")
    assert [a.uri for a in evaluate.outlets] == ["workhealth://warehouse/evaluation/effects"]
    assert [a.uri for a in dag.get_task("publish").outlets] == ["workhealth://releases/latest"]
    assert "evaluate" in dag.doc_md and "step" in dag.doc_md, "triage notes for the evaluate task"


def test_a_failed_evaluation_fails_the_task_without_retries_naming_intervention_and_step(tmp_path, monkeypatch):
    """The task body on a warehouse without the evaluation's input (no dbt build): a real
    EvaluationError, turned into AirflowFailException (no retries) with intervention and step."""
    import sys

    from airflow.sdk.exceptions import AirflowFailException

    if str(DAGS.parent / "plugins") not in sys.path:
        sys.path.insert(0, str(DAGS.parent / "plugins"))  # as Airflow does with its plugins folder
    from workhealth_airflow import evaluation

    monkeypatch.setenv("WORKHEALTH_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    with pytest.raises(AirflowFailException) as failed:
        evaluation.evaluate({"withheld": {}}, {"outlet_events": {}})
    message = str(failed.value)
    assert message.startswith("evaluation failed: intervention HA_COURSE, HA_COURSE_1"), message
    assert ", step read: " in message and "(nothing published)" in message


@pytest.mark.slow
def test_a_failing_dbt_test_fails_the_task_and_names_the_node(airflow_db, workhealth_env, tmp_path, monkeypatch,
                                                             capsys):
    """A copy of the dbt project with one extra singular test that fails on any data: the task
    must fail (no silent success) and the log must name the failing test. The failed nodes are
    read from the task's own dbt run (run_results.json), not from a second build."""
    import json
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    from workhealth.core import settings
    from workhealth.ingest.load import ingest_inbox
    from workhealth.generate import generate

    project = tmp_path / "dbt_project"
    shutil.copytree(workhealth_env.dbt_project_dir, project,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project / "tests" / "assert_no_treatment_courses.sql").write_text(
        "select course_id from {{ ref('fct_treatment_courses') }}\n")
    monkeypatch.setenv("WORKHEALTH_DBT_PROJECT_DIR", str(project))
    generate(workhealth_env.inbox, start="2017-12", end="2018-02", scale=0.001, seed=22)
    ingest_inbox(settings.load())

    run = DagBag(dag_folder=str(DAGS / "build_marts.py")).dags["build_marts"].test()

    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["dbt_build"] == "failed"
    results = json.loads((settings.load().out / "dbt" / "target" / "run_results.json").read_text())["results"]
    failed = [r["unique_id"] for r in results if r["status"] in ("error", "fail", "runtime error")]
    assert failed == ["test.workhealth.assert_no_treatment_courses"]
    log = capsys.readouterr()
    assert "FAIL test.workhealth.assert_no_treatment_courses" in log.out + log.err, "the task log names the test"


@pytest.mark.slow
def test_a_critical_finding_of_a_month_publishes_with_its_year_withheld_and_fails_the_run(
        airflow_db, workhealth_env, capsys):
    """A month where 30 % of main diagnoses are invalid (generator defect ``diagnosis_outage``,
    2017-12): dbt builds, ``validate`` lets the release through, ``publish`` writes it with 2017
    withheld, and ``withheld_years`` fails, naming the year, expectation, period and value."""
    import json

    from airflow.dag_processing.dagbag import DagBag

    from workhealth.ingest.load import ingest_inbox
    from workhealth.generate import generate

    generate(workhealth_env.inbox, start="2017-12", end="2018-02", scale=0.001, seed=23, defects=["diagnosis_outage"])
    assert all(r.status == "accepted" for r in ingest_inbox(workhealth_env))

    run = DagBag(dag_folder=str(DAGS / "build_marts.py")).dags["build_marts"].test()

    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"dbt_build": "success", "validate": "success", "evaluate": "success", "publish": "success",
                      "withheld_years": "failed"}
    meta = json.loads((workhealth_env.out / "releases" / "latest" / "metadata.json").read_text())
    assert list(meta["withheld"]) == ["2017"]
    log = capsys.readouterr()
    text = log.out + log.err
    assert "AirflowFailException: year(s) withheld in the release: 2017" in text
    line = next(x for x in text.splitlines() if "2017:" in x and "national_invalid_main_diagnosis_share" in x)
    assert "2017-12" in line and "observed 0." in line and "at most 0.2" in line
