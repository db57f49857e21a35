"""The package layout shows the flow: stage packages import ``core`` and never each other."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "include" / "workhealth"
STAGES = ("ingest", "generate", "transform", "quality", "publish")


def _imported_workhealth_packages(path: Path) -> set[str]:
    """Second-level packages of every ``workhealth.<x>`` this module imports (at any depth)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if node.module == "workhealth"
                                     else [])
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "workhealth" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_stage_packages_import_only_core_and_themselves():
    offenders = []
    for stage in STAGES:
        for module in sorted((PACKAGE / stage).rglob("*.py")):
            foreign = _imported_workhealth_packages(module) - {"core", stage}
            if foreign:
                offenders.append(f"{module.relative_to(PACKAGE)} imports {sorted(foreign)}")
    assert not offenders, "\n".join(offenders)


def test_core_imports_no_stage():
    for module in sorted((PACKAGE / "core").rglob("*.py")):
        assert _imported_workhealth_packages(module) <= {"core"}, module


def test_the_package_root_holds_only_the_entry_points():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "cli.py", "pipeline.py"], loose
