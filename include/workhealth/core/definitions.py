"""The constants of the definitions, read from the one place they are set: ``vars`` in
``dbt_project/dbt_project.yml`` (docs/definitions.md).

The dbt models read them with ``var()``; Python code (publishing, the report, the reference
re-implementations in the tests) reads them here, so a changed gap or window changes both.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from workhealth.core.settings import REPO_ROOT


@lru_cache(maxsize=None)
def dbt_vars(project_dir: Path = REPO_ROOT / "dbt_project") -> dict:
    """The ``vars`` block of ``dbt_project.yml`` as a dict."""
    import yaml

    with (project_dir / "dbt_project.yml").open(encoding="utf-8") as f:
        return dict(yaml.safe_load(f)["vars"])


_V = dbt_vars()
#: The declared version of the definitions, published with every release.
DEFINITIONS_VERSION: str = str(_V["definitions_version"])
SICK_LEAVE_CHAIN_GAP_DAYS: int = int(_V["sick_leave_chain_gap_days"])
COURSE_CHAIN_GAP_DAYS: int = int(_V["course_chain_gap_days"])
ERA_CHANGE_DATE: date = date.fromisoformat(str(_V["era_change_date"]))
FOLLOW_UP_MONTHS: tuple[int, ...] = tuple(int(k) for k in _V["follow_up_months"])
#: The follow-up month of the health-related-benefit flag (one of FOLLOW_UP_MONTHS).
HRB_FOLLOW_UP_MONTH: int = int(_V["hrb_follow_up_month"])
#: Offsets of the trajectory window, first to last inclusive (a ``range``).
TRAJECTORY_OFFSETS: range = range(int(_V["trajectory_first_offset"]), int(_V["trajectory_last_offset"]) + 1)
#: The coding-quality rates: name -> (numerator, denominator), counts of coding_quality_monthly.
CODING_QUALITY_RATES: dict[str, tuple[str, str]] = {
    r["name"]: (r["numerator"], r["denominator"]) for r in _V["coding_quality_rates"]}
#: The same rates by the column names of the quality frames (``frame_name`` where it differs).
CODING_QUALITY_FRAME_RATES: dict[str, tuple[str, str]] = {
    r.get("frame_name") or r["name"]: (r["numerator"], r["denominator"]) for r in _V["coding_quality_rates"]}
#: The states of a person-month in fct_person_month, in the published column order.
PERSON_MONTH_STATES: tuple[str, ...] = tuple(_V["person_month_states"])
