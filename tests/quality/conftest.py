"""Fixtures of the quality-gate tests.

The three cycles (``clean_run``, ``uncoded_run``, ``outage_run``: generated inboxes through
``workhealth run``) are session fixtures in tests/conftest.py, built once per test run and
shared with other folders. See quality_cycles.py for the cycles and why mart-level defects are
injected into a copy (``warehouse_copy``).
"""

from __future__ import annotations

import dataclasses
import shutil

import pytest


@pytest.fixture
def warehouse_copy(clean_run, tmp_path):
    """A copy of the clean built warehouse and settings pointing at it (OUT under tmp_path)."""
    s, _ = clean_run
    target = tmp_path / "wh.duckdb"
    shutil.copyfile(s.warehouse, target)
    copy = dataclasses.replace(s, warehouse=target, out=tmp_path / "out")
    # the build's compiled quality models, to rebuild the frames after an injection (quality_cycles)
    compiled = ("dbt", "target", "compiled", "workhealth", "models", "quality")
    shutil.copytree(s.out.joinpath(*compiled), copy.out.joinpath(*compiled))
    return copy


