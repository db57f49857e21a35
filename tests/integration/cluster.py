"""A real Airflow on this machine for integration tests: scheduler, dag-processor, api-server
(and a Celery worker) as subprocesses against a fresh PostgreSQL database.

Each cluster has its own AIRFLOW_HOME, database, ports, Celery queue and data folders under a
temporary directory; every component runs in its own process group, killed in ``stop()``.
The metadata database is migrated once per test session (``template_database``) and each
cluster gets a copy (``CREATE DATABASE ... TEMPLATE``), which takes a second instead of ~20 s.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS = ("127.0.0.1", 6379)
POOL = "duckdb_warehouse"


def reachable(host: str, port: int) -> bool:
    try:
        with closing(socket.create_connection((host, port), timeout=2)):
            return True
    except OSError:
        return False


def postgres_ready() -> str | None:
    """None when PostgreSQL accepts user postgres without a password; else why not."""
    if not reachable(PG["host"], PG["port"]):
        return f"PostgreSQL not reachable on {PG['host']}:{PG['port']}"
    import psycopg

    try:
        psycopg.connect(dbname="postgres", connect_timeout=3, **PG).close()
    except psycopg.Error as exc:
        return f"PostgreSQL on {PG['host']}:{PG['port']} refused user postgres: {exc}"
    return None


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin_sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as con:
        con.execute(statement)


def drop_database(name: str) -> None:
    admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def db_url(name: str, driver: str = "postgresql+psycopg2") -> str:
    return f"{driver}://{PG['user']}@{PG['host']}:{PG['port']}/{name}"


def base_env(home: Path, database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "WORKHEALTH_"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url(database),
        "PATH": f"{Path(AIRFLOW).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    return env


def template_database(root: Path) -> str:
    """Create and migrate a metadata database with the warehouse pool; returns its name."""
    name = f"wh_it_{os.getpid()}_{uuid.uuid4().hex[:6]}_tpl"
    admin_sql(f'CREATE DATABASE "{name}"')
    env = base_env(root / "airflow-template", name)
    for args in (["db", "migrate"], ["pools", "set", POOL, "1", "DuckDB allows one writer"]):
        done = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True)
        if done.returncode:
            drop_database(name)
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return name


class Cluster:
    """Airflow components against their own copy of the template database."""

    def __init__(self, root: Path, template: str, executor: str = "LocalExecutor", parallelism: int = 4):
        self.root = root
        self.executor = executor
        self.database = f"wh_it_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.queue = f"workhealth-it-{uuid.uuid4().hex[:8]}"
        self.data = root / "data"
        self.procs: dict[str, subprocess.Popen] = {}
        admin_sql(f'CREATE DATABASE "{self.database}" TEMPLATE "{template}"')
        self.env = base_env(root / "airflow", self.database)
        self.env.update({
            # Shared secrets: components started at once would each write their own airflow.cfg
            # with a random JWT secret, and reject each other's tokens.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
            # the DAG files do not change during a test: parsed once, not every 30 s (each parse
            # imports the plugins, CPU the other test worker needs)
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{db_url(self.database, 'postgresql')}",
            "WORKHEALTH_DATA_DIR": str(self.data),
            "WORKHEALTH_INBOX_POLL": "* * * * *",
            "WORKHEALTH_DUCKDB_THREADS": "1",
            "WORKHEALTH_DUCKDB_MEMORY_LIMIT": "1GB",
        })

    # -- processes -------------------------------------------------------------------------
    def start(self, *components: str) -> None:
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        commands = {
            "scheduler": ["scheduler"], "dag-processor": ["dag-processor"], "api-server": ["api-server"],
            "celery-worker": ["celery", "worker", "--queues", self.queue, "--concurrency", "2"],
        }
        for name in components:
            with open(self.root / "logs" / f"{name}.log", "ab") as log:
                self.procs[name] = subprocess.Popen(
                    [AIRFLOW, *commands[name]], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5  # then SIGKILL: nothing of a test cluster needs a clean stop
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # the whole group: task supervisors, gunicorn/uvicorn workers, celery children
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        drop_database(self.database)

    def logs_tail(self, chars: int = 2500) -> str:
        parts = []
        for name in self.procs:
            text = (self.root / "logs" / f"{name}.log").read_text(errors="replace")
            parts.append(f"--- {name} (exit {self.procs[name].poll()}) ---\n{text[-chars:]}")
        return "\n".join(parts)

    def airflow(self, *args: str) -> str:
        done = subprocess.run([AIRFLOW, *args], env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        return done.stdout

    # -- metadata --------------------------------------------------------------------------
    def query(self, sql: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(dbname=self.database, **PG) as con:
            return con.execute(sql, params).fetchall()

    def runs(self, dag_id: str) -> list[tuple[str, str, str]]:
        """(run_id, run_type, state) of every run of ``dag_id``, oldest first."""
        return self.query("SELECT run_id, run_type, state FROM dag_run WHERE dag_id = %s ORDER BY id", dag_id)

    def task_instances(self, **where) -> list[dict]:
        cols = ("dag_id", "run_id", "task_id", "map_index", "rendered_map_index", "state", "try_number",
                "start_date", "end_date", "pool", "queue")
        clause = " AND ".join(f"{k} = %s" for k in where) or "TRUE"
        rows = self.query(f"SELECT {', '.join(cols)} FROM task_instance WHERE {clause} ORDER BY start_date",
                          *where.values())
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def wait(self, condition, what: str, timeout: float = 180.0, every: float = 2.0):
        """Poll ``condition()`` until truthy; fail naming ``what`` with the components' logs."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited while waiting for {what}\n{self.logs_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs_tail()}")
            time.sleep(every)

    def wait_ready(self, timeout: float = 150.0) -> None:
        """Both DAGs parsed without import errors and the api-server answering."""
        import urllib.request

        def ready():
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=2).read()
            except OSError:
                return False
            errors = self.query("SELECT filename, stacktrace FROM import_error")
            assert not errors, f"DAG import errors: {errors}"
            dags = {r[0] for r in self.query("SELECT dag_id FROM dag WHERE is_paused = false AND is_stale = false")}
            return {"ingest_deliveries", "build_marts"} <= dags

        self.wait(ready, "the api-server and both DAGs to be loaded and unpaused", timeout)

    def builds_settled(self, at_least: int = 1) -> list[tuple[str, str, str]] | None:
        """Every build_marts run finished and no asset event waiting to start another; the runs."""
        runs = self.runs("build_marts")
        queued = self.query("SELECT count(*) FROM asset_dag_run_queue WHERE target_dag_id = 'build_marts'")[0][0]
        done = len(runs) >= at_least and not queued and all(s in ("success", "failed") for *_, s in runs)
        return runs if done else None

    def wait_finished(self, dag_id: str, run_id: str, timeout: float = 180.0) -> str:
        def state():
            rows = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", dag_id, run_id)
            return rows and rows[0][0] in ("success", "failed") and rows[0][0]

        return self.wait(state, f"{dag_id} run {run_id} to finish", timeout)


def overlapping(task_instances: list[dict]) -> list[tuple[str, str]]:
    """Pairs of task instances whose [start, end] intervals overlap (touching ends allowed)."""
    spans = sorted((ti["start_date"], ti["end_date"], f"{ti['dag_id']}.{ti['task_id']}[{ti['map_index']}]"
                    f" {ti['run_id']}") for ti in task_instances)
    pairs, latest = [], None  # latest: the span that ends last among those started so far
    for span in spans:
        if latest is not None and span[0] < latest[1]:
            pairs.append((latest[2], span[2]))
        if latest is None or span[1] > latest[1]:
            latest = span
    return pairs
