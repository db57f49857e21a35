"""Adversarial: another process holds the warehouse. Every command says so in one line and exits
with its own code (6), without a traceback, and changes nothing: deliveries stay in the inbox."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from click.testing import CliRunner

from workhealth.cli import main
from workhealth.core.errors import EXIT_WAREHOUSE_BUSY

BUSY = "warehouse busy (held by another process): try again"


@pytest.fixture
def held(workhealth_env):
    """A tiny generated inbox, and another process holding the warehouse read-write."""
    from workhealth.generate import generate

    s = workhealth_env
    generate(s.inbox, start="2018-01", end="2018-01", scale=0.0005, seed=3)
    s.warehouse.parent.mkdir(parents=True)
    code = "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('locked', flush=True); sys.stdin.read()"
    proc = subprocess.Popen([sys.executable, "-c", code, str(s.warehouse)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield s
    proc.stdin.close()
    proc.wait(timeout=30)


@pytest.mark.parametrize("command", [["ingest"], ["run"], ["deliveries"], ["sql", "--snapshot", "SELECT 1"]],
                         ids=lambda c: " ".join(c[:2]))
def test_every_command_says_busy_and_exits_6(held, command):
    waiting = sorted(p.name for p in held.inbox.iterdir())
    result = CliRunner().invoke(main, command)
    assert result.exit_code == EXIT_WAREHOUSE_BUSY, result.output
    assert BUSY in result.stderr and "Traceback" not in result.output
    # nothing moved: the next run takes them (.claims: ingestion's per-delivery lock files)
    assert sorted(p.name for p in held.inbox.iterdir() if p.name != ".claims") == waiting
    assert not held.archive.exists() or not any(held.archive.iterdir())


def test_a_dbt_build_on_a_held_warehouse_is_busy_not_a_failed_build(held, tmp_path):
    """dbt's own lock error is not read as failing models (exit 4): it is the same WarehouseBusy."""
    from workhealth import transform
    from workhealth.core.errors import WarehouseBusy

    with pytest.raises(WarehouseBusy, match="try again"):
        transform.build(dataclasses.replace(held, out=tmp_path / "out"))
