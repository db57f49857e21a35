"""The evaluation stage (docs/evaluation.md): after the dbt build and the quality gate, before
publishing. It matches each treated entry of ``intermediate.int_evaluation_candidates`` to up to
five comparison persons and estimates the effect of each intervention on the treated, per
subgroup. ``methods`` holds the numerical parts, ``stage`` the warehouse I/O."""

from workhealth.evaluate.stage import EvaluationError, EvaluationResult, evaluate

__all__ = ["EvaluationError", "EvaluationResult", "evaluate"]
