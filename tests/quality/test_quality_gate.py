"""The quality gate on generated inboxes: clean passes, each critical rule blocks, warnings only warn."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from quality_cycles import FIRST, MIDDLE, execute

pytestmark = pytest.mark.slow

ID_COLUMNS = {"episode_id", "person_id", "course_id", "case_id", "certificate_id", "decision_id", "employer_id",
              "spell_id", "contact_id", "delivery", "row"}


def _critical(result) -> set[str]:
    return {f.expectation for f in result.critical}


def test_clean_inbox_passes_and_keeps_its_run(clean_run):
    s, report = clean_run
    q = report.quality
    assert q["publishable"], q["withheld_reason"]
    assert report.exit_code == 0
    assert not [f for f in q["findings"] if f["severity"] == "critical"]
    assert set(q["periods"]) >= {"2017-12", "2018-01", "2018-02", "2018-03"}
    assert set(q["periods"].values()) <= {"passed", "warning"}
    run_dir = s.out / "quality" / "history" / q["run_id"]
    kept = json.loads((run_dir / "result.json").read_text())
    assert kept["run_id"] == q["run_id"] and kept["publishable"] is True
    gx = json.loads((run_dir / "gx_validation_results.json").read_text())
    assert set(gx) == {"raw_registers", "coding_quality_national", "coding_quality_by_trust", "public_marts"}
    assert (s.out / "quality" / "index.html").exists()
    assert (s.out / "quality" / "data_docs" / "index.html").exists()
    assert list((s.out / "quality" / "data_docs" / "validations").rglob("*.html")), "GX rendered the validations"


def test_diagnosis_outage_withholds_its_year_and_says_why(outage_run):
    """A critical finding of one month (2017-12) withholds its year, not the release: published,
    exit code 7, the output names the year and the finding."""
    from workhealth import pipeline

    s, cli = outage_run
    assert cli.exit_code == pipeline.EXIT_YEARS_WITHHELD == 7, cli.output
    assert "publication withheld" not in cli.output
    assert "quality: publishable, year(s) 2017 withheld" in cli.output
    assert "year(s) withheld: 2017" in cli.output
    assert "withheld in this release (empty, flag withheld): year(s) 2017" in cli.output
    line = next(x for x in cli.output.splitlines() if "national_invalid_main_diagnosis_share" in x)
    assert FIRST in line and "invalid_main_diagnosis_rate = 0." in line and "at most 0.2" in line
    observed = float(re.search(r"invalid_main_diagnosis_rate = ([0-9.]+)", line).group(1))
    assert 0.25 < observed < 0.40, "about 30 % plus the usual defects"

    kept = json.loads((s.out / "quality" / "result.json").read_text())
    assert kept["publishable"] is True
    assert list(kept["withheld"]) == ["2017"]
    [why] = kept["withheld"]["2017"]
    assert why["check"] == "national_invalid_main_diagnosis_share" and why["period"] == FIRST
    assert why["observed"] == observed or abs(why["observed"] - observed) < 1e-3
    assert why["threshold"] == "at most 0.2"
    assert kept["periods"][FIRST] == "critical"
    assert all(kept["periods"][p] != "critical" for p in kept["periods"] if p != FIRST)
    finding = next(f for f in kept["findings"] if f["expectation"] == "national_invalid_main_diagnosis_share")
    assert finding["severity"] == "critical" and finding["period"] == FIRST and finding["observed"] > 0.2
    assert finding["samples"], "sample failing rows are fetched"
    for row in finding["samples"]:
        assert re.fullmatch(r"[0-9a-f]{16}", row["person_id"])
        assert row["main_diagnosis"] is None or not re.fullmatch(r"[A-Z][0-9]{2}[0-9A-Z]{0,2}", row["main_diagnosis"]) \
            or row["main_diagnosis"].startswith("XYZ")


def test_uncoded_work_units_only_warn_and_name_the_trusts(uncoded_run):
    s, report = uncoded_run
    q = report.quality
    assert q["publishable"], q["withheld_reason"]
    assert report.exit_code == 0
    gaps = [f for f in q["findings"] if f["expectation"] == "trust_work_unit_coding_gap" and f["period"] == MIDDLE]
    assert gaps, "at least one trust with work-unit episodes in the month is named"
    for f in gaps:
        assert f["severity"] == "warning"
        assert f["health_trust"] and f["health_trust"] in f["message"]
        assert f["observed"] > 0.15
    assert q["periods"][MIDDLE] == "warning"
    assert any(f["expectation"] == "national_work_unit_coding_gap" and f["period"] == MIDDLE for f in q["findings"])


def _period_row(s, sql: str) -> str:
    import duckdb

    con = duckdb.connect(str(s.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


ONE_PM = "(SELECT min(rowid) FROM marts.fct_person_month WHERE month = DATE '2018-01-01')"

# A course starting in 2018-01 for the course injections: at scale 0.002 (about 3 new courses a
# month) a month without one happens; moving the first course there (when January has none)
# keeps the injections independent of the realised data.
_COURSE_IN_JANUARY = [
    "UPDATE marts.fct_treatment_courses SET course_start = DATE '2018-01-10', "
    "course_end = greatest(course_end, DATE '2018-01-10') "
    "WHERE course_id = (SELECT min(course_id) FROM marts.fct_treatment_courses) AND NOT EXISTS ("
    "SELECT 1 FROM marts.fct_treatment_courses WHERE course_start >= DATE '2018-01-01' "
    "AND course_start < DATE '2018-02-01')"]


# check(s) expected critical, period, injection into the copy of the clean warehouse
CRITICAL_INJECTIONS = {
    "person_month_with_two_states": (
        {"person_month_key_unique", "one_state_per_person_month"}, "2018-01",
        ["INSERT INTO marts.fct_person_month BY NAME SELECT * REPLACE "
         "(CASE WHEN state = 'WORK' THEN 'NONE' ELSE 'WORK' END AS state) "
         f"FROM marts.fct_person_month WHERE rowid = {ONE_PM}"]),
    "person_month_without_state": (
        {"one_state_per_person_month"}, "2018-01", [f"DELETE FROM marts.fct_person_month WHERE rowid = {ONE_PM}"]),
    "state_outside_set": (
        {"states_in_their_set"}, "2018-01", [f"UPDATE marts.fct_person_month SET state = 'SICK' WHERE rowid = {ONE_PM}"]),
    "duplicate_course": (
        {"treatment_course_key_unique"}, "2018-01",
        [*_COURSE_IN_JANUARY, "INSERT INTO marts.fct_treatment_courses SELECT * FROM marts.fct_treatment_courses "
         "WHERE course_start >= DATE '2018-01-01' AND course_start < DATE '2018-02-01' ORDER BY course_id LIMIT 1"]),
    "duplicate_trajectory_row": (
        {"course_trajectory_key_unique"}, "2018-01",
        ["INSERT INTO marts.fct_course_trajectories SELECT * FROM marts.fct_course_trajectories "
         "WHERE month = DATE '2018-01-01' LIMIT 1"]),
    "duplicate_sick_leave_case": (
        {"sick_leave_case_key_unique"}, "2018-01",
        ["INSERT INTO marts.fct_sick_leave_cases SELECT * FROM marts.fct_sick_leave_cases "
         "WHERE case_start >= DATE '2018-01-01' AND case_start < DATE '2018-02-01' LIMIT 1"]),
    "duplicate_person": (
        {"person_key_unique"}, "2018-01",
        ["INSERT INTO marts.dim_person SELECT * FROM marts.dim_person WHERE snapshot_period = '2018-01' LIMIT 1"]),
    "duplicate_coding_quality_row": (
        {"coding_quality_key_unique"}, "2018-01",
        ["INSERT INTO marts.coding_quality_monthly SELECT * FROM marts.coding_quality_monthly "
         "WHERE month = DATE '2018-01-01' LIMIT 1"]),
    "share_above_one": (
        {"shares_between_0_and_1"}, "2018-01",
        ["UPDATE marts.coding_quality_monthly SET work_related_rate = 1.5 WHERE rowid = "
         "(SELECT min(rowid) FROM marts.coding_quality_monthly WHERE month = DATE '2018-01-01')"]),
    "raw_person_id_not_a_pseudonym": (
        {"person_id_format"}, "2018-01",
        ["UPDATE raw.nav_sickleave SET person_id = 'P-0001' WHERE rowid = "
         "(SELECT min(rowid) FROM raw.nav_sickleave WHERE _period = '2018-01')"]),
    "raw_row_outside_ingestion": (
        {"rows_match_delivery_log"}, "2018-01",
        ["DELETE FROM raw.nav_sickleave WHERE rowid = (SELECT min(rowid) FROM raw.nav_sickleave "
         "WHERE _period = '2018-01')"]),
    "raw_repeated_key": (
        {"keys_present_and_unique", "rows_match_delivery_log"}, "2018-01",
        ["INSERT INTO raw.npr_episodes SELECT * FROM raw.npr_episodes WHERE _period = '2018-01' LIMIT 1"]),
    "raw_value_outside_its_set": (
        {"values_in_their_sets"}, "2018-01",
        ["UPDATE raw.nav_sickleave SET grade = 0 WHERE rowid = "
         "(SELECT min(rowid) FROM raw.nav_sickleave WHERE _period = '2018-01')"]),
    "duplicate_measure_spell": (
        {"measure_spell_key_unique"}, "2018-01",
        ["INSERT INTO marts.fct_measure_spells SELECT * FROM marts.fct_measure_spells "
         "WHERE start_date >= DATE '2018-01-01' AND start_date < DATE '2018-02-01' LIMIT 1"]),
    "duplicate_primary_care_contact": (
        {"primary_care_contact_key_unique"}, "2018-01",
        ["INSERT INTO marts.fct_primary_care_contacts SELECT * FROM marts.fct_primary_care_contacts "
         "WHERE contact_date >= DATE '2018-01-01' AND contact_date < DATE '2018-02-01' LIMIT 1"]),
    # cross-sector code-list defects: every row of the month unlisted (far above the shares)
    "unknown_measure_types": (
        {"measure_type_share_not_in_code_list"}, "2018-01",
        ["UPDATE raw.nav_measures SET measure_type = 'NOSUCHCODE' WHERE _period = '2018-01'"]),
    "unknown_services": (
        {"service_share_not_in_code_list"}, "2018-01",
        ["UPDATE raw.kpr_contacts SET service = 'NOSUCHSERVICE' WHERE _period = '2018-01'"]),
    # code-list defects withhold only above their national share (10 % and 20 % here)
    "unknown_health_trust_share": (
        {"national_unknown_health_trust_share"}, "2018-01",
        ["UPDATE marts.coding_quality_monthly SET n_unknown_health_trust = n_episodes // 10 "
         "WHERE month = DATE '2018-01-01'"]),
    "unknown_care_level_share": (
        {"national_unknown_care_level_share"}, "2018-01",
        ["UPDATE marts.coding_quality_monthly SET n_unknown_care_level = n_episodes // 5 "
         "WHERE month = DATE '2018-01-01'"]),
}


#: The checks whose critical finding withholds the whole release (scope warehouse in the catalogue).
WAREHOUSE_WIDE = {"person_month_key_unique", "one_state_per_person_month", "states_in_their_set",
                  "treatment_course_key_unique", "course_trajectory_key_unique", "sick_leave_case_key_unique",
                  "person_key_unique", "coding_quality_key_unique", "measure_spell_key_unique",
                  "primary_care_contact_key_unique"}


@pytest.mark.parametrize("name", sorted(CRITICAL_INJECTIONS))
def test_each_critical_rule_blocks(name, warehouse_copy):
    """A warehouse-wide check withholds the whole release; any other the year of its period."""
    from workhealth.quality import validate

    expected, period, statements = CRITICAL_INJECTIONS[name]
    execute(warehouse_copy, *statements)
    result = validate(warehouse_copy)
    assert _critical(result) == expected, result.withheld_reason()
    assert {f.period for f in result.critical} == {period}
    assert result.periods[period] == "critical"
    if expected & WAREHOUSE_WIDE:
        assert not result.publishable and result.blocking
        assert result.withheld_reason().startswith("publication withheld")
    else:
        assert result.publishable and not result.blocking
        assert set(result.withheld) == {period[:4]}
        assert {w["check"] for w in result.withheld[period[:4]]} == expected
        assert result.withheld_reason().startswith(f"year(s) withheld: {period[:4]}")
    reason = result.withheld_reason()
    for check in expected:
        assert check in reason and period in reason
    for f in result.critical:
        for row in f.samples:
            assert set(row) <= ID_COLUMNS | {"health_trust", "course_start", "course_end", "month", "n_rows",
                                             "states", "state", "n_states", "care_level", "measure_type",
                                             "service", "start_date", "contact_date"}, row


# half the month's episodes at every trust carry the defect (counts of coding_quality_monthly)
_CQ = "UPDATE marts.coding_quality_monthly SET {0} = n_episodes // 2 WHERE month = DATE '2018-01-01'"
_JUMP = ("UPDATE marts.coding_quality_monthly SET n_invalid_main_diagnosis = n_invalid_main_diagnosis + "
         "n_episodes // 10 WHERE month = DATE '2018-01-01'")

# check expected to warn, its register (raw checks), period, injection into the copy
WARNING_INJECTIONS = {
    # a small delivery as ingestion would have loaded it: rows and the delivery log agree
    "volume_drop": ("volume_against_previous_period", "nav_sickleave", MIDDLE,
                    [f"DELETE FROM raw.nav_sickleave WHERE _period = '{MIDDLE}' AND hash(certificate_id) % 10 < 7",
                     "UPDATE audit.deliveries SET rows_loaded = (SELECT count(*) FROM raw.nav_sickleave WHERE "
                     f"_period = '{MIDDLE}') WHERE register = 'nav_sickleave' AND period = '{MIDDLE}' "
                     "AND status = 'accepted'"]),
    "nav_date_order": ("nav_date_order", "nav_aap", "2018-01",
                       ["UPDATE raw.nav_aap SET end_date = start_date - 5 WHERE rowid = "
                        "(SELECT min(rowid) FROM raw.nav_aap WHERE _period = '2018-01')"]),
    "unknown_units": ("npr_unit_of_the_trust", "npr_episodes", "2018-01",
                      ["UPDATE raw.npr_episodes SET unit_id = 'UKJENT' WHERE _period = '2018-01' "
                       "AND hash(episode_id) % 10 = 0"]),
    "missing_referrals": ("national_missing_referral_share", None, "2018-01", [_CQ.format("n_missing_referral")]),
    "missing_referrals_per_trust": ("trust_missing_referral", None, "2018-01", [_CQ.format("n_missing_referral")]),
    "referral_after_start": ("national_referral_after_start_share", None, "2018-01",
                             [_CQ.format("n_referral_after_start")]),
    "end_before_start": ("national_end_before_start_share", None, "2018-01", [_CQ.format("n_end_before_start")]),
    # a rise of invalid diagnoses to about 11 %: far below the critical 20 %, but a jump
    "invalid_diagnosis_jump": ("national_invalid_main_diagnosis_change", None, "2018-01", [_JUMP]),
    "invalid_diagnosis_per_trust": ("trust_invalid_main_diagnosis", None, "2018-01", [_JUMP]),
    # one episode with a code outside its code list: named, never withheld
    "one_unknown_trust_episode": ("trust_not_in_code_list", None, "2018-01",
                                  ["UPDATE marts.coding_quality_monthly SET n_unknown_health_trust = 1 WHERE rowid = "
                                   "(SELECT min(rowid) FROM marts.coding_quality_monthly "
                                   "WHERE month = DATE '2018-01-01')"]),
    "one_unknown_care_level": ("trust_unknown_care_level", None, "2018-01",
                               ["UPDATE marts.coding_quality_monthly SET n_unknown_care_level = 1 WHERE rowid = "
                                "(SELECT min(rowid) FROM marts.coding_quality_monthly WHERE month = DATE '2018-01-01')"]),
    "unknown_municipality": ("population_municipality_in_code_list", "population", "2018-01",
                             ["UPDATE raw.population SET municipality = 'ABCD' WHERE rowid = "
                              "(SELECT min(rowid) FROM raw.population WHERE _period = '2018-01')"]),
    "course_end_before_start": ("course_end_not_before_start", None, "2018-01",
                                [*_COURSE_IN_JANUARY, "UPDATE marts.fct_treatment_courses SET course_end = course_start - 3 WHERE course_id = "
                                 "(SELECT min(course_id) FROM marts.fct_treatment_courses WHERE course_start >= "
                                 "DATE '2018-01-01' AND course_start < DATE '2018-02-01')"]),
}


def test_every_warning_only_warns(warehouse_copy):
    """Every warning injection into one copy, one validation (each costs seconds of GX on the
    2-core CI machine): nothing is withheld, and each injected check warns, for its period and
    register. Injections that share a statement run it once (the same defect, two checks)."""
    from workhealth.quality import validate

    statements = list(dict.fromkeys(s for *_, stmts in WARNING_INJECTIONS.values() for s in stmts))
    execute(warehouse_copy, *statements)
    result = validate(warehouse_copy)
    assert result.publishable and result.critical == [], result.withheld_reason()
    missing = []
    for name, (check, register, period, _) in sorted(WARNING_INJECTIONS.items()):
        hits = [f for f in result.findings if f.expectation == check and f.period == period]
        # the injected register warns; another may warn of its own in the clean warehouse too
        # (a small generated register's volume swings month to month)
        if not hits or (register and register not in {f.register for f in hits}):
            missing.append((name, check, period, register))
        assert all(f.severity == "warning" for f in hits), (name, [f.message for f in hits])
        assert result.periods[period] == "warning", (name, period, result.periods[period])
    assert missing == [], (missing, sorted({(f.expectation, f.period) for f in result.findings}))


def test_every_check_of_the_catalogue_is_exercised_here():
    from workhealth.quality import catalogue

    checks = [c for suite in catalogue.load().suites for c in suite.checks]
    critical = {c.name for c in checks if c.severity == "critical"}
    warning = {c.name for c in checks if c.severity == "warning"}
    blocked = set().union(*(e for e, _, _ in CRITICAL_INJECTIONS.values())) | {"national_invalid_main_diagnosis_share"}
    # the cross-sector registers' code-list warnings: tests/quality/test_cross_sector_quality.py
    warned = {c for c, _, _, _ in WARNING_INJECTIONS.values()} | {
        "trust_work_unit_coding_gap", "national_work_unit_coding_gap", "measure_type_in_code_list",
        "service_in_code_list", "kpr_icpc2_diagnosis_valid"}
    assert critical == blocked
    assert warning == warned


def test_a_warehouse_wide_finding_withholds_the_whole_release(warehouse_copy, monkeypatch):
    """A repeated course key (a mart key not unique) in one month: nothing is published. The
    Airflow gate task fails (publish never runs), ``workhealth run`` exits 5, publish() refuses."""
    import sys

    from workhealth import pipeline
    from workhealth.publish import publish
    from workhealth.quality import validate

    expected, _, statements = CRITICAL_INJECTIONS["duplicate_course"]
    execute(warehouse_copy, *statements)
    result = validate(warehouse_copy)
    assert not result.publishable and _critical(result) == expected
    assert [f.scope for f in result.blocking] == ["warehouse"] and result.withheld == {}
    quality = {**result.to_dict(), "withheld_reason": result.withheld_reason()}
    report = pipeline.RunReport(build={"ok": True}, quality=quality)
    assert report.exit_code == pipeline.EXIT_PUBLICATION_WITHHELD == 5
    with pytest.raises(ValueError, match="publication withheld"):
        publish(warehouse_copy, quality, dictionary=lambda s, models: None)

    from airflow.sdk.exceptions import AirflowFailException

    plugins = str(Path(__file__).resolve().parents[2] / "plugins")
    if plugins not in sys.path:
        sys.path.insert(0, plugins)  # as Airflow does with its plugins folder
    from workhealth_airflow import quality as gate

    monkeypatch.setenv("WORKHEALTH_WAREHOUSE", str(warehouse_copy.warehouse))
    monkeypatch.setenv("WORKHEALTH_OUT", str(warehouse_copy.out))
    with pytest.raises(AirflowFailException, match="publication withheld: 1 warehouse-wide") as failed:
        gate.validate()
    assert "treatment_course_key_unique" in str(failed.value)


def test_a_critical_finding_after_the_horizon_withholds_nothing(warehouse_copy):
    """NAV delivers sick-leave certificates of 2018-04 before the other registers (the horizon
    stays 2018-03), one with a grade outside its set: the finding is critical and reported, and
    withholds nothing."""
    from workhealth.quality import validate

    nav = "nav_sickleave"
    execute(warehouse_copy,
            f"INSERT INTO audit.deliveries SELECT * REPLACE (replace(delivery, '2018-03', '2018-04') AS delivery, "
            f"'2018-04' AS period) FROM audit.deliveries WHERE register = '{nav}' AND period = '2018-03' "
            "AND status = 'accepted'",
            f"INSERT INTO raw.{nav} SELECT * REPLACE ('2018-04' AS _period, replace(_delivery, '2018-03', '2018-04') "
            f"AS _delivery, certificate_id || '-04' AS certificate_id) FROM raw.{nav} WHERE _period = '2018-03' AND _delivery IN "
            f"(SELECT delivery FROM audit.deliveries WHERE register = '{nav}' AND status = 'accepted')",
            f"UPDATE raw.{nav} SET grade = 0 WHERE rowid = (SELECT min(rowid) FROM raw.{nav} "
            "WHERE _period = '2018-04')")
    result = validate(warehouse_copy)
    assert result.horizon == "2018-03"
    late = [f for f in result.critical if f.period == "2018-04"]
    assert {f.expectation for f in late} == {"values_in_their_sets"}, result.withheld_reason()
    assert result.periods["2018-04"] == "critical", "checked and reported"
    assert result.after_horizon == late
    assert result.publishable and result.withheld == {}, "withholds nothing"
    assert "after the horizon 2018-03" in result.withheld_reason()
    assert result.to_dict()["withheld"] == {}
