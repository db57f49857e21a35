"""Codes outside their code lists are coding defects: loaded, measured and reported, never fatal.

One work-related episode at a health trust that is not in the code list, one episode with a
care level outside care_levels and two persons in municipalities without a listed county
(ABCD, 9999), put into a copy of the clean cycle's raw rows, then a real ``dbt build`` and the
quality gate: the build passes, the gate only warns (naming the trust and month), the trust is
its own row of coding_quality_monthly, its course publishes under UNKNOWN and the persons get
county UNKNOWN, never a made-up one.
"""

from __future__ import annotations

import duckdb
import pytest

pytestmark = pytest.mark.slow  # one dbt build of the small clean cycle

ACCEPTED = "(SELECT delivery FROM audit.deliveries WHERE status = 'accepted')"


def test_single_code_list_defects_are_counted_and_only_warn(warehouse_copy):
    from workhealth import transform
    from workhealth.quality import validate

    s = warehouse_copy
    con = duckdb.connect(str(s.warehouse))
    try:
        # a work-related episode ending in 2018-01 (so it makes a course before the horizon)
        [(trust_episode,), (care_episode,)] = con.execute(
            "SELECT episode_id FROM intermediate.int_episodes_classified WHERE is_work_related "
            "AND end_date >= DATE '2018-01-01' AND end_date < DATE '2018-02-01' ORDER BY episode_id LIMIT 2").fetchall()
        con.execute("UPDATE raw.npr_episodes SET health_trust = 'ZZZ', unit_id = 'ZZZ-1' WHERE episode_id = ?",
                    [trust_episode])
        con.execute("UPDATE raw.npr_episodes SET care_level = 9 WHERE episode_id = ?", [care_episode])
        persons = [p for (p,) in con.execute(
            f"SELECT person_id FROM raw.population WHERE _period = '2018-01' AND _delivery IN {ACCEPTED} "
            "ORDER BY person_id LIMIT 2").fetchall()]
        for person, municipality in zip(persons, ("ABCD", "9999")):
            con.execute("UPDATE raw.population SET municipality = ? WHERE person_id = ? AND _period = '2018-01'",
                        [municipality, person])
    finally:
        con.close()

    build = transform.build(s)
    assert build.ok, build.summary()
    result = validate(s)
    assert result.critical == [], result.withheld_reason()
    assert result.publishable and not result.withheld
    warned = {(f.expectation, f.period, f.health_trust or f.register) for f in result.findings}
    assert ("trust_not_in_code_list", "2018-01", "ZZZ") in warned
    assert {(e, p) for e, p, _ in warned} >= {("trust_unknown_care_level", "2018-01"),
                                              ("population_municipality_in_code_list", "2018-01")}
    assert all(f.severity == "warning" for f in result.findings if f.expectation in (
        "trust_not_in_code_list", "trust_unknown_care_level", "population_municipality_in_code_list"))
    report = result.report_path.read_text(encoding="utf-8")
    assert 'data-trust="ZZZ"' in report and "trust not in code list" in report

    con = duckdb.connect(str(s.warehouse), read_only=True)
    try:
        assert con.execute(
            "SELECT n_episodes, unknown_health_trust, n_unknown_health_trust, unknown_health_trust_rate "
            "FROM marts.coding_quality_monthly WHERE health_trust = 'ZZZ'").fetchall() == [(1, 1, 1, 1.0)]
        assert con.execute("SELECT sum(unknown_care_level) FROM marts.coding_quality_monthly "
                           "WHERE month = DATE '2018-01-01'").fetchone()[0] >= 1
        assert con.execute("SELECT health_trust, rhf FROM marts.fct_treatment_courses WHERE course_id = ?",
                           [trust_episode]).fetchall() == [("ZZZ", "UNKNOWN")]
        geo = {g for (g,) in con.execute("SELECT DISTINCT geo_code FROM publication.pub_courses").fetchall()}
        assert "UNKNOWN" in geo and "ZZZ" not in geo
        assert con.execute("SELECT municipality, county, rhf_of_residence FROM marts.dim_person "
                           "WHERE person_id IN (?, ?) ORDER BY municipality", persons).fetchall() == [
            ("9999", "UNKNOWN", "UNKNOWN"), ("ABCD", "UNKNOWN", "UNKNOWN")]
    finally:
        con.close()
