"""Synthetic register deliveries (docs/ingestion.md) for development, tests and benchmarks.

    from workhealth.generate import generate, DEFECTS
    summary = generate(inbox, start="2016-01", end="2019-12", scale=0.01, seed=20240101)

See docs/synthetic_data.md for the model, the volumes per scale and the defects.
"""

from workhealth.generate.core import DEFECTS, FORMATS, generate

__all__ = ["DEFECTS", "FORMATS", "generate"]
