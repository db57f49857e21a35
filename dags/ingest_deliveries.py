"""Ingest register deliveries from the inbox into the DuckDB warehouse.

Polls the inbox on the cron ``WORKHEALTH_INBOX_POLL`` (every 15 minutes by default, every
minute under ``make up``; docs/operations.md): finds delivery folders whose ``manifest.json``
has arrived and ingests each in its own mapped task (``load_delivery``, map index = delivery folder name). All of them run in
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

from datetime import timedelta

from airflow.sdk import dag, get_current_context, task

from workhealth.core import settings

from workhealth_airflow import ingestion
from workhealth_airflow.assets import RAW_REGISTERS_ALIAS
from workhealth_airflow.defaults import DEFAULT_ARGS, START_DATE, WAREHOUSE_POOL


@dag(
    # A poll, not a calendar: no catchup (one run finds every waiting delivery).
    schedule=settings.load().inbox_poll,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["workhealth", "ingestion"],
    doc_md=__doc__,
)
def ingest_deliveries():
    @task(execution_timeout=timedelta(minutes=5))
    def find_ready_deliveries() -> list[str]:
        return ingestion.ready_deliveries()

    # Waiting deliveries go before a queued dbt build in the pool (higher priority), so a backlog
    # is loaded first and built once instead of once per delivery.
    @task(pool=WAREHOUSE_POOL, outlets=[RAW_REGISTERS_ALIAS], map_index_template="{{ delivery_name }}",
          priority_weight=10, weight_rule="absolute")
    def load_delivery(folder: str) -> dict:
        print(f"delivery {ingestion.delivery_label(folder)}: ingesting")  # the log names the delivery
        return ingestion.load_delivery(folder, get_current_context())

    load_delivery.expand(folder=find_ready_deliveries())


ingest_deliveries()
