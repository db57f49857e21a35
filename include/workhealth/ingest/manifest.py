"""Reading ``manifest.json`` and checking it against the folder and its files (checks 1 and 2)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from workhealth.core.identity import mask
from workhealth.core.registers import (DATA_FILE_SUFFIXES, MANIFEST, PERIOD_PATTERN, REGISTERS, SCHEMA_VERSIONS,
                                      parse_name)

_SHA = re.compile(r"^[0-9a-f]{64}$")


class DeliveryError(Exception):
    """A delivery-level defect: the whole delivery is refused with ``reason``."""

    def __init__(self, rule: str, message: str, file: str | None = None, privacy: bool = False):
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.file = file
        self.privacy = privacy

    def reason(self, delivery: str) -> str:
        """``<rule>: delivery <name>[, file <path>]: <message>``; names masked (``identity.mask``)."""
        where = f"delivery {mask(delivery)}" + (f", file {mask(self.file)}" if self.file else "")
        return f"{self.rule}: {where}: {self.message}"


@dataclass(frozen=True)
class ManifestFile:
    path: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    register: str
    period: str
    version: int
    schema_version: int
    produced_at: str
    files: tuple[ManifestFile, ...]
    sha256: str  # of manifest.json's bytes: identifies the delivery's content

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


def open_plain(path: Path):
    """A binary file object for a plain file, never through a symbolic link (O_NOFOLLOW)."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a plain file, read in chunks, never through a symbolic link."""
    digest = hashlib.sha256()
    with open_plain(path) as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def manifest_sha256(folder: Path) -> str | None:
    try:
        with open_plain(Path(folder) / MANIFEST) as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def data_suffix(name: str) -> str | None:
    return next((s for s in DATA_FILE_SUFFIXES if name.lower().endswith(s)), None)


def read_manifest(folder: Path, parsed: tuple[str, str, int] | None = None) -> Manifest:
    """Check 1: folder name, manifest syntax and content, agreement between them.

    ``parsed``: the folder name as ``parse_name`` gave it, when the caller has parsed it already.
    """
    folder = Path(folder)
    name = folder.name
    parsed = parsed or parse_name(name)
    if parsed is None:
        raise DeliveryError("invalid_folder_name", f"folder name {mask(repr(name))} is not <register>_<YYYY-MM>_v<N>")
    path = folder / MANIFEST
    if not path.is_file():
        raise DeliveryError("manifest_missing", "manifest.json is missing (delivery still arriving)")
    with open_plain(path) as f:
        raw = f.read()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise DeliveryError("manifest_unreadable", f"manifest.json is not valid UTF-8 JSON ({mask(e)})") from None
    if not isinstance(doc, dict):
        raise DeliveryError("manifest_invalid", "manifest.json is not a JSON object")
    problems = []
    for key, ok, what in (
        ("register", lambda v: isinstance(v, str), "a string"),
        ("period", lambda v: isinstance(v, str), "a string"),
        ("version", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
        ("schema_version", _is_int, "an integer"),
        ("produced_at", lambda v: isinstance(v, str) and v != "", "a timestamp string"),
        ("files", lambda v: isinstance(v, list) and len(v) > 0, "a non-empty list"),
    ):
        if key not in doc:
            problems.append(f"{key} missing")
        elif not ok(doc[key]):
            problems.append(f"{key} must be {what}")
    if problems:
        raise DeliveryError("manifest_invalid", "manifest.json: " + "; ".join(problems))
    try:
        datetime.fromisoformat(doc["produced_at"])
    except ValueError:
        raise DeliveryError("manifest_invalid", f"produced_at {mask(repr(doc['produced_at']))} is not an ISO 8601 "
                            "timestamp") from None
    files = []
    for i, f in enumerate(doc["files"]):
        if not isinstance(f, dict):
            raise DeliveryError("manifest_invalid", f"files[{i}] is not an object")
        p, rows, sha = f.get("path"), f.get("rows"), f.get("sha256")
        if not isinstance(p, str) or not p:
            raise DeliveryError("manifest_invalid", f"files[{i}].path must be a non-empty string")
        pp = PurePosixPath(p)
        if pp.is_absolute() or ".." in pp.parts or "\\" in p or p == MANIFEST:
            raise DeliveryError("manifest_invalid", f"files[{i}].path {mask(repr(p))} must be a file inside the folder")
        if not _is_int(rows) or rows < 0:
            raise DeliveryError("manifest_invalid", f"files[{i}].rows must be an integer >= 0", p)
        if not isinstance(sha, str) or not _SHA.match(sha.lower()):
            raise DeliveryError("manifest_invalid", f"files[{i}].sha256 must be 64 hex digits", p)
        files.append(ManifestFile(p, rows, sha.lower()))
    if len({f.path for f in files}) != len(files):
        raise DeliveryError("manifest_invalid", "a file is listed twice")
    register, period, version = parsed
    mismatch = [
        f"{k}: folder says {mask(repr(a))}, manifest says {mask(repr(b))}"
        for k, a, b in (("register", register, doc["register"]), ("period", period, doc["period"]),
                        ("version", version, doc["version"]))
        if a != b
    ]
    if mismatch:
        raise DeliveryError("manifest_mismatch", "folder name and manifest disagree: " + "; ".join(mismatch))
    if register not in REGISTERS:
        raise DeliveryError("unknown_register", f"register {mask(repr(register))} is not one of {', '.join(REGISTERS)}")
    if doc["schema_version"] not in SCHEMA_VERSIONS:
        raise DeliveryError("unsupported_schema_version",
                            f"schema_version {mask(doc['schema_version'])} is not supported ({sorted(SCHEMA_VERSIONS)})")
    if not PERIOD_PATTERN.match(period):
        raise DeliveryError("invalid_period", f"period {mask(repr(period))} is not a calendar month YYYY-MM")
    return Manifest(register, period, version, doc["schema_version"], doc["produced_at"], tuple(files),
                    hashlib.sha256(raw).hexdigest())


def check_files(folder: Path, manifest: Manifest) -> None:
    """Check 2: listed files exist with an allowed suffix and their checksum; no unlisted data file."""
    folder = Path(folder)
    for f in manifest.files:
        if data_suffix(f.path) is None:
            raise DeliveryError("file_type", f"not a data file type ({', '.join(DATA_FILE_SUFFIXES)})", f.path)
        path = folder / f.path
        if not path.is_file():
            raise DeliveryError("file_missing", "listed in the manifest but not in the folder", f.path)
    listed = {f.path for f in manifest.files}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and data_suffix(p.name) and rel not in listed:
            raise DeliveryError("unlisted_file", "data file in the folder is not listed in the manifest", rel)
    for f in manifest.files:
        actual = sha256_of(folder / f.path)
        if actual != f.sha256:
            raise DeliveryError("checksum_mismatch", f"sha256 of the file is {actual}, manifest says {f.sha256}",
                                f.path)
