"""The check catalogue: thresholds.yml is the one place a threshold is set."""

from __future__ import annotations

import shutil

import pytest
import yaml

from workhealth.quality import catalogue

DIR = catalogue.EXPECTATIONS_DIR


def _walk(value, path=""):
    """Every leaf of a YAML document with its path."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, value


def test_every_number_in_a_suite_is_a_reference_and_every_threshold_is_used():
    thresholds = yaml.safe_load((DIR / "thresholds.yml").read_text())
    defined = {f"{section}.{name}" for section, entries in thresholds.items() for name in entries}
    assert defined, "thresholds.yml defines thresholds"
    referenced = set()
    suites = [p for p in sorted(DIR.glob("*.yml")) if p.name != "thresholds.yml"]
    assert {p.stem for p in suites} >= {"raw_registers", "coding_quality_national", "coding_quality_by_trust",
                                        "public_marts"}
    for path in suites:
        for where, value in _walk(yaml.safe_load(path.read_text())):
            if where.endswith(".threshold"):
                assert value in defined, f"{path.name} {where}: {value!r} is not in thresholds.yml"
                referenced.add(value)
            else:
                assert isinstance(value, bool) or not isinstance(value, (int, float)), \
                    f"{path.name} {where}: the number {value} must live in thresholds.yml"
    assert referenced == defined, f"unused thresholds: {sorted(defined - referenced)}"


def test_every_check_has_a_severity_and_the_required_criticals_exist():
    cat = catalogue.load()
    checks = {c.name: c for s in cat.suites for c in s.checks}
    assert all(c.severity in ("critical", "warning") for c in checks.values())
    assert checks["national_invalid_main_diagnosis_share"].severity == "critical"
    assert checks["national_invalid_main_diagnosis_share"].kwargs["max_value"] == 0.20
    for key_check in ("person_month_key_unique", "treatment_course_key_unique", "course_trajectory_key_unique",
                      "sick_leave_case_key_unique", "person_key_unique", "coding_quality_key_unique",
                      "measure_spell_key_unique", "primary_care_contact_key_unique", "one_state_per_person_month"):
        assert checks[key_check].severity == "critical", key_check
    assert checks["trust_work_unit_coding_gap"].severity == "warning"


def test_the_warehouse_wide_checks_are_the_mart_keys_and_the_person_month_states():
    """A critical finding of these withholds the whole release; of any other, the year of its period."""
    scopes = {c.name: c.scope for s in catalogue.load().suites for c in s.checks}
    assert set(scopes.values()) == {"period", "warehouse"}
    assert {name for name, scope in scopes.items() if scope == "warehouse"} == {
        "person_month_key_unique", "treatment_course_key_unique", "course_trajectory_key_unique",
        "sick_leave_case_key_unique", "person_key_unique", "coding_quality_key_unique",
        "measure_spell_key_unique", "primary_care_contact_key_unique", "one_state_per_person_month",
        "states_in_their_set"}


@pytest.mark.parametrize("edit, message", [
    (lambda t, s: (t, s.replace("{threshold: public_marts.max_duplicate_keys}", "0", 1)), "must live in|is the number"),
    (lambda t, s: (t + "\nextra:\n  unused_limit: 3\n", s), "not used by any suite"),
    (lambda t, s: (t, s.replace("public_marts.max_duplicate_keys", "public_marts.no_such_limit", 1)), "unknown threshold"),
    (lambda t, s: (t, s.replace("severity: critical", "severity: blocker", 1)), "severity must be"),
    (lambda t, s: (t, s.replace("scope: warehouse", "scope: everything", 1)), "scope must be"),
])
def test_a_broken_catalogue_is_refused_with_a_clear_message(tmp_path, edit, message):
    shutil.copytree(DIR, tmp_path / "expectations")
    thresholds, suite = tmp_path / "expectations" / "thresholds.yml", tmp_path / "expectations" / "public_marts.yml"
    t, s = edit(thresholds.read_text(), suite.read_text())
    thresholds.write_text(t)
    suite.write_text(s)
    with pytest.raises(catalogue.CatalogueError, match=message):
        catalogue.load(tmp_path / "expectations")


def test_validating_a_warehouse_without_marts_says_what_is_missing(tmp_path):
    import dataclasses

    import duckdb

    from workhealth.core import settings
    from workhealth.quality import validate

    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    s = dataclasses.replace(settings.load(), warehouse=tmp_path / "empty.duckdb", out=tmp_path / "out")
    with pytest.raises(RuntimeError, match="lacks .*marts.fct_person_month.*dbt build"):
        validate(s)


def test_the_coding_rates_the_catalogue_checks_come_from_the_one_rate_list():
    """The coding suites check columns of the dbt frames built from var('coding_quality_rates')."""
    from workhealth.core.definitions import CODING_QUALITY_FRAME_RATES, CODING_QUALITY_RATES
    from workhealth.quality import frames

    assert len(CODING_QUALITY_RATES) == len(CODING_QUALITY_FRAME_RATES) == 9
    assert set(frames.WILSON_RATES) <= set(CODING_QUALITY_FRAME_RATES)
    known = (set(CODING_QUALITY_FRAME_RATES) | {f"{r}_lower" for r in frames.WILSON_RATES}
             | {"invalid_main_diagnosis_rate_abs_change"})
    checked = {c.column for s in catalogue.load().suites if s.frame.startswith("coding_quality") for c in s.checks}
    assert checked and checked <= known
