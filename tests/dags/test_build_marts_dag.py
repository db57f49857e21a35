"""The marts DAG, run for real with ``dag.test()`` after ingesting a generated inbox."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
pytestmark = pytest.mark.slow


def test_build_marts_builds_every_public_mart(airflow_db, workhealth_env):
    import duckdb
    from airflow.dag_processing.dagbag import DagBag

    from workhealth.deliveries.ingest import ingest_inbox
    from workhealth.generate import generate

    generate(workhealth_env.inbox, start="2017-10", end="2018-03", scale=0.001, seed=21)
    assert all(r.status == "accepted" for r in ingest_inbox(workhealth_env))

    bag = DagBag(dag_folder=str(DAGS / "build_marts.py"))
    assert bag.import_errors == {}
    run = bag.dags["build_marts"].test()

    assert run.state == "success"
    con = duckdb.connect(str(workhealth_env.warehouse), read_only=True)
    try:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'").fetchall()}
        assert {"dim_person", "fct_person_month", "fct_sick_leave_cases", "fct_treatment_courses",
                "fct_course_trajectories", "coding_quality_monthly"} <= tables
        n_courses, = con.execute("SELECT count(*) FROM marts.fct_treatment_courses").fetchone()
        n_persons, n_months, n_rows = con.execute(
            "SELECT count(DISTINCT person_id), count(DISTINCT month), count(*) FROM marts.fct_person_month").fetchone()
    finally:
        con.close()
    assert n_courses > 0
    assert n_rows == n_persons * n_months, "one state per person and month"


def test_a_failing_dbt_test_fails_the_task_and_names_the_node(airflow_db, workhealth_env, tmp_path, monkeypatch):
    """A copy of the dbt project with one extra singular test that fails on any data: the task
    must fail (no silent success) and the log must name the failing test."""
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    from workhealth import settings, transform
    from workhealth.deliveries.ingest import ingest_inbox
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
    result = transform.build(settings.load())
    assert [n.unique_id for n in result.failed] == ["test.workhealth.assert_no_treatment_courses"]
    assert "assert_no_treatment_courses" in result.summary()
