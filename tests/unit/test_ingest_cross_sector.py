"""Ingestion of the cross-sector registers nav_measures and kpr_contacts (docs/ingestion.md): the
generic checks, quarantine and identity guard apply to them as to the original five."""

from __future__ import annotations

import dataclasses

import pytest

from ingest_helpers import deliver, query, rows
from workhealth.core import identity
from workhealth.ingest.load import ingest_delivery, ingest_inbox


@pytest.fixture
def s(workhealth_env):
    return dataclasses.replace(workhealth_env, quarantine_threshold=0.9)


def _reconciles(s, delivery: str, register: str) -> tuple[int, int]:
    m, loaded, quarantined = query(s, "SELECT rows_manifest, rows_loaded, rows_quarantined FROM audit.deliveries "
                                      "WHERE delivery = ?", [delivery])[0]
    raw = query(s, f"SELECT count(*) FROM raw.{register} WHERE _delivery = ?", [delivery])[0][0]
    assert loaded + quarantined == m and raw == loaded
    return loaded, quarantined


@pytest.mark.parametrize("register", ["nav_measures", "kpr_contacts"])
def test_both_registers_accepted_with_counts_reconciling(s, register):
    r = ingest_delivery(deliver(s.inbox, register, n=6), s)
    assert (r.status, r.rows_manifest, r.rows_loaded, r.rows_quarantined) == ("accepted", 6, 6, 0)
    assert _reconciles(s, f"{register}_2024-03_v1", register) == (6, 0)


def test_spell_that_ends_reappears_in_a_later_delivery_and_both_states_are_loaded(s):
    """nav_measures has no period column: a spell created in March reappears in May when it
    ends; both deliveries are accepted side by side (the newest delivered state wins in staging)."""
    march = rows("nav_measures", 3, "2024-03")
    may = [dict(march[1], end_date="2024-05-10"), rows("nav_measures", 1, "2024-05", start=7)[0]]
    deliver(s.inbox, "nav_measures", period="2024-03", rs=march)
    deliver(s.inbox, "nav_measures", period="2024-05", rs=may)
    assert [(r.delivery, r.status, r.rows_loaded) for r in ingest_inbox(s)] == [
        ("nav_measures_2024-03_v1", "accepted", 3), ("nav_measures_2024-05_v1", "accepted", 2)]
    got = query(s, "SELECT _delivery, CAST(start_date AS VARCHAR), CAST(end_date AS VARCHAR) FROM raw.nav_measures "
                   "WHERE spell_id = 'T00000001' ORDER BY _delivery")
    assert got == [("nav_measures_2024-03_v1", "2024-03-15", None), ("nav_measures_2024-05_v1", "2024-03-15", "2024-05-10")]


def test_unknown_measure_type_and_service_codes_are_loaded_not_quarantined(s):
    m = rows("nav_measures", 3)
    m[0]["measure_type"] = "TILTAK99"
    k = rows("kpr_contacts", 4)
    k[1]["service"] = "FYSIO"
    k[2]["diagnosis_code"] = "Q01"   # not an ICPC-2 code: a coding defect, loaded
    k[3].update(diagnosis_system="", diagnosis_code="")  # optional
    for register, rs in (("nav_measures", m), ("kpr_contacts", k)):
        r = ingest_delivery(deliver(s.inbox, register, rs=rs), s)
        assert (r.status, r.rows_loaded, r.rows_quarantined) == ("accepted", len(rs), 0)
    assert query(s, "SELECT measure_type FROM raw.nav_measures ORDER BY spell_id") == [
        ("TILTAK99",), ("INDJOBSTOT",), ("ARBTREN",)]
    assert query(s, "SELECT service, diagnosis_system, diagnosis_code FROM raw.kpr_contacts ORDER BY contact_id") == [
        ("GP", "ICPC2", "L03"), ("FYSIO", "ICPC2", "P76"), ("GP", "ICPC2", "Q01"), ("GP", None, None)]
    assert query(s, "SELECT count(*) FROM audit.quarantine")[0][0] == 0


def test_identity_number_in_a_kpr_diagnosis_code_is_a_privacy_breach(s):
    fnr = identity.make_identity_number(17, 5, 85, 123)
    rs = rows("kpr_contacts", 5)
    rs[2]["diagnosis_code"] = fnr
    folder = deliver(s.inbox, "kpr_contacts", rs=rs)
    r = ingest_delivery(folder, s)
    assert r.status == "rejected" and r.privacy_breach
    assert "row 3" in r.reason and "column diagnosis_code" in r.reason and fnr not in r.reason
    assert (s.restricted / folder.name).is_dir() and not folder.exists()
    assert query(s, "SELECT count(*) FROM raw.kpr_contacts")[0][0] == 0
    assert fnr not in repr(query(s, "SELECT * FROM audit.deliveries"))


def test_contact_dated_outside_the_period_is_quarantined(s):
    rs = rows("kpr_contacts", 5)
    rs[4]["contact_date"] = "2024-02-29"
    rs[1]["service"] = ""  # required
    folder = deliver(s.inbox, "kpr_contacts", rs=rs)
    r = ingest_delivery(folder, s)
    assert (r.status, r.rows_loaded, r.rows_quarantined) == ("accepted", 3, 2)
    assert query(s, 'SELECT "row", rule, column_name, value FROM audit.quarantine ORDER BY 1') == [
        (2, "missing_required", "service", None), (5, "outside_period", "contact_date", "2024-02-29")]
    assert _reconciles(s, folder.name, "kpr_contacts") == (3, 2)


def test_invalid_diagnosis_system_is_outside_its_domain(s):
    rs = rows("kpr_contacts", 3)
    rs[0]["diagnosis_system"] = "ICPC"
    r = ingest_delivery(deliver(s.inbox, "kpr_contacts", rs=rs), s)
    assert (r.rows_loaded, r.rows_quarantined) == (2, 1)
    assert query(s, 'SELECT "row", rule, column_name FROM audit.quarantine') == [(1, "outside_domain", "diagnosis_system")]
