"""Adversarial: several real ``workhealth ingest`` processes started 0.1 s apart on one inbox. Each
delivery is claimed by one process (inbox/.claims), so every folder is handled exactly once and the
audit history says what happened to it: status, stored_at on disk, the privacy breach as such with
its files in restricted/, no ``manifest_missing`` over a real outcome; every process exits 0, 3
(something refused) or 6 (warehouse busy: the delivery stays for the next run), never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from ingest_helpers import deliver, query, rows  # noqa: E402

from workhealth.core import identity  # noqa: E402
from workhealth.core.errors import EXIT_WAREHOUSE_BUSY  # noqa: E402
from workhealth.ingest.inbox import scan_inbox  # noqa: E402

PROCESSES = 8
INGEST = [sys.executable, "-c", "from workhealth.cli import main; main()", "ingest"]


def test_concurrent_ingesters_handle_every_delivery_exactly_once(workhealth_env):
    s = workhealth_env
    accepted = {deliver(s.inbox, reg, n=5).name: 5 for reg in ("nav_aap", "nav_sickleave", "aareg_employment",
                                                                  "population")}
    rs = rows("npr_episodes", 4)
    rs[1]["secondary_diagnoses"] = f"M545,{identity.make_identity_number(1, 1, 85, 123)}"
    breach = deliver(s.inbox, "npr_episodes", rs=rs).name
    bad = deliver(s.inbox, "nav_disability", n=3)
    doc = json.loads((bad / "manifest.json").read_text())
    doc["files"][0]["rows"] = 7
    (bad / "manifest.json").write_text(json.dumps(doc))
    names = sorted([*accepted, breach, bad.name])

    procs = []
    for _ in range(PROCESSES):
        procs.append(subprocess.Popen(INGEST, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        time.sleep(0.1)
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    for code, out, err in outcomes:
        assert code in (0, 3, EXIT_WAREHOUSE_BUSY), (code, out, err)
        assert "Traceback" not in err and "manifest_missing" not in out, err
    if scan_inbox(s.inbox):  # every process found the warehouse busy for these: the next run takes them
        subprocess.run(INGEST, check=False, capture_output=True, timeout=120)
    assert scan_inbox(s.inbox) == []

    audit = {d: (st, pb, stored, reason) for d, st, pb, stored, reason in query(
        s, "SELECT delivery, status, privacy_breach, stored_at, reason FROM audit.deliveries")}
    assert sorted(audit) == names
    for name in accepted:
        st, pb, stored, _ = audit[name]
        assert (st, pb, Path(stored)) == ("accepted", False, s.archive / name) and Path(stored).is_dir()
    st, pb, stored, reason = audit[breach]
    assert (st, pb, Path(stored)) == ("rejected", True, s.restricted / breach) and Path(stored).is_dir()
    assert reason.startswith("privacy_breach")
    st, pb, stored, reason = audit[bad.name]
    assert (st, pb, Path(stored)) == ("rejected", False, s.rejected / bad.name) and Path(stored).is_dir()
    assert reason.startswith("row_count_mismatch")

    events = query(s, "SELECT delivery, event FROM audit.delivery_events")
    assert Counter(d for d, _ in events) == Counter(names), events  # one attempt each: handled once
    assert dict(events) == {**{n: "accepted" for n in accepted}, breach: "privacy_breach", bad.name: "rejected"}
    for reg, name in (("nav_aap", "nav_aap_2024-03_v1"), ("population", "population_2024-03_v1")):
        assert query(s, f"SELECT count(*) FROM raw.{reg}")[0][0] == accepted[name]
