"""A generated warehouse for the evaluation's slow tests, built once per test run.

Scale 0.01 over 2016-01..2018-12: 24 index months with full history, enough treated entries
for the courses and NAV measures that balance means something (generate, ingest, dbt build,
then workhealth.evaluate). Shared read-only by the tests; copy it to change anything.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

START, END, SCALE, SEED = "2016-01", "2018-12", 0.01, 11


def settings_for(root: Path):
    from workhealth.core import settings

    return dataclasses.replace(
        settings.load(), data_dir=root, inbox=root / "inbox", warehouse=root / "warehouse" / "wh.duckdb",
        out=root / "out", archive=root / "archive", rejected=root / "rejected", restricted=root / "restricted",
        duckdb_memory_limit="2GB", duckdb_threads=2)


@pytest.fixture(scope="session")
def evaluated_warehouse(tmp_path_factory):
    """(settings, EvaluationResult as a dict) of the evaluated warehouse."""
    from shared_fixtures import build_once

    def build(root: Path):
        from workhealth import transform
        from workhealth.evaluate import evaluate
        from workhealth.generate import generate
        from workhealth.ingest.load import ingest_inbox

        s = settings_for(root)
        generate(s.inbox, start=START, end=END, scale=SCALE, seed=SEED)
        results = ingest_inbox(s)
        assert all(r.status == "accepted" for r in results), [r.to_dict() for r in results if r.status != "accepted"]
        build = transform.build(s)
        assert build.ok, build.summary()
        result = evaluate(s)
        return s, dataclasses.asdict(result)

    return build_once(tmp_path_factory, "evaluation-warehouse", build)
