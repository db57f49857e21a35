"""Task body of the evaluation (docs/evaluation.md): after the quality gate, before publishing."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException

from workhealth_airflow.assets import EVALUATION_ASSET


def evaluate(quality_result: dict, context) -> dict:
    """Match and estimate every intervention into the warehouse (workhealth.evaluate).

    A failed step is deterministic (the same data fail the same way): fail without retries,
    naming the intervention and the step; publish then does not run. Anything else (the
    warehouse held by another process, memory) is retried like every infrastructure error.
    The index months of the years the gate withholds (``quality_result``) are left out.
    """
    from workhealth.core import settings
    from workhealth.evaluate import EvaluationError
    from workhealth.evaluate import evaluate as run_evaluation
    from workhealth.pipeline import evaluation_failure

    try:
        result = run_evaluation(settings.load(), withheld_years=quality_result.get("withheld") or {})
    except EvaluationError as exc:
        intervention, step, detail = evaluation_failure(exc)
        raise AirflowFailException(f"evaluation failed: intervention {intervention}, step {step}: {detail} "
                                   "(nothing published)") from exc
    for i in result.interventions:
        print(f"{i.intervention}: {i.n_matched} of {i.n_treated} treated entries matched "
              f"({i.n_unmatched} unmatched; pool {i.n_pool}; {i.seconds:.1f} s)")
    rows = {table: int(n) for table, n in result.rows.items()}
    context["outlet_events"][EVALUATION_ASSET].extra = {"rows": rows}
    return {"rows": rows, "seconds": round(result.seconds, 1),
            "treated": {i.intervention: i.n_treated for i in result.interventions}}
