"""The raw-register checks of the cross-sector registers (nav_measures, kpr_contacts).

Three accepted periods of each register replace whatever the clean cycle loaded: 2017-12 clean,
2018-01 with single coding defects (a measure type and a service outside their code lists),
2.6 % invalid ICPC-2 codes (above the 2 % threshold) and three times the contacts of the month before), 2018-02 with shares of
unlisted codes above the critical thresholds. The gate warns for 2018-01, names the register,
period and rows, withholds 2018 for 2018-02 and shows both registers in the quality report.
"""

from __future__ import annotations

import pytest

from quality_cycles import execute

pytestmark = pytest.mark.slow  # the clean cycle (shared session fixture)

PERIODS = ("2017-12", "2018-01", "2018-02")


def _deliveries(register: str) -> list[str]:
    """audit.deliveries rows (accepted) for the injected deliveries, modelled on an existing row."""
    return [
        f"""INSERT INTO audit.deliveries SELECT * REPLACE ('{register}_{p}_v1' AS delivery, '{register}' AS register,
                '{p}' AS period, 1 AS version, 'accepted' AS status,
                (SELECT count(*) FROM raw.{register} WHERE _delivery = '{register}_{p}_v1') AS rows_manifest,
                (SELECT count(*) FROM raw.{register} WHERE _delivery = '{register}_{p}_v1') AS rows_loaded,
                0 AS rows_quarantined)
            FROM audit.deliveries WHERE status = 'accepted' LIMIT 1"""
        for p in PERIODS]


def _measures(period: str, n: int, unknown: int) -> str:
    d = f"DATE '{period}-01'"
    return f"""INSERT INTO raw.nav_measures (spell_id, person_id, measure_type, start_date, end_date,
                   _delivery, _period, _version, _file, _row, _loaded_at)
               SELECT 'S{period}-' || i, lpad(printf('%x', i), 16, '0'),
                      CASE WHEN i <= {unknown} THEN 'ZZTILTAK' WHEN i % 10 = 0 THEN 'INDJOBSTOT' ELSE 'ARBTREN' END,
                      {d}, NULL, 'nav_measures_{period}_v1', '{period}', 1, 'nav_measures.csv', i, now()
               FROM range(1, {n} + 1) t(i)"""


def _contacts(period: str, n: int, unknown: int, bad_icpc2: int = 0) -> str:
    """``bad_icpc2`` (< 50) rows coded ICPC2 with codes that are not ICPC-2 codes."""
    d = f"DATE '{period}-01'"
    return f"""INSERT INTO raw.kpr_contacts (contact_id, person_id, contact_date, service, diagnosis_system,
                   diagnosis_code, _delivery, _period, _version, _file, _row, _loaded_at)
               SELECT 'K{period}-' || i, lpad(printf('%x', i), 16, '0'), {d},
                      CASE WHEN i > {n} - {unknown} THEN 'TANNLEGE' WHEN i % 20 = 0 THEN 'MENTAL_HEALTH' ELSE 'GP' END,
                      CASE WHEN i % 50 = 0 THEN 'ICD10' ELSE 'ICPC2' END,
                      CASE WHEN i <= {bad_icpc2} THEN ['L1', 'Q99', 'l03'][i % 3 + 1]
                           WHEN i % 50 = 0 THEN 'F32' ELSE 'L03' END,
                      'kpr_contacts_{period}_v1', '{period}', 1, 'kpr_contacts.csv', i, now()
               FROM range(1, {n} + 1) t(i)"""


def test_cross_sector_code_lists_icpc2_and_volumes(warehouse_copy):
    from workhealth.quality import validate

    s = warehouse_copy
    execute(
        s,
        "DELETE FROM raw.nav_measures", "DELETE FROM raw.kpr_contacts",
        "DELETE FROM audit.deliveries WHERE register IN ('nav_measures', 'kpr_contacts')",
        _measures("2017-12", 200, 0), _measures("2018-01", 200, 1), _measures("2018-02", 200, 20),
        _contacts("2017-12", 400, 0), _contacts("2018-01", 1200, 1, 30), _contacts("2018-02", 400, 40),
        *_deliveries("nav_measures"), *_deliveries("kpr_contacts"),
    )
    result = validate(s)
    found = {(f.expectation, f.register, f.period): f for f in result.findings}

    # single defects in 2018-01: warnings, with the rows named (pseudonymous ids and the codes)
    f = found[("measure_type_in_code_list", "nav_measures", "2018-01")]
    assert f.severity == "warning" and f.observed == pytest.approx(1 / 200)
    assert [r["measure_type"] for r in f.samples] == ["ZZTILTAK"]
    f = found[("service_in_code_list", "kpr_contacts", "2018-01")]
    assert f.severity == "warning" and f.observed == pytest.approx(1 / 1200)
    assert [r["service"] for r in f.samples] == ["TANNLEGE"]
    f = found[("kpr_icpc2_diagnosis_valid", "kpr_contacts", "2018-01")]
    icpc2_rows = 1200 - 1200 // 50
    assert f.severity == "warning" and f.observed == pytest.approx(30 / icpc2_rows)
    assert f.samples and {r["diagnosis_code"] for r in f.samples} <= {"L1", "Q99", "l03"}
    # the volume check covers the new registers (1200 contacts against 400 the month before)
    assert found[("volume_against_previous_period", "kpr_contacts", "2018-01")].observed == pytest.approx(3.0)
    assert ("volume_against_previous_period", "nav_measures", "2018-01") not in found
    assert not any(k[0].endswith("share_not_in_code_list") and k[2] == "2018-01" for k in found)
    assert not any(k[2] == "2017-12" and k[1] in ("nav_measures", "kpr_contacts") for k in found)

    # shares above the critical thresholds in 2018-02 (10 % of spells, 10 % of contacts)
    crit = {(f.expectation, f.register, f.period) for f in result.critical}
    assert {("measure_type_share_not_in_code_list", "nav_measures", "2018-02"),
            ("service_share_not_in_code_list", "kpr_contacts", "2018-02")} <= crit
    assert all(k[2] == "2018-02" for k in crit if k[1] in ("nav_measures", "kpr_contacts"))
    assert result.publishable and "2018" in result.withheld

    report = result.report_path.read_text(encoding="utf-8")
    assert 'id="cross-sector"' in report
    assert 'data-register="nav_measures"' in report and 'data-register="kpr_contacts"' in report
    assert "measure type not in code list" in report and "invalid ICPC-2 code" in report
    assert 'class="fail critical"' in report and 'class="fail warning"' in report
