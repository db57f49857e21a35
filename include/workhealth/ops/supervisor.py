"""``make up`` / ``make down``: a long-running Airflow on this machine (``airflow standalone``:
api-server with the UI, scheduler, dag-processor, triggerer; LocalExecutor; SQLite metadata).

The supervisor starts, checks and stops that Airflow; running DAGs once is the runner's job
(workhealth.ops.runner), whose ``airflow`` and ``init`` it uses.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from workhealth.core.settings import WAREHOUSE_POOL, Settings, airflow_environ
from workhealth.ops.runner import PIPELINE_DAGS, POOL_DESCRIPTION, airflow_bin

#: How often the inbox is polled under ``make up`` (cron); the default deployment polls every 15 min.
UP_INBOX_POLL = "* * * * *"


def _up_environ(s: Settings, port: int) -> dict[str, str]:
    env = {**os.environ, **airflow_environ(s)}
    env.setdefault("WORKHEALTH_INBOX_POLL", UP_INBOX_POLL)
    env["AIRFLOW__API__PORT"] = str(port)
    # The UI listens on this machine only unless asked otherwise (docs/operations.md, log-in).
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    # standalone starts its components as `airflow ...` from PATH: the one next to this Python.
    env["PATH"] = f"{Path(airflow_bin()).parent}{os.pathsep}{env.get('PATH', '')}"
    # Task processes report to the api-server's execution API on this port.
    env.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://localhost:{port}/execution/")
    return env


def _pid_file(s: Settings) -> Path:
    return s.airflow_home / "standalone.pid"


def running_pid(s: Settings) -> int | None:
    """The process id of the ``make up`` Airflow if it is alive, else None."""
    try:
        pid = int(_pid_file(s).read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def _health(port: int) -> dict | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://localhost:{port}/api/v2/monitor/health", timeout=3) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def _healthy(health: dict | None) -> bool:
    parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
    return bool(health) and all((health.get(p) or {}).get("status") == "healthy" for p in parts)


def up(s: Settings, port: int = 8080, timeout: float = 240.0, echo=print) -> int:
    """Start Airflow in the background, wait until it is healthy and the DAGs are loaded and
    unpaused. Returns 0 when ready, 1 with the reason printed otherwise."""
    import time

    if (pid := running_pid(s)) is not None:
        echo(f"Airflow is already running (pid {pid}); `make down` stops it.")
        return 0
    # No `airflow db migrate` first: standalone creates or migrates the metadata database itself;
    # the pool is made through the REST API once it answers (each CLI call costs seconds).
    env = _up_environ(s, port)
    log_path = s.airflow_home / "logs" / "standalone.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        # Its own session (process group), so `make down` can stop every component at once.
        proc = subprocess.Popen([airflow_bin(), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _pid_file(s).write_text(str(proc.pid))
    echo(f"starting Airflow (pid {proc.pid}, log {log_path}) ...")
    deadline = time.monotonic() + timeout
    while not _healthy(_health(port)):
        if proc.poll() is not None:
            echo(f"Airflow exited with code {proc.returncode}; see {log_path}")
            return 1
        if time.monotonic() > deadline:
            echo(f"Airflow not healthy after {timeout:.0f} s: {_health(port)}; see {log_path}")
            down(s, echo=echo)
            return 1
        time.sleep(2)
    # The api-server answers now: the DAG checks go through its REST API (an `airflow` CLI call
    # costs seconds of imports each on a small machine).
    problems = wait_for_dags(s, port, deadline)
    if problems:
        echo(problems)
        down(s, echo=echo)
        return 1
    echo(login_help(s, port))
    return 0


def _api(port: int, path: str, token: str | None = None, body: dict | None = None, method: str | None = None):
    """JSON of a call to the local api-server (``/auth/token`` or ``/api/v2/...``)."""
    import urllib.request

    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(f"http://localhost:{port}{path}", headers=headers, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def _admin_token(s: Settings, port: int) -> str:
    """A token for the admin user, whose password standalone generated (simple auth manager)."""
    passwords = json.loads((s.airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
    return _api(port, "/auth/token", body={"username": "admin", "password": passwords["admin"]})["access_token"]


def _ensure_pool(port: int, token: str) -> None:
    """The one-slot warehouse pool (created, or set back to one slot)."""
    import urllib.error

    try:
        _api(port, f"/api/v2/pools/{WAREHOUSE_POOL}", token, method="PATCH",
             body={"name": WAREHOUSE_POOL, "slots": 1, "description": POOL_DESCRIPTION})
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
        _api(port, "/api/v2/pools", token, body={"name": WAREHOUSE_POOL, "slots": 1, "description": POOL_DESCRIPTION})


def wait_for_dags(s: Settings, port: int, deadline: float) -> str | None:
    """Make the warehouse pool, wait until the dag-processor has loaded every pipeline DAG, then
    unpause them (in case someone paused them in an earlier session); the import errors or the
    reason if not."""
    import time

    token = _admin_token(s, port)
    _ensure_pool(port, token)
    while True:
        errors = _api(port, "/api/v2/importErrors", token)["import_errors"]
        if errors:
            return "DAG import errors:\n" + "\n".join(f"{e['filename']}: {e['stack_trace']}" for e in errors)
        loaded = {d["dag_id"] for d in _api(port, "/api/v2/dags?limit=100", token)["dags"]}
        if set(PIPELINE_DAGS) <= loaded:
            break
        if time.monotonic() > deadline:
            return f"DAGs {PIPELINE_DAGS} not loaded in time; loaded: {sorted(loaded)}"
        time.sleep(2)
    for dag_id in PIPELINE_DAGS:
        _api(port, f"/api/v2/dags/{dag_id}", token, body={"is_paused": False}, method="PATCH")
    return None


def login_help(s: Settings, port: int) -> str:
    passwords = s.airflow_home / "simple_auth_manager_passwords.json.generated"
    return "\n".join([
        f"Airflow is up: http://localhost:{port} (listening on {os.environ.get('AIRFLOW__API__HOST', '127.0.0.1')})",
        f"  log in as admin; the generated password is in {passwords}",
        f"  (print it: python -c 'import json; print(json.load(open(\"{passwords}\"))[\"admin\"])')",
        f"  drop deliveries into {s.inbox}: the inbox is polled every minute; ingest -> build_marts follow",
        f"  logs: {s.airflow_home / 'logs'}; stop with `make down`",
    ])


def down(s: Settings, timeout: float = 60.0, echo=print) -> int:
    """Stop the ``make up`` Airflow: SIGTERM to its process group, SIGKILL after ``timeout``."""
    import signal
    import time

    pid = running_pid(s)
    if pid is None:
        echo("Airflow is not running.")
        _pid_file(s).unlink(missing_ok=True)
        return 0
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running_pid(s) is not None and time.monotonic() < deadline:
        time.sleep(1)
    try:
        os.killpg(pid, signal.SIGKILL)  # whatever is left of the group (task processes, api workers)
        for _ in range(100):  # until the group is empty (killed processes still need reaping)
            os.killpg(pid, 0)
            time.sleep(0.1)
        echo(f"processes of group {pid} still present after SIGKILL")
    except ProcessLookupError:
        pass
    _pid_file(s).unlink(missing_ok=True)
    echo(f"Airflow stopped (pid {pid}).")
    return 0
