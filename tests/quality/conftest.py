"""Session fixtures of the quality-gate tests: generated inboxes through the real pipeline.

See quality_cycles.py for the three cycles and why mart-level defects are injected into a copy.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from unittest import mock

import pytest
from quality_cycles import _generate, cycle_settings


def _pipeline_run(tmp_path_factory, name: str, defects: tuple[str, ...] = ()):
    """``pipeline.run`` on a generated inbox (with ``defects``); returns (settings, report)."""
    from workhealth import pipeline

    s = cycle_settings(tmp_path_factory.mktemp(name))
    _generate(s, defects)
    report = pipeline.run(s)
    assert report.build["ok"], report.build["summary"]
    return s, report


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory):
    return _pipeline_run(tmp_path_factory, "clean")


@pytest.fixture(scope="session")
def uncoded_run(tmp_path_factory):
    return _pipeline_run(tmp_path_factory, "uncoded", ("uncoded_work_units",))


@pytest.fixture(scope="session")
def outage_run(tmp_path_factory):
    """``workhealth run`` on the outage inbox; returns (settings, click result)."""
    from click.testing import CliRunner

    from workhealth.cli import main

    s = cycle_settings(tmp_path_factory.mktemp("outage"))
    _generate(s, ["diagnosis_outage"])
    env = {"WORKHEALTH_ARCHIVE": str(s.archive), "WORKHEALTH_REJECTED": str(s.rejected),
           "WORKHEALTH_RESTRICTED": str(s.restricted)}
    with mock.patch.dict(os.environ, env):
        result = CliRunner().invoke(main, ["run", "--inbox", str(s.inbox), "--warehouse", str(s.warehouse),
                                           "--out", str(s.out)])
    return s, result


@pytest.fixture
def warehouse_copy(clean_run, tmp_path):
    """A copy of the clean built warehouse and settings pointing at it (OUT under tmp_path)."""
    s, _ = clean_run
    target = tmp_path / "wh.duckdb"
    shutil.copyfile(s.warehouse, target)
    return dataclasses.replace(s, warehouse=target, out=tmp_path / "out")


