"""Ingesting one delivery folder, or every ready one in the inbox (docs/ingestion.md).

``ingest_delivery`` opens the warehouse, checks the delivery, writes everything of it in one
transaction, closes the warehouse and then moves the folder out of the inbox. A bad delivery
never raises: it comes back as ``status="rejected"`` with a reason naming delivery, file and
rule. Infrastructure errors (disk, lock, out of memory) do raise, so a scheduler retries.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from workhealth import warehouse
from workhealth.deliveries import checks
from workhealth.deliveries.inbox import MANIFEST, parse_name, scan_inbox
from workhealth.deliveries.manifest import DeliveryError, Manifest, check_files, manifest_sha256, read_manifest
from workhealth.registers import REGISTERS
from workhealth.settings import Settings, load

REJECTED_FILE = "REJECTED.txt"


@dataclass
class IngestResult:
    delivery: str
    register: str | None
    period: str | None
    version: int | None
    status: str  # accepted | rejected | replay
    reason: str | None = None
    rows_manifest: int | None = None
    rows_loaded: int = 0
    rows_quarantined: int = 0
    privacy_breach: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _stamp(t: datetime) -> str:
    return t.strftime("%Y%m%dT%H%M%S%fZ")


def _free_target(target: Path, now: datetime) -> Path:
    return target if not target.exists() else target.with_name(f"{target.name}__{_stamp(now)}")


def _received_at(folder: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp((folder / MANIFEST).stat().st_mtime, timezone.utc).replace(tzinfo=None)
    except OSError:
        return None


def _log(conn, delivery: str, event: str, at: datetime, detail: str | None) -> None:
    conn.execute("INSERT INTO audit.delivery_events VALUES (?, ?, ?, ?)", [delivery, event, at, detail])


def _move(folder: Path, target: Path, note: str | None) -> None:
    """Move the folder (byte for byte: a rename, or copy+delete across file systems); add the note."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(folder), str(target))
    if note is not None:
        (target / REJECTED_FILE).write_text(note + "\n", encoding="utf-8")


def _rejection_note(result: IngestResult, now: datetime) -> str:
    return (
        f"Delivery {result.delivery} was REJECTED by workhealth ingestion at {now.isoformat(timespec='seconds')}Z.\n\n"
        f"Reason: {result.reason}\n\n"
        "The files are kept here exactly as delivered (this note excepted). Nothing of this delivery was loaded.\n"
        "Ask the sender for a corrected delivery (a new version, or the same folder re-sent with fixed content).\n"
    )


def ingest_delivery(folder: Path, settings: Settings | None = None) -> IngestResult:
    """Check and load one delivery folder; see the module docstring."""
    s = settings or load()
    folder = Path(folder)
    name = folder.name
    parsed = parse_name(name)
    register, period, version = parsed if parsed else (None, None, None)
    if not folder.is_dir():
        return IngestResult(name, register, period, version, "rejected",
                            f"not_found: delivery {name}: folder {folder} does not exist")
    if parsed is not None and not (folder / MANIFEST).is_file():
        # Still arriving: left alone, nothing recorded (deliveries.md section 1).
        return IngestResult(name, register, period, version, "rejected",
                            f"manifest_missing: delivery {name}: no manifest.json yet (still arriving); left in the inbox")
    conn = warehouse.connect(s.warehouse, settings=s)
    try:
        warehouse.ensure_schemas(conn)
        result, target, note = _process(conn, folder, s)
    finally:
        conn.close()
    if target is not None:
        _move(folder, target, note)
    return result


