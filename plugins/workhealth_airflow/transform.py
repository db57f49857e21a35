"""Task body of the marts build: dbt in a subprocess, failures named by model or test."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException


def dbt_build() -> dict:
    from workhealth import transform
    from workhealth.core import settings

    result = transform.build(settings.load())
    print(result.summary())  # the task log shows every failing node with its message
    if not result.ok:
        # A failing dbt test is a data problem: fail visibly with the node names, no retries.
        if result.failed:
            raise AirflowFailException(result.summary())
        raise RuntimeError(result.summary())  # dbt itself broke (lock, crash): retried
    return {"nodes": len(result.nodes), "seconds": round(sum(n.seconds for n in result.nodes), 1)}
