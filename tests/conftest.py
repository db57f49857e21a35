"""Test session set-up: an isolated Airflow home and data folder per test process.

Airflow reads its configuration when first imported, so the environment is prepared here,
at collection, before any test module imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from shared_fixtures import THOROUGH, CliRun, build_once, cli_run, settings_for

REPO = Path(__file__).resolve().parents[1]
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="workhealth-tests-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(_SESSION_DIR / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_SESSION_DIR / 'airflow' / 'airflow.db'}",
        "WORKHEALTH_DATA_DIR": str(_SESSION_DIR / "data"),
    }
)
for _name in ("WORKHEALTH_INBOX", "WORKHEALTH_WAREHOUSE", "WORKHEALTH_OUT", "WORKHEALTH_ARCHIVE",
              "WORKHEALTH_REJECTED", "WORKHEALTH_RESTRICTED"):
    os.environ.pop(_name, None)


# Property tests that take max_examples from the profile (tests/publish/test_disclosure_properties.py):
# a few examples in `make test`, 15 times as many with WORKHEALTH_TESTS=thorough (shared_fixtures).
hypothesis_settings.register_profile("workhealth", max_examples=8)
hypothesis_settings.register_profile("thorough", max_examples=120)
hypothesis_settings.load_profile("thorough" if THOROUGH else "workhealth")

#: The longest files (minutes each): started first, so no worker is left alone with one at the end.
_LONGEST = ("tests/integration/test_real_scheduler.py", "tests/quality/test_quality_gate.py",
            "tests/integration/test_make_up.py")


def pytest_collection_modifyitems(config, items):
    """Files with slow tests before the rest, the longest first (a stable sort: the order within
    a file is kept). With ``-n 2 --dist loadfile`` this is what keeps both workers busy."""
    rank: dict[str, int] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        here = 0 if path in _LONGEST else 1 if item.get_closest_marker("slow") else 2
        rank[path] = min(rank.get(path, 2), here)
    items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])


@pytest.fixture(scope="session")
def migrated_airflow_sqlite(tmp_path_factory) -> Path:
    """An Airflow metadata database (SQLite) migrated once per test run, with the warehouse pool:
    copy it (a migration costs most of a minute on a 2-core machine)."""
    def build(root: Path) -> str:
        from workhealth.core.settings import WAREHOUSE_POOL

        root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "AIRFLOW_HOME": str(root),
               "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{root / 'airflow.db'}"}
        airflow = str(Path(sys.executable).with_name("airflow"))
        subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True, env=env)
        subprocess.run([airflow, "pools", "set", WAREHOUSE_POOL, "1", "warehouse writer"], check=True,
                       capture_output=True, env=env)
        return str(root / "airflow.db")

    return Path(build_once(tmp_path_factory, "airflow-sqlite", build))


@pytest.fixture(scope="session")
def airflow_db(migrated_airflow_sqlite) -> Path:
    """A migrated Airflow metadata database (SQLite) for this test process, with the pool."""
    import shutil

    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_airflow_sqlite, home / "airflow.db")
    return home


@pytest.fixture
def workhealth_env(tmp_path, monkeypatch):
    """Point every workhealth path setting at a fresh folder under tmp_path; returns Settings."""
    from workhealth.core import settings

    for name, sub in (("WORKHEALTH_INBOX", "inbox"), ("WORKHEALTH_WAREHOUSE", "warehouse/wh.duckdb"),
                      ("WORKHEALTH_OUT", "out"), ("WORKHEALTH_ARCHIVE", "archive"),
                      ("WORKHEALTH_REJECTED", "rejected"), ("WORKHEALTH_RESTRICTED", "restricted")):
        monkeypatch.setenv(name, str(tmp_path / sub))
    return settings.load()


def _quality_cycles():
    """tests/quality/quality_cycles.py (the three generated cycles), importable from any folder."""
    import importlib.util

    if "quality_cycles" not in sys.modules:
        spec = importlib.util.spec_from_file_location("quality_cycles", REPO / "tests" / "quality" / "quality_cycles.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["quality_cycles"] = module
    return sys.modules["quality_cycles"]


def _cycle(tmp_path_factory, name: str, defects: tuple[str, ...] = (), *args: str) -> CliRun:
    """``workhealth run [args]`` on a generated quality-cycle inbox (with ``defects``), once per test run."""
    def build(root: Path):
        cycles = _quality_cycles()
        s = settings_for(root)
        cycles._generate(s, defects)
        run = cli_run(s, *args)
        return run.settings, run.exit_code, run.output, run.report, run.delivered

    return CliRun(*build_once(tmp_path_factory, f"cycle-{name}", build))


@pytest.fixture(scope="session")
def clean_cli_run(tmp_path_factory) -> CliRun:
    """The clean cycle (generator defaults) through ``workhealth run``: exit code, output, report.

    Shared read-only by the quality, CLI, publishing and ``workhealth sql`` tests; copy it
    (shared_fixtures.copy_run) to change anything.
    """
    run = _cycle(tmp_path_factory, "clean")
    assert run.report is not None and run.report.build["ok"], run.output
    return run


@pytest.fixture(scope="session")
def clean_run(clean_cli_run):
    """(settings, RunReport) of the clean cycle."""
    return clean_cli_run.settings, clean_cli_run.report


@pytest.fixture(scope="session")
def uncoded_cli_run(tmp_path_factory) -> CliRun:
    """The ``uncoded_work_units`` cycle through ``workhealth run --json`` (its output is the JSON report)."""
    run = _cycle(tmp_path_factory, "uncoded", ("uncoded_work_units",), "--json")
    assert run.report is not None and run.report.build["ok"], run.output
    return run


@pytest.fixture(scope="session")
def uncoded_run(uncoded_cli_run):
    """(settings, RunReport) of the ``uncoded_work_units`` cycle."""
    return uncoded_cli_run.settings, uncoded_cli_run.report


@pytest.fixture(scope="session")
def outage_run(tmp_path_factory):
    """(settings, CliRun) of the ``diagnosis_outage`` cycle: ``.exit_code``, ``.output``, ``.report``."""
    run = _cycle(tmp_path_factory, "outage", ("diagnosis_outage",))
    return run.settings, run


#: Debian's Chromium, which `make test` installs; playwright never downloads a browser here.
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser_page():
    """A page in headless Chromium and the list of console errors and uncaught exceptions it logs."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page, errors
        finally:
            browser.close()
