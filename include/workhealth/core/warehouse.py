"""The DuckDB warehouse: opening it and the ``raw`` / ``audit`` schemas ingestion writes.

Layout (docs/ingestion.md):

- ``raw.<register>``: the contract columns in contract order, typed per ``DUCKDB_TYPES``
  (month -> DATE, first day of the month), plus lineage ``_delivery``, ``_period``,
  ``_version``, ``_file``, ``_row`` (1-based data row in its file) and ``_loaded_at``. Rows of
  superseded versions stay; consumers keep rows whose ``_delivery`` is ``accepted`` in
  ``audit.deliveries``.
- ``audit.deliveries``: one row per delivery folder (its latest outcome).
- ``audit.quarantine``: the rows of accepted deliveries that were not loaded, with the rule.
- ``audit.delivery_events``: every attempt, replays included.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from workhealth.core.errors import WarehouseBusy
from workhealth.core.registers import DUCKDB_TYPES, REGISTERS
from workhealth.core.settings import Settings

LINEAGE_COLUMNS = (
    ("_delivery", "VARCHAR"),
    ("_period", "VARCHAR"),
    ("_version", "INTEGER"),
    ("_file", "VARCHAR"),
    ("_row", "BIGINT"),
    ("_loaded_at", "TIMESTAMP"),
)


def connect(s: Settings, read_only: bool = False, path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (``s.warehouse``, or another DuckDB file such as a snapshot at ``path``)
    with the settings' ``memory_limit``, ``threads`` and a ``temp_directory`` (``<file>.tmp/``
    next to the file, created by DuckDB only when it spills). A writer creates the file's folder.
    Raises ``WarehouseBusy`` when another process holds the file's lock.
    """
    path = Path(path if path is not None else s.warehouse)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "memory_limit": s.duckdb_memory_limit,
        "threads": int(s.duckdb_threads),
        "temp_directory": str(path.parent / (path.name + ".tmp")),
    }
    try:
        return duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.IOException as exc:
        if is_lock_conflict(str(exc)):
            raise WarehouseBusy(str(path)) from None
        raise


def is_lock_conflict(message: str) -> bool:
    """DuckDB's message when another process holds the file (also in dbt's output)."""
    return "Could not set lock on file" in message


def raw_table_ddl(register: str) -> str:
    reg = REGISTERS[register]
    cols = [f'"{c.name}" {DUCKDB_TYPES[c.type]}' for c in reg.columns]
    cols += [f"{name} {typ}" for name, typ in LINEAGE_COLUMNS]
    return f"CREATE TABLE IF NOT EXISTS raw.{register} (\n  " + ",\n  ".join(cols) + "\n)"


AUDIT_DDL = (
    """CREATE TABLE IF NOT EXISTS audit.deliveries (
  delivery VARCHAR PRIMARY KEY,
  register VARCHAR,
  period VARCHAR,
  version INTEGER,
  status VARCHAR NOT NULL,          -- accepted | rejected | superseded
  reason VARCHAR,
  manifest_sha256 VARCHAR,
  produced_at VARCHAR,
  schema_version INTEGER,
  rows_manifest BIGINT,
  rows_loaded BIGINT,
  rows_quarantined BIGINT,
  privacy_breach BOOLEAN NOT NULL DEFAULT false,
  superseded_by VARCHAR,
  received_at TIMESTAMP,
  processed_at TIMESTAMP,
  stored_at VARCHAR
)""",
    """CREATE TABLE IF NOT EXISTS audit.quarantine (
  delivery VARCHAR NOT NULL,
  register VARCHAR NOT NULL,
  file VARCHAR NOT NULL,
  "row" BIGINT NOT NULL,
  rule VARCHAR NOT NULL,
  column_name VARCHAR,
  value VARCHAR,
  record VARCHAR
)""",
    """CREATE TABLE IF NOT EXISTS audit.delivery_events (
  delivery VARCHAR NOT NULL,
  event VARCHAR NOT NULL,
  "at" TIMESTAMP NOT NULL,
  detail VARCHAR
)""",
)


def ensure_schemas(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the ``raw`` and ``audit`` schemas and tables if they do not exist (idempotent)."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    conn.execute("CREATE SCHEMA IF NOT EXISTS audit")
    for ddl in AUDIT_DDL:
        conn.execute(ddl)
    for register in REGISTERS:
        conn.execute(raw_table_ddl(register))
