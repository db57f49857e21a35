"""The quality gate: Great Expectations over the warehouse, gating publication (docs/quality.md).

    from workhealth.quality import validate
    result = validate(settings)          # reads the warehouse read-only
    result.publishable, result.withheld, result.periods, result.findings, result.withheld_reason(), result.to_dict()
"""

from workhealth.quality.validate import Finding, QualityResult, validate

__all__ = ["Finding", "QualityResult", "validate"]
