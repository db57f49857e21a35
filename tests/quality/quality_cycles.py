"""Helpers of the quality-gate tests: the cycles' settings and inbox, injecting into a warehouse copy.

Three small cycles (generate -> ingest -> dbt build -> validate), scale 0.002, four months
(2017-12 .. 2018-03; first month 2017-12, middle 2018-02):

- ``clean_run``: generator defaults (its coding defects only);
- ``outage_run``: the ``diagnosis_outage`` defect (30 % invalid main diagnoses in 2017-12 at every
  trust), run through the ``workhealth run`` command so its exit code and output are checked;
- ``uncoded_run``: the ``uncoded_work_units`` defect (no work-related code in 2018-02).

Mart-level defects (a repeated key, a person-month with two states, ...) cannot come out of
dbt (its own tests would stop the build), so tests inject them into a *copy* of the clean
warehouse (``warehouse_copy``), rebuild the quality frames there (the dbt models of
``models/quality/``, as the build would after such a defect) and validate the copy.
"""

from __future__ import annotations


START, END, SCALE, SEED = "2017-12", "2018-03", 0.002, 11
FIRST, MIDDLE = "2017-12", "2018-02"


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
    rebuild_quality_frames(s)


def rebuild_quality_frames(s) -> None:
    """Rebuild the quality frames (dbt models of schema ``quality``) over the injected marts and raw rows.

    Runs the SQL dbt compiled for them in the clean build (copied next to the copy by the
    ``warehouse_copy`` fixture; both files are named wh.duckdb, so the compiled names resolve) as
    ``CREATE OR REPLACE TABLE``, which is what dbt's table materialisation does: the same
    result as ``dbt run --select path:models/quality`` without dbt's start-up (about 15 s)
    in every injection test.
    """
    import duckdb

    compiled = s.out / "dbt" / "target" / "compiled" / "workhealth" / "models" / "quality"
    models = sorted(compiled.glob("*.sql"))
    assert models, f"no compiled quality models under {compiled}"
    con = duckdb.connect(str(s.warehouse))
    try:
        for model in models:
            con.execute(f"CREATE OR REPLACE TABLE quality.{model.stem} AS (\n{model.read_text()}\n)")
    finally:
        con.close()
