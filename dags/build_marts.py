"""Build the curated marts with dbt once new register data is in the warehouse.

Scheduled on the raw register assets (any of them): every accepted delivery or correction
triggers a rebuild. Runs one ``dbt build`` (seeds, staging, intermediate, marts and all dbt
tests) in a subprocess, inside the one-slot ``duckdb_warehouse`` pool.

Triage notes:
- Failed *without retries* with ``FAIL test...`` or ``ERROR model...`` lines: a dbt test or model
  failed on the data. The log names every failing node and its message; models downstream of it
  were skipped, so the marts are those of the previous good build for those models. Inspect with
  ``workhealth airflow tasks logs`` or the UI, fix the data (a corrected delivery) or the model,
  then clear the task.
- Failed *after retries*: dbt could not run (warehouse locked by another process, out of memory
  or disk). Fix the cause and clear the task; the build is idempotent.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from workhealth_airflow import transform
from workhealth_airflow.assets import RAW_ASSETS
from workhealth_airflow.defaults import DEFAULT_ARGS, START_DATE, WAREHOUSE_POOL


def _any_raw_asset():
    expression = None
    for asset in RAW_ASSETS.values():
        expression = asset if expression is None else expression | asset
    return expression


@dag(
    schedule=_any_raw_asset(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["workhealth", "dbt"],
    doc_md=__doc__,
)
def build_marts():
    @task(pool=WAREHOUSE_POOL)
    def dbt_build() -> dict:
        return transform.dbt_build()

    dbt_build()


build_marts()
