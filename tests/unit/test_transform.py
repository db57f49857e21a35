"""workhealth.transform: how a dbt run is read back."""

from __future__ import annotations

import dataclasses
import json


def test_a_dbt_crash_is_not_read_as_the_previous_builds_failures(tmp_path):
    """dbt dies before writing run_results.json: a stale file from an earlier build must not be read."""
    from workhealth import transform
    from workhealth.core import settings

    s = dataclasses.replace(settings.load(), out=tmp_path / "out", warehouse=tmp_path / "wh.duckdb",
                            dbt_project_dir=tmp_path / "no_project")  # no dbt_project.yml: dbt exits at once
    s.dbt_project_dir.mkdir()
    stale = s.out / "dbt" / "target" / "run_results.json"
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"results": [{"unique_id": "test.workhealth.old", "status": "fail",
                                              "message": "from an earlier build", "failures": 3,
                                              "execution_time": 1.0}]}))
    result = transform.dbt(["build"], s)
    assert result.returncode != 0
    assert result.nodes == [] and result.failed == []  # "dbt itself broke": retried, not a failing test
    assert not result.ok
    assert "earlier build" not in result.summary()
