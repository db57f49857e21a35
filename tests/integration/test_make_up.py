"""``workhealth up`` / ``down`` (``make up`` / ``make down``): Airflow standalone on SQLite in the
background, healthy, both DAGs loaded and unpaused, log-in with the generated password, and
every process gone after ``down``. (The pipeline flowing under a real scheduler is
test_real_scheduler.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cluster import base_env, free_port

pytestmark = pytest.mark.slow  # Airflow standalone

WORKHEALTH = str(Path(sys.executable).with_name("workhealth"))


def call(url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


@pytest.fixture
def up(tmp_path, migrated_airflow_sqlite):
    # A migrated metadata database, as after an earlier `make up` (standalone migrates it again:
    # a check; a first migration is the same code), without the warehouse pool: `up` makes it.
    import sqlite3

    (tmp_path / "data" / "airflow").mkdir(parents=True)
    shutil.copyfile(migrated_airflow_sqlite, tmp_path / "data" / "airflow" / "airflow.db")
    with sqlite3.connect(tmp_path / "data" / "airflow" / "airflow.db") as db:
        db.execute("DELETE FROM slot_pool WHERE pool = 'duckdb_warehouse'")
    env = base_env(tmp_path / "data" / "airflow", "unused")
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")  # the embedded default: SQLite under AIRFLOW_HOME
    env.pop("AIRFLOW__CORE__DAGS_FOLDER")
    env.pop("AIRFLOW__CORE__PLUGINS_FOLDER")
    env["WORKHEALTH_DATA_DIR"] = str(tmp_path / "data")
    port = free_port()
    done = subprocess.run([WORKHEALTH, "up", "--port", str(port)], env=env, capture_output=True, text=True,
                          timeout=300)
    pid_file = tmp_path / "data" / "airflow" / "standalone.pid"
    try:
        yield env, port, done, pid_file
    finally:
        subprocess.run([WORKHEALTH, "down"], env=env, capture_output=True, timeout=120)
        if pid_file.exists():  # down failed: do not leave the group behind
            try:
                os.killpg(int(pid_file.read_text()), 9)
            except ProcessLookupError:
                pass


def test_up_login_and_down(up, tmp_path):
    env, port, done, pid_file = up
    log = (tmp_path / "data" / "airflow" / "logs" / "standalone.log")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{log.read_text()[-3000:] if log.exists() else ''}"
    assert f"http://localhost:{port}" in done.stdout and "simple_auth_manager_passwords.json.generated" in done.stdout
    base = f"http://127.0.0.1:{port}"

    status, health = call(f"{base}/api/v2/monitor/health")
    assert status == 200 and health["scheduler"]["status"] == "healthy", health
    passwords = json.loads((tmp_path / "data" / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())
    status, _ = call(f"{base}/auth/token", {"username": "admin", "password": "wrong"})
    assert status == 401, "log-in is required"
    status, token = call(f"{base}/auth/token", {"username": "admin", "password": passwords["admin"]})
    assert status in (200, 201) and token["access_token"]
    status, dags = call(f"{base}/api/v2/dags", token=token["access_token"])
    assert status == 200
    assert {d["dag_id"]: d["is_paused"] for d in dags["dags"]} == {"ingest_deliveries": False, "build_marts": False}
    status, pool = call(f"{base}/api/v2/pools/duckdb_warehouse", token=token["access_token"])
    assert status == 200 and pool["slots"] == 1, pool

    again = subprocess.run([WORKHEALTH, "up", "--port", str(port)], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "already running" in again.stdout

    pid = int(pid_file.read_text())
    stopped = subprocess.run([WORKHEALTH, "down"], env=env, capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # no process of the group is left (scheduler, api-server, task runners)
    assert not pid_file.exists()
