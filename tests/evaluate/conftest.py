"""The generated warehouse of the evaluation's slow tests, built once per test run.

Scale 0.05 over 2016-01..2019-12 with the generator's truth beside the inbox (truth.json in the
root): 36 index months with full history, enough treated entries for every intervention that
balance means something and the planted effects can be recovered (test_evaluation_warehouse.py).
Generate, ingest, dbt build of what the evaluation reads (int_evaluation_candidates and its
upstream, with their tests; the other marts are tested elsewhere), then workhealth.evaluate.
Shared read-only by the tests; copy it to change anything.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from shared_fixtures import settings_for

START, END, SCALE, SEED = "2016-01", "2019-12", 0.05, 20240101


@pytest.fixture(scope="session")
def evaluated_warehouse(tmp_path_factory):
    """(settings, EvaluationResult as a dict) of the evaluated warehouse; the generator's truth
    is ``settings.data_dir / "truth.json"``."""
    from shared_fixtures import build_once

    def build(root: Path):
        from workhealth.evaluate import evaluate
        from workhealth.transform.dbt import BUILD_EXCLUDES, dbt
        from workhealth.generate import generate
        from workhealth.ingest.load import ingest_inbox

        s = settings_for(root)
        generate(s.inbox, start=START, end=END, scale=SCALE, seed=SEED, truth=root / "truth.json")
        results = ingest_inbox(s)
        # the truth assumes every delivery is accepted (docs/synthetic_data.md)
        assert all(r.status == "accepted" for r in results), [r.to_dict() for r in results if r.status != "accepted"]
        # cautious: a relationship test to a mart the evaluation does not read stays out
        build = dbt(["build", *BUILD_EXCLUDES, "--select", "+int_evaluation_candidates", "--indirect-selection",
                     "cautious"], s)
        assert build.ok, build.summary()
        result = evaluate(s)
        return s, dataclasses.asdict(result)

    return build_once(tmp_path_factory, "evaluation-warehouse", build)
