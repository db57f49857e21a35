"""Default task arguments shared by every workhealth DAG."""

from __future__ import annotations

from datetime import timedelta

import pendulum

from workhealth.settings import WAREHOUSE_POOL

START_DATE = pendulum.datetime(2026, 1, 1, tz="Europe/Oslo")

DEFAULT_ARGS = {
    "owner": "workhealth",
    # Infrastructure hiccups (a held DuckDB lock, a full disk being cleaned) are retried with
    # back-off; bad data is not retried: those tasks raise AirflowFailException.
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(hours=2),
}

__all__ = ["DEFAULT_ARGS", "START_DATE", "WAREHOUSE_POOL"]
