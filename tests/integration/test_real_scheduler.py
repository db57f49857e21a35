"""The pipeline under a real Airflow scheduler, the way it runs in production.

Scheduler, dag-processor, api-server and a Celery worker run as subprocesses against a fresh
PostgreSQL database (``cluster.py``) and Redis. Nobody presses a button: the inbox poll picks up
a generated inbox (one month, tiny scale), the raw assets trigger ``build_marts`` (dbt build,
validate, evaluate, publish) and a release appears. A refused delivery among them fails its own
mapped task without retries (and sends the failure webhook); an operator's backfill of a past
monthly cycle waits for the one-slot warehouse pool beside the deliveries, no two tasks of that
pool ever run at the same time, and rebuilding unchanged data makes no new release.

One cluster, not one per executor: every real build costs over a minute on the 2-core CI
machine. LocalExecutor on SQLite is what ``workhealth up`` starts (test_make_up.py).

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) and Redis on 127.0.0.1:6379;
skipped with the reason when they are not reachable.
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


def latest_cycle_month() -> tuple[str, ...]:
    """Backfill arguments for the month of the latest past monthly cycle (the 10th, 06:00 Oslo).
    The latest one: after a backfill of an older month the scheduler would also run the latest
    cycle at once (no catchup: it runs the most recent missed interval), one more full build."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from workhealth.core import settings

    assert settings.load().monthly_cycle == "0 6 10 * *", "the test knows the default cycle only"
    now = datetime.now(ZoneInfo("Europe/Oslo"))
    cycle = now.replace(day=10, hour=6, minute=0, second=0, microsecond=0)
    if cycle > now:
        cycle = (cycle.replace(day=1) - timedelta(days=1)).replace(day=10)
    return ("--from-date", cycle.strftime("%Y-%m-01"), "--to-date", cycle.strftime("%Y-%m-28"))


def row_counts(cluster: Cluster, schema: str = "marts") -> dict[str, int]:
    """Row count of every table of ``schema`` (read-only, while no pooled task runs)."""
    import duckdb

    con = duckdb.connect(str(cluster.data / "warehouse" / "workhealth.duckdb"), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]).fetchall()]
        return {f"{schema}.{t}": con.execute(f'SELECT count(*) FROM {schema}."{t}"').fetchone()[0]
                for t in sorted(tables)}
    finally:
        con.close()


