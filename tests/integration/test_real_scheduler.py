"""The pipeline under a real Airflow scheduler, the way it runs in production.

Scheduler, dag-processor and api-server (plus a Celery worker) run as subprocesses against a
fresh PostgreSQL database per cluster (``cluster.py``). Nobody presses a button: the inbox poll
picks up a generated inbox (one month, tiny scale), the raw assets trigger ``build_marts``
(dbt build, validate, publish) and a release appears. LocalExecutor (parallelism 4): a refused
delivery among them fails its own mapped task without retries (and sends the failure webhook),
a dbt build is triggered by hand while the deliveries wait for the pool, and no two tasks of
the one-slot warehouse pool ever ran at the same time. CeleryExecutor with a real worker: the
same pipeline, then a backfill of a past month changes nothing (idempotent).

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and, for the Celery test, Redis
on 127.0.0.1:6379; skipped with the reason when they are not reachable.
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from workhealth.core.registers import REGISTERS  # every register delivers in a January

from cluster import POOL, REDIS, Cluster, overlapping, postgres_ready, reachable, template_database

pytestmark = pytest.mark.slow  # real Airflow clusters

MONTH, SCALE, SEED = "2018-01", 0.001, 20240101


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    reason = postgres_ready()
    if reason:
        pytest.skip(reason)
    from cluster import drop_database

    name = template_database(tmp_path_factory.mktemp("airflow-template"))
    yield name
    drop_database(name)


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory) -> Path:
    """One month of all registers, and the same month with a wrong checksum in nav_aap."""
    from workhealth.generate import generate

    root = tmp_path_factory.mktemp("deliveries")
    generate(root / "month", start=MONTH, end=MONTH, scale=SCALE, seed=SEED)
    generate(root / "checksum", start=MONTH, end=MONTH, scale=SCALE, seed=SEED, defects=["checksum"])
    return root


class Webhook:
    """A real local HTTP server that records the JSON bodies POSTed to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def drop_month(cluster: Cluster, deliveries: Path) -> list[str]:
    inbox = cluster.data / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in (deliveries / "month").iterdir())
    assert len(names) == len(REGISTERS), names
    for name in names:
        shutil.copytree(deliveries / "month" / name, inbox / name)
    return names


def assert_pipeline_ran_by_itself(cluster: Cluster, names: list[str]) -> None:
    """The scheduled poll ingested every delivery; the asset events built, validated, published."""
    def ingested():
        # map_index -1 is the unexpanded placeholder (state "removed" once expanded).
        tis = [ti for ti in cluster.task_instances(dag_id="ingest_deliveries", task_id="load_delivery")
               if ti["map_index"] >= 0]
        done = [ti for ti in tis if ti["state"] in ("success", "failed")]
        return len(done) >= len(names) and tis

    tis = cluster.wait(ingested, f"the inbox poll to ingest {len(names)} deliveries", timeout=150)
    assert sorted(ti["rendered_map_index"] for ti in tis) == names, "one mapped task per delivery, named by it"
    assert {ti["state"] for ti in tis} == {"success"}, tis
    ingest_runs = cluster.runs("ingest_deliveries")
    assert any(run_type == "scheduled" for _, run_type, _ in ingest_runs), ingest_runs

    # liveness bounds, not timings: each build (dbt, the gate, the evaluation, publishing) queues
    # for the one warehouse slot, and a slow 2-core machine under the other test worker needs them
    runs = cluster.wait(cluster.builds_settled, "build_marts runs triggered by the raw assets to finish",
                        timeout=480)
    assert {run_type for _, run_type, _ in runs} == {"asset_triggered"}, runs
    assert {state for *_, state in runs} == {"success"}, f"{runs}\n{cluster.logs_tail()}"
    tasks = {ti["task_id"] for ti in cluster.task_instances(dag_id="build_marts", run_id=runs[-1][0])}
    assert {"dbt_build", "validate"} <= tasks, tasks