def _process(conn, folder: Path, s: Settings) -> tuple[IngestResult, Path | None, str | None]:
    name = folder.name
    now = _now()
    parsed = parse_name(name)
    register, period, version = parsed if parsed else (None, None, None)
    sha = manifest_sha256(folder)
    previous = conn.execute(
        "SELECT status, manifest_sha256, reason, rows_manifest, rows_loaded, rows_quarantined, privacy_breach "
        "FROM audit.deliveries WHERE delivery = ?", [name]).fetchone()

    # A delivery seen before with identical content: replay of its outcome.
    if previous is not None and sha is not None and previous[1] == sha:
        status, _, reason, rows_manifest, loaded, quarantined, privacy = previous
        if status != "rejected":
            try:  # the same manifest, but are the files still the ones we loaded?
                check_files(folder, read_manifest(folder))
            except DeliveryError as e:
                return _reject(conn, folder, s, now, register, period, version, e, None, record=False)
        detail = f"identical to the {status} delivery (manifest sha256 {sha})"
        if status == "rejected":
            detail += f"; earlier reason: {reason}"
        conn.execute("BEGIN TRANSACTION")
        _log(conn, name, "replay", now, detail)
        conn.execute("COMMIT")
        base = s.restricted if privacy else s.rejected if status == "rejected" else s.archive / "_replays"
        target = base / f"{name}__{_stamp(now)}"
        result = IngestResult(name, register, period, version, "replay",
                              (f"replay of a rejected delivery: {reason}" if status == "rejected" else None),
                              rows_manifest, loaded or 0, quarantined or 0, bool(privacy))
        note = None if status != "rejected" else _rejection_note(
            dataclasses.replace(result, reason=f"identical to an earlier rejected delivery: {reason}"), now)
        return result, target, note

    manifest: Manifest | None = None
    try:
        manifest = read_manifest(folder)                           # check 1
        check_files(folder, manifest)                              # check 2
        reg = REGISTERS[manifest.register]
        staged = checks.stage_files(conn, folder, manifest)        # check 3
        n_ids, first = checks.find_identity_numbers(conn, reg)     # check 5 (before 4: see docs)
        if n_ids:
            file, row, column, kind = first
            where = f"row {row}, column {column}" if column else f"row {row} (a malformed line)"
            raise DeliveryError(
                "privacy_breach",
                f"{where} holds a valid national identity number ({kind}); {n_ids} such value(s) in the delivery. "
                "Nothing was loaded; the files were moved to the restricted area.", file, privacy=True)
        checks.check_row_counts(manifest, staged)                  # check 4
        accepted = conn.execute(
            "SELECT delivery, version FROM audit.deliveries WHERE register = ? AND period = ? AND status = 'accepted'",
            [manifest.register, manifest.period]).fetchone()
        if accepted is not None and manifest.version <= accepted[1]:
            raise DeliveryError("stale_version",
                                f"version {manifest.version} <= accepted version {accepted[1]} ({accepted[0]})")
        if previous is not None and previous[0] != "rejected":
            raise DeliveryError("stale_version", f"delivery {name} was already {previous[0]} with other content")
        checks.find_row_defects(conn, reg, manifest.period)        # check 6
        n_bad, too_many = checks.threshold_reason(conn, manifest.rows, s.quarantine_threshold)  # check 7
        if too_many:
            raise DeliveryError("quarantine_threshold", too_many)
    except DeliveryError as e:
        return _reject(conn, folder, s, now, register, period, version, e, manifest, previous=previous)

    # Accepted: one transaction for raw rows, quarantine, audit row, superseding, event.
    target = _free_target(s.archive / name, now)
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(checks.insert_raw_sql(reg), [name, manifest.period, manifest.version, now])
        loaded, = conn.execute(f"SELECT count(*) FROM raw.{reg.name} WHERE _delivery = ?", [name]).fetchone()
        conn.execute(
            "INSERT INTO audit.quarantine SELECT ?, ?, _file, _row, rule, column_name, value, record FROM viol "
            "ORDER BY _file, _row, rule", [name, manifest.register])
        if loaded + n_bad != manifest.rows:  # cannot happen; never commit a broken reconciliation
            raise RuntimeError(f"reconciliation failed for {name}: {loaded} + {n_bad} != {manifest.rows}")
        if previous is not None:  # a rejected delivery re-sent with new content
            conn.execute("DELETE FROM audit.deliveries WHERE delivery = ?", [name])
        conn.execute(
            "INSERT INTO audit.deliveries VALUES (?, ?, ?, ?, 'accepted', NULL, ?, ?, ?, ?, ?, ?, false, NULL, ?, ?, ?)",
            [name, manifest.register, manifest.period, manifest.version, manifest.sha256, manifest.produced_at,
             manifest.schema_version, manifest.rows, loaded, n_bad, _received_at(folder), now, str(target)])
        older = [r[0] for r in conn.execute(
            "SELECT delivery FROM audit.deliveries WHERE register = ? AND period = ? AND status = 'accepted' "
            "AND version < ?", [manifest.register, manifest.period, manifest.version]).fetchall()]
        if older:
            conn.execute(
                "UPDATE audit.deliveries SET status = 'superseded', superseded_by = ? WHERE delivery IN "
                f"({', '.join('?' for _ in older)})", [name, *older])
            for o in older:
                _log(conn, o, "superseded", now, f"superseded by {name}")
        _log(conn, name, "accepted", now,
             f"rows_manifest={manifest.rows} rows_loaded={loaded} rows_quarantined={n_bad}"
             + (f"; supersedes {', '.join(older)}" if older else ""))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    result = IngestResult(name, manifest.register, manifest.period, manifest.version, "accepted", None,
                          manifest.rows, loaded, n_bad, False)
    return result, target, None


def _reject(conn, folder, s, now, register, period, version, e: DeliveryError, manifest: Manifest | None,
            previous=None, record: bool = True) -> tuple[IngestResult, Path, str]:
    name = folder.name
    if not e.privacy:  # refused before (or without) parsing the files: still never keep an identity
        hit = checks.sweep_identity_numbers(folder)  # number outside the restricted area
        if hit is not None:
            e = DeliveryError(
                "privacy_breach",
                f"line {hit[1]} holds a valid national identity number (found while refusing the delivery: "
                f"{e.rule}). Nothing was loaded; the files were moved to the restricted area.", hit[0], privacy=True)
    reason = e.reason(name)
    base = s.restricted if e.privacy else s.rejected
    target = _free_target(base / name, now)
    result = IngestResult(name, register, period, version, "rejected", reason,
                          manifest.rows if manifest else None, 0, 0, e.privacy)
    conn.execute("BEGIN TRANSACTION")
    try:
        # The delivery's audit row holds its latest outcome, except that an accepted or superseded
        # delivery keeps its row: a refused re-send of the same name is then an event only.
        if record and (previous is None or previous[0] == "rejected"):
            conn.execute("DELETE FROM audit.deliveries WHERE delivery = ?", [name])
            conn.execute(
                "INSERT INTO audit.deliveries VALUES (?, ?, ?, ?, 'rejected', ?, ?, ?, ?, ?, 0, 0, ?, NULL, ?, ?, ?)",
                [name, register, period, version, reason, manifest_sha256(folder),
                 manifest.produced_at if manifest else None, manifest.schema_version if manifest else None,
                 manifest.rows if manifest else None, e.privacy, _received_at(folder), now, str(target)])
        _log(conn, name, "privacy_breach" if e.privacy else "rejected", now, reason)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return result, target, _rejection_note(result, now)


def ingest_inbox(settings: Settings | None = None) -> list[IngestResult]:
    """Ingest every ready folder of the inbox in (register, period, version) order; folders whose
    name is not a delivery name (but that have a manifest) are rejected too."""
    s = settings or load()
    results = []
    for f in scan_inbox(s.inbox):
        if f.state in ("ready", "invalid_name"):
            results.append(ingest_delivery(f.path, s))
    return results
