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


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite) for this test process, with the pool."""
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True)
    from workhealth.core.settings import WAREHOUSE_POOL

    subprocess.run([airflow, "pools", "set", WAREHOUSE_POOL, "1", "warehouse writer"], check=True,
                   capture_output=True)
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