def asset_events(cluster: Cluster, run_id: str) -> dict[str, list[dict]]:
    """The extras of the asset events a build_marts run sent, by asset URI."""
    rows = cluster.query("SELECT a.uri, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                         "WHERE e.source_dag_id = 'build_marts' AND e.source_run_id = %s ORDER BY e.id", run_id)
    events: dict[str, list[dict]] = {}
    for uri, extra in rows:
        events.setdefault(uri, []).append(extra if isinstance(extra, dict) else json.loads(extra))
    return events


def assert_release(cluster: Cluster) -> Path:
    latest = cluster.data / "out" / "releases" / "latest"
    assert latest.exists(), f"no release at {latest}: the publish task did not run or wrote elsewhere"
    return latest.resolve()


def test_celery_pipeline_pool_refused_delivery_and_idempotent_backfill(template, deliveries, tmp_path):
    """One cluster for all of it (each real build costs over a minute on a 2-core machine)."""
    if not reachable(*REDIS):
        pytest.skip(f"Redis not reachable on {REDIS[0]}:{REDIS[1]}: the CeleryExecutor test needs a broker")
    webhook = Webhook()
    cluster = Cluster(tmp_path, template, executor="CeleryExecutor", parallelism=4)
    cluster.env["WORKHEALTH_ALERT_WEBHOOK"] = webhook.url
    try:
        names = drop_month(cluster, deliveries)
        # Among them a refused delivery: a v2 of nav_aap whose checksum is wrong.
        refused = f"nav_aap_{MONTH}_v2"
        inbox = cluster.data / "inbox"
        shutil.copytree(deliveries / "checksum" / f"nav_aap_{MONTH}_v1", inbox / refused)
        manifest = json.loads((inbox / refused / "manifest.json").read_text())
        (inbox / refused / "manifest.json").write_text(json.dumps({**manifest, "version": 2}))
        cluster.start("api-server", "dag-processor", "scheduler", "celery-worker")
        cluster.wait_ready()

        # Nobody triggers ingestion: the poll does. Once the first delivery is loading, an
        # operator backfills a past monthly cycle of build_marts, so the other deliveries and
        # that build wait for the one-slot pool at the same time.
        def loading():
            return [ti for ti in cluster.task_instances(dag_id="ingest_deliveries", task_id="load_delivery")
                    if ti["state"] in ("running", "success", "failed")]

        cluster.wait(loading, "the inbox poll to start loading deliveries", timeout=150, every=0.5)
        cluster.airflow("backfill", "create", "--dag-id", "build_marts", *latest_cycle_month())

        def ingested():
            # map_index -1 is the unexpanded placeholder (state "removed" once expanded).
            tis = [ti for ti in cluster.task_instances(dag_id="ingest_deliveries", task_id="load_delivery")
                   if ti["map_index"] >= 0]
            return len(tis) == len(names) + 1 and all(ti["state"] in ("success", "failed") for ti in tis) and tis

        tis = cluster.wait(ingested, f"{len(names) + 1} deliveries to be processed", timeout=180)
        assert sorted(ti["rendered_map_index"] for ti in tis) == sorted([*names, refused]), \
            "one mapped task per delivery, named by it"
        states = {ti["rendered_map_index"]: ti["state"] for ti in tis}
        assert states == {**{n: "success" for n in names}, refused: "failed"}, states
        [bad] = [ti for ti in tis if ti["rendered_map_index"] == refused]
        assert bad["try_number"] == 1, f"a refused delivery is not retried: {bad}"
        assert cluster.wait_finished("ingest_deliveries", bad["run_id"]) == "failed", "the run shows the refusal"
        [(_, run_type, _)] = [r for r in cluster.runs("ingest_deliveries") if r[0] == bad["run_id"]]
        assert run_type == "scheduled", "the poll, not a person, started ingestion"
        queues = {t["queue"] for t in cluster.task_instances()}
        assert queues == {cluster.queue}, f"every task went through this cluster's Celery queue: {queues}"

        # liveness bound, not a timing: each build (dbt, the gate, the evaluation, publishing)
        # queues for the one warehouse slot, on a slow 2-core machine beside the other test worker
        runs = cluster.wait(lambda: cluster.builds_settled(2), "the backfill and the asset-triggered builds",
                            timeout=600)
        assert {state for *_, state in runs} == {"success"}, f"{runs}\n{cluster.logs_tail()}"
        assert {run_type for _, run_type, _ in runs} == {"backfill", "asset_triggered"}, runs
        counts = row_counts(cluster)
        assert {"marts.dim_person", "marts.fct_person_month", "marts.fct_sick_leave_cases",
                "marts.fct_treatment_courses", "marts.fct_course_trajectories",
                "marts.coding_quality_monthly"} <= set(counts), counts
        # (the evaluation's cohort is empty: one month has no index month with 12 months of history)
        assert all(n > 0 for t, n in counts.items() if t != "marts.fct_evaluation_cohort"), counts
        assert counts["marts.fct_evaluation_cohort"] == 0, counts
        release = assert_release(cluster)
        assert (release / "courses.csv").is_file() and (release / "effects.csv").is_file(), \
            "the release carries the indicators and the evaluation's effects"
        assert (cluster.data / "out" / "report" / "index.html").is_file()

        # Waiting deliveries go before queued builds (priority), so every build ran on all of them.
        # Rebuilding unchanged data is idempotent: the first build published, every later one
        # (the backfill among them) rebuilt the same marts and skipped publishing: one release.
        builds = sorted(cluster.task_instances(dag_id="build_marts", task_id="dbt_build"),
                        key=lambda t: t["start_date"])
        last_load = max(ti["end_date"] for ti in tis)
        assert all(b["start_date"] >= last_load for b in builds), (builds, last_load)
        by_run = {}
        for t in cluster.task_instances(dag_id="build_marts"):
            by_run.setdefault(t["run_id"], {})[t["task_id"]] = t["state"]
        done = [by_run[b["run_id"]] for b in builds]
        assert len(done) >= 2 and done[0]["publish"] == "success", done
        for states in done:
            assert {k: v for k, v in states.items() if k != "publish"} == {
                "dbt_build": "success", "validate": "success", "evaluate": "success",
                "withheld_years": "success"}, done
        assert [s["publish"] for s in done[1:]] == ["skipped"] * (len(done) - 1), \
            "publish skips itself when nothing changed since the latest release"
        assert [p.name for p in (cluster.data / "out" / "releases").iterdir() if p.name != "latest"] == [release.name]

        # The assets say what was made: the release asset names the one release (only the run
        # that published sends it); every evaluate names the rows it wrote.
        written = {**{t: n for t, n in counts.items() if t == "marts.fct_evaluation_cohort"},
                   **row_counts(cluster, "evaluation")}
        for i, b in enumerate(builds):
            events = asset_events(cluster, b["run_id"])
            assert [e["release_id"] for e in events.get("workhealth://releases/latest", [])] == \
                ([release.name] if i == 0 else []), events
            [evaluated] = events["workhealth://warehouse/evaluation/effects"]
            assert evaluated["rows"] == {t: n for t, n in written.items() if t in evaluated["rows"]}, evaluated
            assert {"evaluation.effects", "marts.fct_evaluation_cohort"} <= set(evaluated["rows"]), evaluated

        # The one-writer rule held: no two pooled task instances ever ran at once.
        pooled = [t for t in cluster.task_instances(pool=POOL) if t["start_date"] and t["end_date"]]
        assert {t["task_id"] for t in pooled} >= {"load_delivery", "dbt_build", "validate", "evaluate", "publish"}, pooled
        assert len(pooled) >= len(names) + 1 + 4 * len(runs), len(pooled)
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
