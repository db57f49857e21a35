"""Build the curated marts with dbt, validate them and publish, once new register data is in.

Scheduled on the raw register assets (any of them: every accepted delivery or correction
triggers a rebuild) or the monthly cycle (``WORKHEALTH_MONTHLY_CYCLE``). Runs one ``dbt build``
(seeds, staging, intermediate, marts and all dbt tests) in a subprocess, then the quality gate,
then the evaluation (what works for whom, docs/evaluation.md), then publishing, each inside the
one-slot ``duckdb_warehouse`` pool.

Triage notes:
- Failed *without retries* with ``FAIL test...`` or ``ERROR model...`` lines: a dbt test or model
  failed on the data. The log names every failing node and its message; models downstream of it
  were skipped, so the marts are those of the previous good build for those models. Inspect with
  ``workhealth airflow tasks logs`` or the UI, fix the data (a corrected delivery) or the model,
  then clear the task.
- Failed *after retries*: dbt could not run (warehouse locked by another process, out of memory
  or disk). Fix the cause and clear the task; the build is idempotent.
- ``validate`` failed *without retries* with ``publication withheld``: a warehouse-wide critical
  check failed (a mart key not unique, a person-month without exactly one state); the message
  names the expectation, the period and the observed value, and
  ``<WORKHEALTH_OUT>/quality/index.html`` shows sample rows. Nothing is published (the newest
  release stays ``latest``). Ask the register for a corrected delivery, or (if the threshold is
  wrong) change ``expectations/thresholds.yml`` through review; then clear the task.
- ``evaluate`` failed *without retries* with ``evaluation failed: intervention <name>, step
  <step>: ...``: a step of the evaluation (select, propensity, matching, cohort, estimates,
  read, write) failed on the data for that intervention; nothing is published (the newest
  release stays ``latest``) and the evaluation tables stay those of the previous good run.
  The message and the log name the cause (e.g. no treated entry or no comparison person);
  fix the data or the definitions (dbt vars ``evaluation_*``) through review, then clear the
  task. Failed *after retries*: the warehouse was held by another process or memory ran out;
  fix the cause and clear the task (the evaluation is deterministic and idempotent).
- ``withheld_years`` failed *without retries*: the release was published (``publish`` green,
  asset event sent), but a critical finding of a period withheld its year: that year's rows are
  published empty with flag ``withheld``. The message names each year with the check, period,
  observed value and threshold. Ask the register for a corrected delivery of that period (the
  next run publishes the year); nothing to clear. Months after the data horizon never withhold.
- ``publish`` *skipped*: nothing changed since the latest release (same deliveries, definitions
  and code lists): no new release, no asset event; normal. ``publish`` *failed*: the message
  names the cause (disk, a release folder that already exists); no half release is left
  (releases are renamed into place whole), ``latest`` still points to the previous one. Fix and
  clear the task. Releases: ``<WORKHEALTH_OUT>/releases/`` (public), their marts and data
  dictionary ``<WORKHEALTH_OUT>/internal/`` (owner and group only), report
  ``<WORKHEALTH_OUT>/report/``.
"""

from __future__ import annotations

from airflow.sdk import TriggerRule, dag, task

from workhealth_airflow import evaluation, quality, transform
from workhealth_airflow import publish as publishing
from workhealth_airflow.assets import EVALUATION_ASSET, RAW_ASSETS, RELEASE_ASSET
from workhealth_airflow.defaults import DEFAULT_ARGS, WAREHOUSE_POOL, monthly_or_assets


def _any_raw_asset():
    expression = None
    for asset in RAW_ASSETS.values():
        expression = asset if expression is None else expression | asset
    return expression


@dag(
    schedule=monthly_or_assets(_any_raw_asset()),
    # No start_date: a first start waits for the next monthly cycle instead of running the last
    # one at once (docs/operations.md); backfills name their own dates.
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

    @task(pool=WAREHOUSE_POOL)
    def validate() -> dict:
        return quality.validate()

    # Past the gate only: evaluating marts that the gate withholds would be wasted work.
    @task(pool=WAREHOUSE_POOL, outlets=[EVALUATION_ASSET])
    def evaluate(quality_result: dict, **context) -> dict:
        return evaluation.evaluate(quality_result, context)

    # Runs only after validate and evaluate succeeded, i.e. no warehouse-wide critical finding
    # (its result is the input: the years it withholds are published empty, flag withheld) and
    # the effects are in the warehouse.
    @task(pool=WAREHOUSE_POOL, outlets=[RELEASE_ASSET])
    def publish(quality_result: dict, **context) -> dict:
        return publishing.publish(quality_result, context)

    # Red while the release has withheld years (after publish, also when it was skipped as unchanged);
    # AirflowFailException: no retries.
    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def withheld_years(quality_result: dict) -> None:
        quality.check_withheld(quality_result)

    checked = validate()
    published = publish(checked)
    dbt_build() >> checked >> evaluate(checked) >> published
    published >> withheld_years(checked)


build_marts()
