"""Errors every command handles the same way (no duckdb import: the CLI starts fast)."""

from __future__ import annotations

#: The exit code of every ``workhealth`` command when the warehouse is held by another process.
EXIT_WAREHOUSE_BUSY = 6


class WarehouseBusy(RuntimeError):
    """Another process holds the DuckDB warehouse (one writer, and no reader beside it).

    Nothing was changed: a delivery stays in the inbox for the next run. A scheduler retries
    it like any infrastructure error; the command line exits with ``EXIT_WAREHOUSE_BUSY``.
    """

    def __init__(self, detail: str = ""):
        super().__init__("warehouse busy (held by another process): try again" + (f" ({detail})" if detail else ""))
