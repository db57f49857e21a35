"""The delivery contract of ``workhealth.core.registers`` as SQL conditions over ``raw`` rows.

Ingestion checks the contract row by row in Python; after loading, the quality gate re-checks
the accepted rows in SQL: the dbt model ``quality.raw_register_periods`` counts them per
register and period (it receives these conditions as ``var('raw_register_contract')`` from
``workhealth.transform``) and the gate's sample rows select them. One source for both: the
registers' key and domain definitions.
"""

from __future__ import annotations

from workhealth.core.registers import PERSON_ID_PATTERN, REGISTERS

#: person_id as a pseudonym (registers.PERSON_ID_PATTERN), for DuckDB's regexp functions.
PERSON_ID_REGEX = PERSON_ID_PATTERN.pattern


def sql_literal(v) -> str:
    """A string or number as a DuckDB literal."""
    return "'" + str(v).replace("'", "''") + "'" if isinstance(v, str) else str(v)


def outside_value_set(register: str) -> str:
    """A row has a value outside its column's own type domain (sex, grade, fte_pct,
    diagnosis_system). Codes outside a code list (health trust, care level, unit, municipality)
    are coding defects, loaded and measured elsewhere (docs/quality.md), not counted here."""
    parts = []
    for c in REGISTERS[register].columns:
        if c.domain is None:
            continue
        q = f'"{c.name}"'
        if isinstance(c.domain, tuple):
            lo, hi = c.domain
            parts.append(f"({q} IS NOT NULL AND {q} NOT BETWEEN {lo} AND {hi})")
        else:
            parts.append(f"({q} IS NOT NULL AND {q} NOT IN ({', '.join(sql_literal(v) for v in sorted(c.domain))}))")
    return " OR ".join(parts) or "false"


def dbt_vars() -> dict:
    """``var('raw_register_contract')`` of the dbt project: per register its key and value-set condition."""
    return {"raw_register_contract": {
        "person_id_regex": PERSON_ID_REGEX,
        "registers": {name: {"key": list(r.key), "outside_value_set": outside_value_set(name)}
                      for name, r in REGISTERS.items()}}}


if __name__ == "__main__":  # the --vars of a dbt run outside workhealth (dbt_project/README.md)
    import json

    print(json.dumps(dbt_vars()))
