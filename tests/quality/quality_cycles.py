"""Helpers of the quality-gate tests: the cycles' settings and inbox, injecting into a warehouse copy.

Three small cycles (generate -> ingest -> dbt build -> validate), scale 0.002, four months
(2017-12 .. 2018-03; first month 2017-12, middle 2018-02):

- ``clean_run``: generator defaults (its coding defects only);
- ``outage_run``: the ``diagnosis_outage`` defect (30 % invalid main diagnoses in 2017-12 at every
  trust), run through the ``workhealth run`` command so its exit code and output are checked;
- ``uncoded_run``: the ``uncoded_work_units`` defect (no work-related code in 2018-02).

Mart-level defects (a repeated key, a person-month with two states, ...) cannot come out of
dbt (its own tests would stop the build), so tests inject them into a *copy* of the clean
warehouse (``warehouse_copy``) and validate the copy.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

START, END, SCALE, SEED = "2017-12", "2018-03", 0.002, 11
FIRST, MIDDLE = "2017-12", "2018-02"


def cycle_settings(root: Path):
    from workhealth.core import settings

    return dataclasses.replace(
        settings.load(), inbox=root / "inbox", warehouse=root / "warehouse" / "wh.duckdb", out=root / "out",
        archive=root / "archive", rejected=root / "rejected", restricted=root / "restricted")


def _generate(s, defects=()):
    from workhealth.generate import generate

    generate(s.inbox, start=START, end=END, scale=SCALE, seed=SEED, defects=list(defects))



def execute(s, *statements: str) -> None:
    import duckdb

    con = duckdb.connect(str(s.warehouse))
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()
