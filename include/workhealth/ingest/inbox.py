"""Finding deliveries in the inbox, and claiming one (docs/ingestion.md, the inbox layout).

Only ``lstat`` is used here: a symbolic link in the inbox is listed as a link and never
followed, so nothing outside the inbox is looked at.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from workhealth.core.registers import MANIFEST, parse_name

#: Hidden folder of the inbox holding one lock file per delivery being handled.
CLAIMS = ".claims"


@dataclass(frozen=True)
class InboxFolder:
    name: str
    path: Path
    #: ``ready`` (to be judged now: a delivery folder with its manifest, or a symbolic link or a
    #: plain file named like a delivery, which are refused at once), ``waiting`` (no manifest yet:
    #: still arriving) or ``invalid_name`` (manifest present, or a symbolic link, but the name is
    #: not ``<register>_<YYYY-MM>_v<N>``).
    state: str
    register: str | None = None
    period: str | None = None
    version: int | None = None
    #: ``folder``, ``symlink`` (to anything; never followed) or ``file`` (a plain file named like a
    #: delivery, e.g. ``npr_episodes_2024-03_v1`` or ``npr_episodes_2024-03_v1.zip``).
    kind: str = "folder"
    #: (st_dev, st_ino) when scanned: a claim checks the entry is still the same one.
    ident: tuple[int, int] | None = None


def delivery_like(name: str) -> tuple[str, str, int] | None:
    """``parse_name`` of the name, or of the name without its extension(s)."""
    return parse_name(name) or parse_name(name.split(".", 1)[0])


def folder_state(path: Path, st: os.stat_result | None = None) -> InboxFolder | None:
    """The entry ``path`` of the inbox as a delivery, or None when it is not one (a plain file
    whose name is not a delivery name: a README, say)."""
    path = Path(path)
    st = st or os.lstat(path)
    ident = (st.st_dev, st.st_ino)
    parsed = parse_name(path.name)
    if stat.S_ISLNK(st.st_mode):
        p = delivery_like(path.name)
        return InboxFolder(path.name, path, "ready" if p else "invalid_name", *(p or (None, None, None)),
                           kind="symlink", ident=ident)
    if not stat.S_ISDIR(st.st_mode):
        p = delivery_like(path.name)
        return None if p is None else InboxFolder(path.name, path, "ready", *p, kind="file", ident=ident)
    has_manifest = os.path.lexists(path / MANIFEST)
    if parsed is None:
        # A folder with a bad name is only judged once its manifest has arrived: while it is
        # still being copied it is left alone like any other arriving folder.
        return InboxFolder(path.name, path, "invalid_name" if has_manifest else "waiting", ident=ident)
    register, period, version = parsed
    return InboxFolder(path.name, path, "ready" if has_manifest else "waiting", register, period, version,
                       ident=ident)


def scan_inbox(inbox: Path) -> list[InboxFolder]:
    """Every delivery in ``inbox`` with its state, sorted by (register, period, version).

    Hidden entries (``.name``) and ``_name`` are ignored, and so are plain files not named like
    a delivery; other names sort last. A missing inbox is an empty one.
    """
    inbox = Path(inbox)
    try:
        entries = list(os.scandir(inbox))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for e in entries:
        if e.name.startswith((".", "_")):
            continue
        try:
            f = folder_state(Path(e.path), e.stat(follow_symlinks=False))
        except FileNotFoundError:  # moved away by another process meanwhile
            continue
        if f is not None:
            found.append(f)
    return sorted(found, key=lambda f: (f.register is None, f.register or "", f.period or "", f.version or 0, f.name))


@contextmanager
def claim(inbox: Path, name: str):
    """Claim the delivery ``name`` of ``inbox`` for this process: yields True when claimed, False
    when another process has it (or has just finished it).

    A non-blocking exclusive ``flock`` on ``<inbox>/.claims/<hash of the name>.lock``: the kernel
    releases it when the process ends, however it ends. The holder removes the file while still
    holding the lock; a process that got the lock on a file removed meanwhile sees it is no
    longer the file at that path and backs off, as the delivery was handled meanwhile.
    """
    folder = Path(inbox) / CLAIMS
    folder.mkdir(mode=0o700, exist_ok=True)
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    path = folder / f"{digest}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            current = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if not current:
            yield False
            return
        try:
            yield True
        finally:
            os.unlink(path)
    finally:
        os.close(fd)
