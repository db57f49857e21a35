"""Task body of the quality gate: validate the marts, fail the run when publication is withheld."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException


def validate() -> dict:
    from workhealth.core import settings
    from workhealth.quality import validate as run_validation

    result = run_validation(settings.load())
    print(result.summary())
    for finding in result.warnings:  # warnings never stop publication; the log and the report show them
        print(f"WARNING {finding.message}")
    if not result.publishable:
        # Bad data is not fixed by retrying: fail without retries, naming expectation, period and value.
        raise AirflowFailException(result.withheld_reason())
    return result.to_dict()