def mart_counts(cluster: Cluster) -> dict[str, int]:
    """Row count of every mart (read-only, while no pooled task runs)."""
    import duckdb

    con = duckdb.connect(str(cluster.data / "warehouse" / "workhealth.duckdb"), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'").fetchall()]
        return {t: con.execute(f'SELECT count(*) FROM marts."{t}"').fetchone()[0] for t in sorted(tables)}
    finally:
        con.close()


def assert_release(cluster: Cluster) -> Path:
    latest = cluster.data / "out" / "releases" / "latest"
    assert latest.exists(), f"no release at {latest}: the publish task did not run or wrote elsewhere"
    return latest.resolve()


def test_local_executor_pipeline_pool_and_refused_delivery(template, deliveries, tmp_path):
    webhook = Webhook()
    cluster = Cluster(tmp_path, template, executor="LocalExecutor", parallelism=4)
    cluster.env["WORKHEALTH_ALERT_WEBHOOK"] = webhook.url
    try:
        names = drop_month(cluster, deliveries)
        # Among them a refused delivery: a v2 of nav_aap whose checksum is wrong.
        refused = f"nav_aap_{MONTH}_v2"
        inbox = cluster.data / "inbox"
        shutil.copytree(deliveries / "checksum" / f"nav_aap_{MONTH}_v1", inbox / refused)
        manifest = json.loads((inbox / refused / "manifest.json").read_text())
        (inbox / refused / "manifest.json").write_text(json.dumps({**manifest, "version": 2}))
        cluster.start("api-server", "dag-processor", "scheduler")
        cluster.wait_ready()

        # Nobody triggers ingestion: the poll does. Once the first delivery is loading, a dbt
        # build is triggered by hand, so the other deliveries and that build wait for the
        # one-slot pool at the same time.
        def loading():
            return [ti for ti in cluster.task_instances(dag_id="ingest_deliveries", task_id="load_delivery")
                    if ti["state"] in ("running", "success", "failed")]

        cluster.wait(loading, "the inbox poll to start loading deliveries", timeout=120, every=0.5)
        cluster.airflow("dags", "trigger", "build_marts")

        def ingested():
            tis = [ti for ti in cluster.task_instances(dag_id="ingest_deliveries", task_id="load_delivery")
                   if ti["map_index"] >= 0]
            return len(tis) == len(names) + 1 and all(ti["state"] in ("success", "failed") for ti in tis) and tis

        tis = cluster.wait(ingested, f"{len(names) + 1} deliveries to be processed", timeout=150)
        states = {ti["rendered_map_index"]: ti["state"] for ti in tis}
        assert states == {**{n: "success" for n in names}, refused: "failed"}, states
        [bad] = [ti for ti in tis if ti["rendered_map_index"] == refused]
        assert bad["try_number"] == 1, f"a refused delivery is not retried: {bad}"
        assert cluster.wait_finished("ingest_deliveries", bad["run_id"]) == "failed", "the run shows the refusal"
        [(_, run_type, _)] = [r for r in cluster.runs("ingest_deliveries") if r[0] == bad["run_id"]]
        assert run_type == "scheduled", "the poll, not a person, started ingestion"

        runs = cluster.wait(lambda: cluster.builds_settled(2), "the manual and asset-triggered builds",
                            timeout=480)
        assert {state for *_, state in runs} == {"success"}, f"{runs}\n{cluster.logs_tail()}"
        assert {run_type for _, run_type, _ in runs} == {"manual", "asset_triggered"}, runs
        tasks = {ti["task_id"]: ti["state"] for ti in cluster.task_instances(dag_id="build_marts", run_id=runs[0][0])}
        assert tasks == {"dbt_build": "success", "validate": "success", "evaluate": "success",
                         "publish": "success", "withheld_years": "success"}, tasks
        counts = mart_counts(cluster)
        # (the evaluation's cohort is empty: one month has no index month with 12 months of history)
        assert counts and all(n > 0 for t, n in counts.items() if t != "fct_evaluation_cohort"), counts
        assert counts["fct_evaluation_cohort"] == 0, counts
        assert_release(cluster)

        # The one-writer rule held: no two pooled task instances ever ran at once.
        pooled = [t for t in cluster.task_instances(pool=POOL) if t["start_date"] and t["end_date"]]
        assert {t["task_id"] for t in pooled} >= {"load_delivery", "dbt_build", "validate", "evaluate", "publish"}, pooled
        assert len(pooled) >= len(names) + 1 + 2 * len(runs), len(pooled)
        assert overlapping(pooled) == [], overlapping(pooled)
        unpooled = cluster.task_instances(task_id="find_ready_deliveries")
        assert unpooled and {t["pool"] for t in unpooled} == {"default_pool"}

        # The failure webhook named the refused delivery.
        alerts = [a for a in webhook.received if a.get("delivery") == refused]
        assert alerts, f"no webhook alert for {refused}: {webhook.received}"
        assert alerts[0]["dag_id"] == "ingest_deliveries" and alerts[0]["task_id"] == "load_delivery"
        assert refused in alerts[0]["text"] and "checksum" in alerts[0]["error"].lower(), alerts[0]
    finally:
        cluster.stop()
        webhook.close()


def test_celery_executor_pipeline_and_idempotent_backfill(template, deliveries, tmp_path):
    if not reachable(*REDIS):
        pytest.skip(f"Redis not reachable on {REDIS[0]}:{REDIS[1]}: the CeleryExecutor test needs a broker")
    cluster = Cluster(tmp_path, template, executor="CeleryExecutor", parallelism=4)
    try:
        names = drop_month(cluster, deliveries)
        cluster.start("api-server", "dag-processor", "scheduler", "celery-worker")
        cluster.wait_ready()
        assert_pipeline_ran_by_itself(cluster, names)
        queues = {t["queue"] for t in cluster.task_instances()}
        assert queues == {cluster.queue}, f"every task went through this cluster's Celery queue: {queues}"
        before, release = mart_counts(cluster), assert_release(cluster)

        # Re-running a past monthly cycle (a backfill) rebuilds the same marts and no new release.
        cluster.airflow("backfill", "create", "--dag-id", "build_marts", "--from-date", "2026-10-01",
                        "--to-date", "2026-10-31")

        def backfilled():
            rows = cluster.runs("build_marts")
            done = [r for r in rows if r[1] == "backfill" and r[2] in ("success", "failed")]
            return done

        [run] = cluster.wait(backfilled, "the backfill run of build_marts", timeout=360)
        assert run[2] == "success", f"{run}\n{cluster.logs_tail()}"
        states = {t["task_id"]: t["state"] for t in cluster.task_instances(dag_id="build_marts", run_id=run[0])}
        # publish skips itself when nothing changed since the latest release (no new release).
        assert states == {"dbt_build": "success", "validate": "success", "evaluate": "success",
                          "publish": "skipped", "withheld_years": "success"}, states
        assert mart_counts(cluster) == before
        assert assert_release(cluster) == release, "an unchanged warehouse gives no new release"
    finally:
        cluster.stop()
