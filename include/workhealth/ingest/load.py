"""Ingesting one delivery folder, or every ready one in the inbox (docs/ingestion.md).

``ingest_delivery`` opens the warehouse, checks the delivery, writes everything of it in one
transaction, closes the warehouse and then moves the folder out of the inbox. A bad delivery
never raises: it comes back as ``status="rejected"`` with a reason naming delivery, file and
rule. Infrastructure errors (disk, lock, out of memory) do raise, so a scheduler retries.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from workhealth.core import warehouse
from workhealth.core.registers import MANIFEST, REGISTERS, parse_name
from workhealth.core.settings import Settings, load
from workhealth.ingest import checks
from workhealth.ingest.inbox import scan_inbox
from workhealth.ingest.manifest import DeliveryError, Manifest, check_files, manifest_sha256, read_manifest

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


def _move(folder: Path, target: Path, note: str | None, now: datetime) -> None:
    """Move the folder out of the inbox byte for byte, then add the note (``REJECTED.txt``).

    A rename when inbox and target share a file system (atomic). Across file systems: copy to
    ``<target>.partial``, rename that into place, then delete the inbox folder - a target path
    never holds half a delivery, and if the delete fails the inbox folder is complete and is
    handled as a replay next time.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(folder, target)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        partial = target.with_name(target.name + ".partial")
        if partial.exists():
            shutil.rmtree(partial)
        shutil.copytree(folder, partial, symlinks=True)
        os.rename(partial, target)
        shutil.rmtree(folder)
    if note is not None:
        path = target / REJECTED_FILE
        if path.exists():  # the sender's own file of that name stays as delivered
            path = target / f"REJECTED__{_stamp(now)}.txt"
        path.write_text(note + "\n", encoding="utf-8")


