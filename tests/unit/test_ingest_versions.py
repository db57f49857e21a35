"""Corrections, stale versions, replays, re-sent rejected deliveries, the delivery log and the CLI."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from ingest_helpers import deliver, edit_manifest, query, rows, snapshot
from workhealth.ingest.cli import deliveries_command, ingest_command
from workhealth.ingest.inbox import scan_inbox
from workhealth.ingest.load import ingest_delivery, ingest_inbox
from workhealth.ingest.log import list_deliveries

STAGING = """SELECT r.episode_id, r.care_level FROM raw.npr_episodes r
             JOIN audit.deliveries d ON d.delivery = r._delivery AND d.status = 'accepted' ORDER BY 1"""


@pytest.fixture
def s(workhealth_env):
    return workhealth_env


def test_scan_inbox_states_and_order(s):
    deliver(s.inbox, "nav_aap", version=2)
    deliver(s.inbox, "nav_aap", version=1)
    deliver(s.inbox, "aareg_employment", period="2024-02")
    (s.inbox / "npr_episodes_2024-03_v1").mkdir()
    bad = deliver(s.inbox, "nav_disability").rename(s.inbox / "whatever")
    got = [(f.name, f.state) for f in scan_inbox(s.inbox)]
    assert got == [("aareg_employment_2024-02_v1", "ready"), ("nav_aap_2024-03_v1", "ready"),
                   ("nav_aap_2024-03_v2", "ready"), ("npr_episodes_2024-03_v1", "waiting"), (bad.name, "invalid_name")]


def test_waiting_folder_is_left_alone(s):
    folder = deliver(s.inbox, "nav_aap")
    (folder / "manifest.json").unlink()
    assert ingest_inbox(s) == []
    r = ingest_delivery(folder, s)
    assert r.status == "rejected" and r.reason.startswith("manifest_missing") and folder.is_dir()
    assert [d["status"] for d in list_deliveries(s.warehouse, s.inbox)] == ["waiting"]


def test_correction_supersedes_and_staging_sees_only_v2(s):
    deliver(s.inbox, "npr_episodes", version=1, rs=rows("npr_episodes", 3))
    v2 = rows("npr_episodes", 2)
    v2[0]["care_level"] = "1"
    deliver(s.inbox, "npr_episodes", version=2, rs=v2)
    results = ingest_inbox(s)
    assert [(r.delivery, r.status) for r in results] == [("npr_episodes_2024-03_v1", "accepted"),
                                                         ("npr_episodes_2024-03_v2", "accepted")]
    assert query(s, STAGING) == [("E00000000", 1), ("E00000001", 3)]
    assert query(s, "SELECT count(*) FROM raw.npr_episodes WHERE _delivery = 'npr_episodes_2024-03_v1'")[0][0] == 3
    log = {d["delivery"]: d for d in list_deliveries(s.warehouse)}
    assert log["npr_episodes_2024-03_v1"]["status"] == "superseded"
    assert log["npr_episodes_2024-03_v2"]["status"] == "accepted"
    assert query(s, "SELECT superseded_by FROM audit.deliveries WHERE version = 1") == [("npr_episodes_2024-03_v2",)]
    assert (s.archive / "npr_episodes_2024-03_v1").is_dir() and (s.archive / "npr_episodes_2024-03_v2").is_dir()


def test_stale_version_is_refused(s):
    deliver(s.inbox, "nav_aap", version=2)
    assert ingest_inbox(s)[0].status == "accepted"
    folder = deliver(s.inbox, "nav_aap", version=1)
    before = snapshot(folder)
    r = ingest_delivery(folder, s)
    assert r.status == "rejected"
    assert r.reason == ("stale_version: delivery nav_aap_2024-03_v1: version 1 <= accepted version 2 "
                        "(nav_aap_2024-03_v2)")
    kept = snapshot(s.rejected / folder.name)
    assert kept.pop("REJECTED.txt") and kept == before
    assert query(s, "SELECT DISTINCT _delivery FROM raw.nav_aap") == [("nav_aap_2024-03_v2",)]


def test_same_name_with_other_content_after_acceptance_is_refused(s):
    ingest_delivery(deliver(s.inbox, "nav_aap", n=3), s)
    folder = deliver(s.inbox, "nav_aap", n=4)
    r = ingest_delivery(folder, s)
    assert r.status == "rejected" and r.reason.startswith("stale_version: delivery nav_aap_2024-03_v1: version 1 <=")
    assert query(s, "SELECT status, rows_loaded FROM audit.deliveries") == [("accepted", 3)]
    assert query(s, "SELECT event FROM audit.delivery_events ORDER BY \"at\"") == [("accepted",), ("rejected",)]


def test_replay_is_idempotent(s):
    folder = deliver(s.inbox, "nav_sickleave", n=6)
    copy = s.inbox.parent / "copy"
    shutil.copytree(folder, copy)
    first = ingest_delivery(folder, s)
    state = query(s, "SELECT * FROM audit.deliveries"), query(s, "SELECT count(*) FROM raw.nav_sickleave")
    shutil.copytree(copy, folder)
    again = ingest_delivery(folder, s)
    assert again.status == "replay" and again.reason is None
    assert (again.rows_manifest, again.rows_loaded, again.rows_quarantined) == (first.rows_manifest, 6, 0)
    assert (query(s, "SELECT * FROM audit.deliveries"), query(s, "SELECT count(*) FROM raw.nav_sickleave")) == state
    assert [e for (e,) in query(s, "SELECT event FROM audit.delivery_events ORDER BY \"at\"")] == ["accepted", "replay"]
    [replayed] = list((s.archive / "_replays").iterdir())
    assert replayed.name.startswith(folder.name + "__") and snapshot(replayed) == snapshot(copy)
    assert not folder.exists()


def test_archive_clash_gets_suffix_and_a_folder_left_behind_is_a_replay(s):
    folder = deliver(s.inbox, "nav_aap")
    s.archive.mkdir(parents=True)
    (s.archive / folder.name).write_text("in the way")
    r = ingest_delivery(folder, s)  # target gets a timestamp suffix
    # A folder still in the inbox after its commit (the move failed) is seen as a replay next time.
    assert r.status == "accepted"
    shutil.copytree(next(p for p in s.archive.iterdir() if p.name.startswith(folder.name + "__")), folder)
    assert ingest_delivery(folder, s).status == "replay"


def test_rejected_delivery_resent_fixed_is_loaded(s):
    folder = deliver(s.inbox, "nav_aap")
    edit_manifest(folder, files=[{**json.loads((folder / "manifest.json").read_text())["files"][0], "rows": 99}])
    copy = s.inbox.parent / "broken"
    shutil.copytree(folder, copy)
    assert ingest_delivery(folder, s).status == "rejected"
    shutil.copytree(copy, folder)
    again = ingest_delivery(folder, s)  # identical rejected content: replay of the rejection
    assert again.status == "replay" and "row_count_mismatch" in again.reason
    assert len([p for p in s.rejected.iterdir()]) == 2
    fixed = deliver(s.inbox, "nav_aap")
    r = ingest_delivery(fixed, s)
    assert (r.status, r.rows_loaded) == ("accepted", 10)
    assert query(s, "SELECT status, reason FROM audit.deliveries") == [("accepted", None)]
    assert [e for (e,) in query(s, "SELECT event FROM audit.delivery_events ORDER BY \"at\"")] == [
        "rejected", "replay", "accepted"]


def test_list_deliveries_without_warehouse(s):
    (s.inbox / "nav_aap_2024-03_v1").mkdir(parents=True)
    assert list_deliveries(s.warehouse) == []
    [d] = list_deliveries(s.warehouse, s.inbox)
    assert (d["delivery"], d["status"], d["register"], d["version"]) == ("nav_aap_2024-03_v1", "waiting", "nav_aap", 1)


def test_cli_ingest_and_deliveries_json(s):
    deliver(s.inbox, "nav_aap")
    bad = deliver(s.inbox, "nav_disability")
    edit_manifest(bad, schema_version=9)
    (s.inbox / "population_2024-03_v1").mkdir()
    runner = CliRunner()
    out = runner.invoke(ingest_command, ["--inbox", str(s.inbox), "--warehouse", str(s.warehouse)])
    assert out.exit_code == 3, out.output
    assert "accepted  nav_aap_2024-03_v1" in out.output and "rejected  nav_disability_2024-03_v1" in out.output
    out = runner.invoke(deliveries_command, ["--json", "--inbox", str(s.inbox), "--warehouse", str(s.warehouse)])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    assert [(d["delivery"], d["status"]) for d in got] == [
        ("nav_aap_2024-03_v1", "accepted"), ("nav_disability_2024-03_v1", "rejected"),
        ("population_2024-03_v1", "waiting")]
    assert set(got[0]) == {"delivery", "register", "period", "version", "status", "reason", "rows_manifest",
                           "rows_loaded", "rows_quarantined", "received_at", "processed_at", "privacy_breach",
                           "superseded_by", "produced_at", "stored_at"}
    assert got[0]["stored_at"] == str(s.archive / "nav_aap_2024-03_v1") and got[0]["privacy_breach"] is False
    assert got[0]["rows_loaded"] == 10 and "unsupported_schema_version" in got[1]["reason"]
    table = runner.invoke(deliveries_command, ["--inbox", str(s.inbox), "--warehouse", str(s.warehouse)])
    assert table.exit_code == 0 and "nav_disability_2024-03_v1" in table.output and "reason:" in table.output
    again = runner.invoke(ingest_command, ["--inbox", str(s.inbox), "--warehouse", str(s.warehouse)])
    assert again.exit_code == 0 and "0 deliveries processed" in again.output


def test_warehouse_schemas_are_idempotent(s):
    from workhealth.core import warehouse

    for _ in range(2):
        conn = warehouse.connect(s)
        warehouse.ensure_schemas(conn)
        conn.close()
    cols = [c for (c,) in query(s, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' "
                                   "AND table_name = 'aareg_employment' ORDER BY ordinal_position")]
    assert cols == ["person_id", "employer_id", "month", "fte_pct", "earnings_nok",
                    "_delivery", "_period", "_version", "_file", "_row", "_loaded_at"]
