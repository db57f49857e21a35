"""Artefacts built once per test run and shared by every pytest-xdist worker.

A session fixture runs once per xdist worker; a generated and dbt-built warehouse costs tens
of seconds, so the expensive ones go through :func:`build_once`: the first worker that asks
builds it in a folder shared by all workers (the pytest-xdist recipe, "Making session-scoped
fixtures execute only once"), the others wait for the lock and reuse it. Tests treat these
folders as read-only and copy what they change.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

#: ``WORKHEALTH_TESTS=thorough``: the randomised tests draw many more cases (property examples,
#: random warehouses) than ``make test``, which must fit CI's time on a 2-core machine. Run it
#: before a release and after changing disclosure control or the mart definitions (README).
THOROUGH = os.environ.get("WORKHEALTH_TESTS") == "thorough"


def shared_root(tmp_path_factory) -> Path:
    """The folder every xdist worker of this run sees (the session's basetemp without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(tmp_path_factory, name: str, build: Callable[[Path], Any]) -> Any:
    """``build(folder)`` once per test run, whichever worker asks first; later callers (in any
    worker) wait on the lock and get the same result back (pickled, so keep it plain data).

    fcntl, not the filelock package: it is not among the project's dependencies.
    """
    root = shared_root(tmp_path_factory)
    folder, result_file = root / name, root / f"{name}.pickle"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if result_file.exists():
                return pickle.loads(result_file.read_bytes())
            if folder.exists():  # an earlier attempt failed half-way
                shutil.rmtree(folder)
            folder.mkdir()
            result = build(folder)
            result_file.write_bytes(pickle.dumps(result))
            return result
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass
class CliRun:
    """One ``workhealth run`` as the user saw it (exit code, output) plus the RunReport behind it."""

    settings: Any
    exit_code: int
    output: str
    report: Any  # workhealth.pipeline.RunReport
    #: the delivery folders that were in the inbox before the run
    delivered: tuple[str, ...] = ()


def cli_run(s, *args: str) -> CliRun:
    """``workhealth run`` in-process on the folders of ``s``, keeping the report pipeline.run returned."""
    from click.testing import CliRunner

    from workhealth import pipeline
    from workhealth.cli import main

    delivered = tuple(sorted(p.name for p in s.inbox.iterdir())) if s.inbox.is_dir() else ()
    reports = []
    real = pipeline.run

    def recording(settings):
        reports.append(real(settings))
        return reports[-1]

    env = {"WORKHEALTH_ARCHIVE": str(s.archive), "WORKHEALTH_REJECTED": str(s.rejected),
           "WORKHEALTH_RESTRICTED": str(s.restricted)}
    with mock.patch.object(pipeline, "run", recording):
        result = CliRunner(env=env).invoke(main, ["run", "--inbox", str(s.inbox), "--warehouse", str(s.warehouse),
                                                  "--out", str(s.out), *args])
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += "".join(traceback.format_exception(*result.exc_info))
    return CliRun(s, result.exit_code, output, reports[0] if reports else None, delivered)


def settings_for(root: Path, warehouse: Path | None = None):
    """Settings whose every path is under ``root`` (the warehouse may be a shared one, read-only),
    with a test-sized DuckDB (2 GB, 2 threads)."""
    import dataclasses

    from workhealth.core import settings

    return dataclasses.replace(
        settings.load(), data_dir=root, inbox=root / "inbox", warehouse=warehouse or root / "warehouse" / "wh.duckdb",
        out=root / "out", archive=root / "archive", rejected=root / "rejected", restricted=root / "restricted",
        duckdb_memory_limit="2GB", duckdb_threads=2)


def settings_under(s, root: Path):
    """``s`` with every data folder moved from the run's folder to ``root`` (same layout)."""
    import dataclasses

    old = s.inbox.parent
    return dataclasses.replace(s, **{name: root / getattr(s, name).relative_to(old) for name in (
        "inbox", "warehouse", "out", "archive", "rejected", "restricted")})


def copy_run(root: Path, target: Path) -> Path:
    """A private copy of a shared run's folders (warehouse, archive, out; symlinks kept), inbox empty."""
    for sub in ("warehouse", "archive", "out"):
        if (root / sub).exists():
            shutil.copytree(root / sub, target / sub, symlinks=True, ignore=shutil.ignore_patterns("*.tmp"))
    (target / "inbox").mkdir(parents=True, exist_ok=True)
    return target
