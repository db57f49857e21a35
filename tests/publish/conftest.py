"""A small real warehouse for the publishing tests, built once per test session.

Generated (scale 0.003, 2017-01..2018-06: both eras), ingested, built with dbt and evaluated
(workhealth.evaluate: the effects a release publishes), in a session tmp folder. Tests that publish get their own ``OUT`` folder via :func:`settings_for`;
tests that change the warehouse (a correction) copy it first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from shared_fixtures import settings_for

START, END, SCALE, SEED = "2017-01", "2018-06", 0.003, 5


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory) -> Path:
    """Root folder of a generated, ingested and dbt-built warehouse (treat as read-only); built
    once per test run and shared by the xdist workers (shared_fixtures.build_once)."""
    from shared_fixtures import build_once

    def build(root: Path) -> Path:
        from workhealth import transform
        from workhealth.evaluate import evaluate
        from workhealth.ingest.load import ingest_inbox
        from workhealth.generate import generate

        s = settings_for(root)
        generate(s.inbox, start=START, end=END, scale=SCALE, seed=SEED)
        results = ingest_inbox(s)
        assert all(r.status == "accepted" for r in results), [r.to_dict() for r in results if r.status != "accepted"]
        build = transform.build(s)
        assert build.ok, build.summary()
        evaluate(s)
        return root

    return build_once(tmp_path_factory, "publish-warehouse", build)


@pytest.fixture
def own_warehouse(built_warehouse, tmp_path) -> Path:
    """A private copy of the built warehouse and its archive, for tests that change it."""
    root = tmp_path / "wh"
    for sub in ("warehouse", "archive"):
        shutil.copytree(built_warehouse / sub, root / sub, ignore=shutil.ignore_patterns("*.tmp"))
    (root / "inbox").mkdir()
    return root


@pytest.fixture
def quality_ok() -> dict:
    """A quality result as workhealth.quality.validate(...).to_dict() gives it (an input, not a mock)."""
    return {"run_id": "test", "publishable": True, "findings": [],
            "periods": {"2018-05": "passed", "2018-06": "warning"}}
