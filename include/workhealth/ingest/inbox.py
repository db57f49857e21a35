"""Finding delivery folders in the inbox (docs/ingestion.md, the inbox layout)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workhealth.core.registers import MANIFEST, parse_name


@dataclass(frozen=True)
class InboxFolder:
    name: str
    path: Path
    #: ``ready`` (manifest present), ``waiting`` (no manifest yet: still arriving) or
    #: ``invalid_name`` (manifest present but the folder name is not ``<register>_<YYYY-MM>_v<N>``).
    state: str
    register: str | None = None
    period: str | None = None
    version: int | None = None


def folder_state(path: Path) -> InboxFolder:
    parsed = parse_name(path.name)
    has_manifest = (path / MANIFEST).is_file()
    if parsed is None:
        # A folder with a bad name is only judged once its manifest has arrived: while it is
        # still being copied it is left alone like any other arriving folder.
        return InboxFolder(path.name, path, "invalid_name" if has_manifest else "waiting")
    register, period, version = parsed
    return InboxFolder(path.name, path, "ready" if has_manifest else "waiting", register, period, version)


def scan_inbox(inbox: Path) -> list[InboxFolder]:
    """Every delivery folder in ``inbox`` with its state, sorted by (register, period, version).

    Hidden folders (``.name``) and files are ignored; folders with invalid names sort last.
    A missing inbox is an empty one.
    """
    inbox = Path(inbox)
    if not inbox.is_dir():
        return []
    folders = [folder_state(p) for p in inbox.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))]
    return sorted(
        folders,
        key=lambda f: (f.register is None, f.register or "", f.period or "", f.version or 0, f.name),
    )
