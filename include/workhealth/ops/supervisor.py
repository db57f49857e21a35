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

from workhealth.core.settings import Settings, airflow_environ
from workhealth.ops.runner import PIPELINE_DAGS, airflow_bin, init

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
    init(s)
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
    problems = wait_for_dags(s, env, deadline)
    if problems:
        echo(problems)
        down(s, echo=echo)
        return 1
    for dag_id in PIPELINE_DAGS:  # in case someone paused them in an earlier session
        subprocess.run([airflow_bin(), "dags", "unpause", dag_id], env=env, capture_output=True, check=True)
    echo(login_help(s, port))
    return 0


def wait_for_dags(s: Settings, env: dict, deadline: float) -> str | None:
    """Wait until the dag-processor has loaded every pipeline DAG; the import errors if any."""
    import time

    while True:
        errors = subprocess.run([airflow_bin(), "dags", "list-import-errors", "-o", "json"], env=env,
                                capture_output=True, text=True).stdout
        line = next((ln for ln in errors.splitlines() if ln.startswith("[")), "[]")
        if json.loads(line):
            return f"DAG import errors:\n{line}"
        listed = subprocess.run([airflow_bin(), "dags", "list", "-o", "json"], env=env,
                                capture_output=True, text=True).stdout
        line = next((ln for ln in listed.splitlines() if ln.startswith("[")), "[]")
        if set(PIPELINE_DAGS) <= {d["dag_id"] for d in json.loads(line)}:
            return None
        if time.monotonic() > deadline:
            return f"DAGs {PIPELINE_DAGS} not loaded in time; loaded: {line}"
        time.sleep(3)


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
