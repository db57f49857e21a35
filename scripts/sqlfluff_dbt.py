"""Run sqlfluff (dbt templater, config in .sqlfluff) on the dbt project, isolated from any build.

Usage: ``python scripts/sqlfluff_dbt.py lint|fix [sqlfluff args] PATHS`` (``make lint``).

The dbt templater compiles the whole project, so it needs what ``workhealth.transform`` hands
every dbt run: the vars whose home is Python (``build_vars()``, e.g. the delivery contract).
sqlfluff's .sqlfluff (ini) format cannot hold those nested values, a ``pyproject.toml`` passed
with ``--config`` can. Warehouse, dbt target and logs go to a temporary folder, so linting never
opens the real warehouse (no lock taken) nor writes into dbt_project/target, and parallel runs
do not collide.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))


def toml_value(value) -> str:
    """A JSON-like value as a TOML inline value (JSON string escapes are valid TOML)."""
    if isinstance(value, dict):
        items = ", ".join(
            f"{k if re.fullmatch(r'[A-Za-z0-9_-]+', k) else json.dumps(k)} = {toml_value(v)}" for k, v in value.items()
        )
        return "{" + items + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def main(argv: list[str]) -> int:
    from workhealth.transform.dbt import build_vars

    with tempfile.TemporaryDirectory(prefix="sqlfluff-dbt-") as tmp:
        config = Path(tmp) / "pyproject.toml"
        lines = ["[tool.sqlfluff.templater.dbt.context]"]
        lines += [f"{name} = {toml_value(value)}" for name, value in build_vars().items()]
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = {
            **os.environ,
            "WORKHEALTH_WAREHOUSE": str(Path(tmp) / "lint.duckdb"),
            "DBT_TARGET_PATH": str(Path(tmp) / "target"),
            "DBT_LOG_PATH": str(Path(tmp) / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        }
        sqlfluff = Path(sys.executable).with_name("sqlfluff")
        cmd = [str(sqlfluff), *argv[:1], "--config", str(config), *argv[1:]]
        return subprocess.run(cmd, env=env, cwd=REPO).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
