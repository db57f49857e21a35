"""Codes outside their code lists are coding defects: loaded as delivered, never quarantined
(docs/ingestion.md). Only a value outside its type's own domain quarantines a row."""

from __future__ import annotations

from ingest_helpers import deliver, query, rows
from workhealth.ingest.load import ingest_delivery


def test_npr_codes_outside_their_code_lists_are_loaded(workhealth_env):
    s = workhealth_env
    rs = rows("npr_episodes", 4)
    rs[0].update(care_level="4")                                 # not in care_levels
    rs[1].update(health_trust="ZZZ", unit_id="ZZZ-1")             # trust not in health_trusts
    rs[2].update(health_trust="AHUS", unit_id="OUS-HOA1")         # a unit of another trust
    r = ingest_delivery(deliver(s.inbox, "npr_episodes", rs=rs), s)
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("accepted", 4, 0)
    assert query(s, "SELECT episode_id, health_trust, unit_id, care_level FROM raw.npr_episodes ORDER BY 1") == [
        ("E00000000", "HF01", "U1", 4), ("E00000001", "ZZZ", "ZZZ-1", 3), ("E00000002", "AHUS", "OUS-HOA1", 3),
        ("E00000003", "HF01", "U1", 3)]


def test_municipalities_outside_the_counties_are_loaded(workhealth_env):
    s = workhealth_env
    rs = rows("population", 3)
    rs[0].update(municipality="ABCD")
    rs[1].update(municipality="9999")
    r = ingest_delivery(deliver(s.inbox, "population", period="2024-01", rs=rs), s)
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("accepted", 3, 0)
    assert [m for (m,) in query(s, "SELECT municipality FROM raw.population ORDER BY person_id")] == [
        "ABCD", "9999", "0301"]
