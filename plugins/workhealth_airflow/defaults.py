"""Default task arguments shared by every workhealth DAG."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

from workhealth.core import settings
from workhealth.core.settings import WAREHOUSE_POOL
from workhealth_airflow.callbacks import on_failure

START_DATE = pendulum.datetime(2026, 1, 1, tz="Europe/Oslo")

DEFAULT_ARGS = {
    "owner": "workhealth",
    # Infrastructure hiccups (a held DuckDB lock, a full disk being cleaned) are retried with
    # back-off; bad data is not retried: those tasks raise AirflowFailException.
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
    # A task that hangs (a stuck lock wait, a runaway query) is killed and retried; the longest
    # task, dbt build of two national years, took under 5 minutes on 2 cores.
    "execution_timeout": timedelta(hours=2),
    # Webhook and/or e-mail alert when a task fails for good (off unless configured: callbacks.py).
    "on_failure_callback": on_failure,
}


def monthly_or_assets(assets) -> AssetOrTimeSchedule:
    """The marts' schedule: whenever ``assets`` get new data, and once a month regardless.

    The monthly cycle (cron ``WORKHEALTH_MONTHLY_CYCLE``, default the 10th at 06:00 Oslo time)
    makes sure a quality report and release are attempted every reporting month even when no
    delivery arrived; it is also what ``airflow backfill create`` walks. No catchup: every run
    rebuilds the whole history, so the runs a catchup would create for missed months are
    identical full rebuilds (docs/operations.md).
    """
    cron = CronTriggerTimetable(settings.load().monthly_cycle, timezone=START_DATE.timezone)
    return AssetOrTimeSchedule(timetable=cron, assets=assets)


__all__ = ["DEFAULT_ARGS", "START_DATE", "WAREHOUSE_POOL", "monthly_or_assets"]