def _rejection_note(delivery: str, reason: str, now: datetime, replay: bool = False) -> str:
    what = "was sent again unchanged and is again" if replay else "was"
    head = f"Delivery {delivery} {what} REJECTED by workhealth ingestion at {now.isoformat(timespec='seconds')}Z."
    return (
        f"{head}\n\nReason: {reason}\n\n"
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
        # Still arriving: left alone, nothing recorded (docs/ingestion.md, inbox states).
        return IngestResult(name, register, period, version, "rejected",
                            f"manifest_missing: delivery {name}: no manifest.json yet (still arriving); left in the inbox")
    conn = warehouse.connect(s)
    try:
        warehouse.ensure_schemas(conn)
        result, target, note, now = _process(conn, folder, s, parsed)
    finally:
        conn.close()
    _move(folder, target, note, now)
    return result


_PREVIOUS = ("status", "manifest_sha256", "reason", "rows_manifest", "rows_loaded", "rows_quarantined",
             "privacy_breach", "stored_at")


def _process(conn, folder: Path, s: Settings, parsed: tuple[str, str, int] | None):
    """Everything of one delivery in the warehouse; returns (result, target folder, note, now).

    ``parsed``: the folder name as ``parse_name`` gave it (None: not a delivery name).
    """
    name = folder.name
    now = _now()
    register, period, version = parsed if parsed else (None, None, None)
    sha = manifest_sha256(folder)
    row = conn.execute(f"SELECT {', '.join(_PREVIOUS)} FROM audit.deliveries WHERE delivery = ?", [name]).fetchone()
    previous = dict(zip(_PREVIOUS, row)) if row else None

    # The same name and the same manifest as an accepted (or since superseded) delivery: a replay,
    # provided the files are still the ones the manifest describes.
    if previous and previous["status"] != "rejected" and sha is not None and previous["manifest_sha256"] == sha:
        try:
            manifest = read_manifest(folder, parsed)
            check_files(folder, manifest)
            hit = checks.sweep_identity_numbers(folder, exclude={f.path for f in manifest.files})
            if hit is not None:
                raise _privacy_error(hit, "in a file that is not a listed data file")
        except DeliveryError as e:
            return _reject(conn, folder, s, now, register, period, version, _with_sweep(folder, e), None,
                           record=False)
        conn.execute("BEGIN TRANSACTION")
        _log(conn, name, "replay", now, f"identical to the {previous['status']} delivery (manifest sha256 {sha})")
        conn.execute("COMMIT")
        stored = Path(previous["stored_at"]) if previous["stored_at"] else None
        # The first move never happened (it failed after the commit): the files go where the log says.
        target = stored if stored is not None and not stored.exists() else s.archive / "_replays" / f"{name}__{_stamp(now)}"
        result = IngestResult(name, register, period, version, "replay", None, previous["rows_manifest"],
                              previous["rows_loaded"] or 0, previous["rows_quarantined"] or 0, False)
        return result, target, None, now

    manifest: Manifest | None = None
    try:
        manifest = read_manifest(folder, parsed)                   # check 1
        check_files(folder, manifest)                              # check 2
        hit = checks.sweep_identity_numbers(folder, exclude={f.path for f in manifest.files})
        if hit is not None:                                        # check 5 on the manifest and non-data files
            raise _privacy_error(hit, "in a file that is not a listed data file")
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
        if previous is not None and previous["status"] != "rejected":
            raise DeliveryError("stale_version", f"delivery {name} was already {previous['status']} with other content")
        checks.find_row_defects(conn, reg, manifest.period)        # check 6
        n_bad, too_many = checks.threshold_reason(conn, manifest.rows, s.quarantine_threshold)  # check 7
        if too_many:
            raise DeliveryError("quarantine_threshold", too_many)
    except DeliveryError as e:
        e = _with_sweep(folder, e)
        if (previous is not None and previous["status"] == "rejected" and sha is not None
                and previous["manifest_sha256"] == sha and previous["reason"] == e.reason(name)):
            return _replay_rejection(conn, folder, s, now, register, period, version, previous, manifest)
        return _reject(conn, folder, s, now, register, period, version, e, manifest,
                       record=previous is None or previous["status"] == "rejected")

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
    return result, target, None, now


def _privacy_error(hit: tuple[str, int], where: str) -> DeliveryError:
    file, line = hit
    at = ("a value" if file == MANIFEST else f"row {line}" if file.lower().endswith(".parquet")
          else f"line {line}")
    return DeliveryError(
        "privacy_breach",
        f"{at} holds a valid national identity number ({where}). Nothing was loaded; the files were "
        "moved to the restricted area.", file, privacy=True)


def _with_sweep(folder: Path, e: DeliveryError) -> DeliveryError:
    """A delivery refused for any other reason still goes to the restricted area (with a reason that
    quotes nothing of it) when any of its files holds an identity number."""
    if e.privacy:
        return e
    hit = checks.sweep_identity_numbers(folder)
    return e if hit is None else _privacy_error(hit, f"found while refusing the delivery for {e.rule}")


def _reject(conn, folder, s, now, register, period, version, e: DeliveryError, manifest: Manifest | None,
            record: bool = True):
    """Record a refusal (one transaction) and say where the folder goes. ``record=False``: the
    name's audit row belongs to an accepted/superseded delivery and stays; only an event is added."""
    name = folder.name
    reason = e.reason(name)
    base = s.restricted if e.privacy else s.rejected
    target = _free_target(base / name, now)
    result = IngestResult(name, register, period, version, "rejected", reason,
                          manifest.rows if manifest else None, 0, 0, e.privacy)
    conn.execute("BEGIN TRANSACTION")
    try:
        if record:
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
    return result, target, _rejection_note(name, reason, now), now


def _replay_rejection(conn, folder, s, now, register, period, version, previous: dict, manifest: Manifest | None):
    """The same manifest was rejected before and the checks give the same reason again: nothing
    changes but an event; the folder joins the earlier one in the rejected (or restricted) area."""
    name = folder.name
    reason = previous["reason"]
    privacy = bool(previous["privacy_breach"])
    conn.execute("BEGIN TRANSACTION")
    _log(conn, name, "replay", now, f"identical to the rejected delivery (manifest sha256 "
                                    f"{previous['manifest_sha256']}); rejected again: {reason}")
    conn.execute("COMMIT")
    stored = Path(previous["stored_at"]) if previous["stored_at"] else None
    base = s.restricted if privacy else s.rejected
    target = stored if stored is not None and not stored.exists() else base / f"{name}__{_stamp(now)}"
    result = IngestResult(name, register, period, version, "replay", f"replay of a rejected delivery: {reason}",
                          previous["rows_manifest"], 0, 0, privacy)
    return result, target, _rejection_note(name, reason, now, replay=True), now


def ingest_inbox(settings: Settings | None = None) -> list[IngestResult]:
    """Ingest every ready folder of the inbox in (register, period, version) order; folders whose
    name is not a delivery name (but that have a manifest) are rejected too."""
    s = settings or load()
    results = []
    for f in scan_inbox(s.inbox):
        if f.state in ("ready", "invalid_name"):
            results.append(ingest_delivery(f.path, s))
    return results
