"""Ingest register deliveries from the inbox into the DuckDB warehouse.

Every 15 minutes: find delivery folders whose ``manifest.json`` has arrived and ingest each in
its own mapped task (``load_delivery``, map index = delivery folder name). All of them run in
the one-slot ``duckdb_warehouse`` pool, since DuckDB allows one writer. An accepted delivery
emits an event on its register's asset (``raw.<register>``); downstream DAGs are scheduled on
those assets.

Triage notes:
- ``load_delivery`` failed *without retries*: the delivery was refused (bad manifest, checksum,
  row count, columns, too many bad rows, or a national identity number). The error names the
  delivery, file and rule. The files are kept under the rejected area (or the restricted area for
  identity numbers) with a REJECTED.txt. Ask the sender for a corrected delivery (a higher
  version); nothing needs cleaning up. ``workhealth deliveries`` lists every status and reason.
- ``load_delivery`` failed *after retries*: infrastructure (warehouse file locked by another
  process, disk full). Fix the cause and clear the task; ingestion is idempotent.
- A folder that never gets picked up has no ``manifest.json`` yet (status ``waiting``).
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from workhealth_airflow import ingestion
from workhealth_airflow.assets import RAW_REGISTERS_ALIAS
from workhealth_airflow.defaults import DEFAULT_ARGS, START_DATE, WAREHOUSE_POOL


@dag(
    schedule="*/15 * * * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["workhealth", "ingestion"],
    doc_md=__doc__,
)
def ingest_deliveries():
    @task
    def find_ready_deliveries() -> list[str]:
        return ingestion.ready_deliveries()

    @task(pool=WAREHOUSE_POOL, outlets=[RAW_REGISTERS_ALIAS], map_index_template="{{ delivery_name }}")
    def load_delivery(folder: str) -> dict:
        return ingestion.load_delivery(folder, get_current_context())

    load_delivery.expand(folder=find_ready_deliveries())


ingest_deliveries()
