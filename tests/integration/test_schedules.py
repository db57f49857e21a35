"""The DAGs' schedules as parsed by Airflow (docs/operations.md, "Schedules, catchup and backfills")."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


def parse(monkeypatch, **env):
    from airflow.dag_processing.dagbag import DagBag

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag.dags


@pytest.fixture(scope="module")
def dags():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("WORKHEALTH_INBOX_POLL", raising=False)
        mp.delenv("WORKHEALTH_MONTHLY_CYCLE", raising=False)
        yield parse(mp)


def test_inbox_poll_default_and_setting(dags, monkeypatch):
    ingest = dags["ingest_deliveries"]
    assert ingest.timetable.expression == "*/15 * * * *" and not ingest.catchup and ingest.max_active_runs == 1
    polled = parse(monkeypatch, WORKHEALTH_INBOX_POLL="* * * * *")["ingest_deliveries"]
    assert polled.timetable.expression == "* * * * *"


def test_marts_build_on_new_data_or_monthly_without_catchup(dags):
    from airflow.sdk import AssetOrTimeSchedule

    build = dags["build_marts"]
    assert isinstance(build.timetable, AssetOrTimeSchedule)
    assert not build.catchup and build.max_active_runs == 1
    # No start_date: a first start waits for the next cycle instead of running the last one.
    assert build.start_date is None
    # Any one register's new data triggers a build (an "or" of the raw assets).
    assert {a.name for a in build.timetable.asset_condition.objects} >= {
        "raw.npr_episodes", "raw.nav_sickleave", "raw.nav_aap", "raw.nav_disability", "raw.aareg_employment"}
    # The monthly cycle: the 10th at 06:00 in Oslo time, whatever the season.
    cron = build.timetable.timetable
    assert cron.expression == "0 6 10 * *" and str(getattr(cron.timezone, "name", cron.timezone)) == "Europe/Oslo"


def test_monthly_cycle_setting(monkeypatch):
    build = parse(monkeypatch, WORKHEALTH_MONTHLY_CYCLE="0 7 12 * *")["build_marts"]
    assert build.timetable.timetable.expression == "0 7 12 * *"


def test_deliveries_go_before_builds_in_the_pool(dags):
    # dbt_build's weight is 1 + its downstream tasks (weight rule "downstream"); a waiting
    # delivery's is an absolute 10, so the one pool slot goes to deliveries first.
    load = dags["ingest_deliveries"].get_task("load_delivery")
    build = dags["build_marts"].get_task("dbt_build")
    assert str(load.weight_rule).lower().endswith("absolute") and load.priority_weight == 10
    assert build.priority_weight + len(build.get_flat_relatives(upstream=False)) < load.priority_weight
