"""The code lists (dbt_project/seeds/*.csv, copied from the spec) as plain Python rows."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from workhealth.core import settings as _settings


@lru_cache(maxsize=None)
def _read(directory: Path, name: str) -> tuple[dict, ...]:
    with (directory / f"{name}.csv").open(encoding="utf-8", newline="") as f:
        return tuple(csv.DictReader(f, delimiter=";"))


def load(name: str, directory: Path | None = None) -> tuple[dict, ...]:
    """Rows of code list ``name`` (e.g. ``"health_trusts"``) as dicts of strings."""
    return _read(directory or _settings.load().codelists_dir, name)
