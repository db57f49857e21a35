"""Ingesting one delivery folder, or every ready one in the inbox (docs/ingestion.md).

``ingest_delivery`` claims the delivery (``inbox.claim``: one process per delivery), opens the
warehouse, checks the delivery, writes everything of it in one transaction, closes the
warehouse and then moves the folder out of the inbox. A bad delivery never raises: it comes back
as ``status="rejected"`` with a reason naming delivery, file and rule (names masked with
``identity.mask``). Infrastructure errors (disk, lock, out of memory) do raise, so a scheduler
retries; ``WarehouseBusy`` leaves the delivery in the inbox, with nothing recorded.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from workhealth.core import identity, warehouse
from workhealth.core.registers import MANIFEST, REGISTERS, parse_name
from workhealth.core.settings import Settings, load
from workhealth.ingest import checks
from workhealth.ingest.inbox import claim, delivery_like, scan_inbox
from workhealth.ingest.manifest import DeliveryError, Manifest, check_files, manifest_sha256, read_manifest

REJECTED_FILE = "REJECTED.txt"


@dataclass
class IngestResult:
    delivery: str
    register: str | None
    period: str | None
    version: int | None
    status: str  # accepted | rejected | replay | skipped (another process handled it; nothing recorded)
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
    return target if not os.path.lexists(target) else target.with_name(f"{target.name}__{_stamp(now)}")


def _received_at(folder: Path) -> datetime | None:
    """mtime of manifest.json (of the entry itself when it is not a folder), never through a link."""
    try:
        st = os.lstat(folder)
        if stat.S_ISDIR(st.st_mode):
            st = os.lstat(folder / MANIFEST)
        return datetime.fromtimestamp(st.st_mtime, timezone.utc).replace(tzinfo=None)
    except OSError:
        return None


def _log(conn, delivery: str, event: str, at: datetime, detail: str | None) -> None:
    conn.execute("INSERT INTO audit.delivery_events VALUES (?, ?, ?, ?)", [delivery, event, at, detail])


def _remove(path: Path) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _lock_down(target: Path) -> None:
    """The restricted area's permissions on a moved delivery: folders 0700, files 0600 (links,
    which chmod would follow, are left as they are)."""
    st = os.lstat(target)
    if stat.S_ISLNK(st.st_mode):
        return
    os.chmod(target, 0o700 if stat.S_ISDIR(st.st_mode) else 0o600)
    if stat.S_ISDIR(st.st_mode):
        for rel, est in checks.walk_entries(target):
            if stat.S_ISDIR(est.st_mode):
                os.chmod(target / rel, 0o700)
            elif stat.S_ISREG(est.st_mode):
                os.chmod(target / rel, 0o600)


def _move(folder: Path, target: Path, note: str | None, now: datetime, restricted: bool = False) -> None:
    """Move the delivery out of the inbox byte for byte, then add the note (``REJECTED.txt``).

    A rename when inbox and target share a file system (atomic; a symbolic link moves as the
    link). Across file systems: copy to ``<target>.partial`` (links copied as links), rename that
    into place, then delete the inbox entry - a target path never holds half a delivery, and if
    the delete fails the inbox folder is complete and is handled as a replay next time. A
    delivery that is not a plain folder (a link, a plain file) gets its note next to it,
    ``<target>.REJECTED.txt``. ``restricted``: the area is made 0700 and the moved delivery
    0700/0600 by the platform itself, whatever the umask or the deployment.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if restricted:
        os.chmod(target.parent, 0o700)
    try:
        os.rename(folder, target)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        partial = target.with_name(target.name + ".partial")
        if os.path.lexists(partial):
            _remove(partial)
        if os.path.islink(folder):
            os.symlink(os.readlink(folder), partial)
        elif os.path.isdir(folder):
            shutil.copytree(folder, partial, symlinks=True)
        else:
            shutil.copy2(folder, partial, follow_symlinks=False)
        if restricted:
            _lock_down(partial)
        os.rename(partial, target)
        _remove(folder)
    if restricted:
        _lock_down(target)
    if note is not None:
        plain_folder = os.path.isdir(target) and not os.path.islink(target)
        path = target / REJECTED_FILE if plain_folder else target.with_name(target.name + "." + REJECTED_FILE)
        if os.path.lexists(path):  # the sender's own file of that name stays as delivered
            path = path.with_name(f"REJECTED__{_stamp(now)}.txt" if plain_folder else f"{target.name}.REJECTED__{_stamp(now)}.txt")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600 if restricted else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(note + "\n")


def _rejection_note(delivery: str, reason: str, now: datetime, replay: bool = False) -> str:
    what = "was sent again unchanged and is again" if replay else "was"
    head = f"Delivery {delivery} {what} REJECTED by workhealth ingestion at {now.isoformat(timespec='seconds')}Z."
    return (
        f"{head}\n\nReason: {reason}\n\n"
        "The files are kept here exactly as delivered (this note excepted). Nothing of this delivery was loaded.\n"
        "Ask the sender for a corrected delivery (a new version, or the same folder re-sent with fixed content).\n"
    )


def ingest_delivery(folder: Path, settings: Settings | None = None,
                    scanned: tuple[int, int] | None = None, conn=None) -> IngestResult:
    """Check and load one delivery folder; see the module docstring.

    ``conn``: an open read-write warehouse connection to use (and leave open), as
    ``ingest_inbox`` passes; without it the warehouse is opened for this delivery and closed.

    The delivery is claimed first (``inbox.claim``). When another process has it, or it is gone
    (handled meanwhile), or it is no longer the entry scanned (``scanned``: its (st_dev, st_ino)
    when listed), the result is ``skipped`` and nothing is recorded or moved.
    """
    s = settings or load()
    folder = Path(folder)
    name = identity.mask(folder.name)  # the name it is recorded under, quoted and stored as
    parsed = delivery_like(folder.name)
    register, period, version = parsed if parsed else (None, None, None)
    skipped = IngestResult(name, register, period, version, "skipped",
                           f"skipped: delivery {name}: handled by another process, or not in the inbox")
    if not os.path.lexists(folder):
        return skipped
    with claim(folder.parent, folder.name) as mine:
        try:
            st = os.lstat(folder)
        except FileNotFoundError:
            return skipped
        if not mine or (scanned is not None and (st.st_dev, st.st_ino) != scanned):
            return skipped
        if stat.S_ISDIR(st.st_mode):  # a folder's name must be exact; a file's or link's may carry a suffix
            parsed = parse_name(folder.name)
            register, period, version = parsed if parsed else (None, None, None)
        if stat.S_ISDIR(st.st_mode) and parsed is not None and not os.path.lexists(folder / MANIFEST):
            # Still arriving: left alone, nothing recorded (docs/ingestion.md, inbox states).
            return IngestResult(name, register, period, version, "rejected",
                                f"manifest_missing: delivery {name}: no manifest.json yet (still arriving); "
                                "left in the inbox")
        own = conn is None
        if own:
            conn = warehouse.connect(s)
        try:
            if own:
                warehouse.ensure_schemas(conn)
            result, target, note, now = _process(conn, folder, name, st, s, parsed)
        finally:
            if own:
                conn.close()
        _move(folder, target, note, now, restricted=result.privacy_breach)
        return result


_PREVIOUS = ("status", "manifest_sha256", "reason", "rows_manifest", "rows_loaded", "rows_quarantined",
             "privacy_breach", "stored_at")


def _before_reading(folder: Path, st: os.stat_result) -> DeliveryError | None:
    """What refuses a delivery before any of it is read: an identity number in the folder's or a
    file's name (privacy), and anything that is not a plain folder of plain files."""
    if stat.S_ISLNK(st.st_mode):
        entries, problem = [], DeliveryError(
            "symlink", "the delivery is a symbolic link; it was not followed and is kept as the link")
    elif stat.S_ISREG(st.st_mode):
        entries, problem = [], DeliveryError(
            "not_a_folder", "a plain file named like a delivery; a delivery is a folder "
            "<register>_<YYYY-MM>_v<N> holding manifest.json and the data files")
    elif not stat.S_ISDIR(st.st_mode):
        entries, problem = [], DeliveryError("not_a_plain_file", "the delivery is not a folder (a device, pipe or socket)")
    else:
        entries = checks.walk_entries(folder)
        problem = checks.not_plain(entries)
    bad = checks.name_with_identity_number([folder.name] + [rel for rel, _ in entries])
    if bad is not None:
        what = "the delivery's own name" if bad == folder.name else "the name of a file or folder in it"
        return DeliveryError("privacy_breach", f"{what} holds a valid national identity number. Nothing was "
                             "loaded; the files were moved to the restricted area.", privacy=True)
    return problem


def _process(conn, folder: Path, name: str, st: os.stat_result, s: Settings, parsed: tuple[str, str, int] | None):
    """Everything of one delivery in the warehouse; returns (result, target folder, note, now).

    ``name``: the masked folder name the delivery is recorded under; ``st``: its ``lstat``;
    ``parsed``: the name as ``parse_name`` gave it (None: not a delivery name).
    """
    now = _now()
    register, period, version = parsed if parsed else (None, None, None)
    row = conn.execute(f"SELECT {', '.join(_PREVIOUS)} FROM audit.deliveries WHERE delivery = ?", [name]).fetchone()
    previous = dict(zip(_PREVIOUS, row)) if row else None
    refused = _before_reading(folder, st)
    if refused is not None:
        return _reject(conn, folder, name, s, now, register, period, version, _with_sweep(folder, refused), None,
                       record=previous is None or previous["status"] == "rejected")
    sha = manifest_sha256(folder)

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
            return _reject(conn, folder, name, s, now, register, period, version, _with_sweep(folder, e), None,
                           record=False)
        conn.execute("BEGIN TRANSACTION")
        _log(conn, name, "replay", now, f"identical to the {previous['status']} delivery (manifest sha256 {sha})")
        conn.execute("COMMIT")
        stored = Path(previous["stored_at"]) if previous["stored_at"] else None
        # The first move never happened (it failed after the commit): the files go where the log says.
        target = (stored if stored is not None and not os.path.lexists(stored)
                  else s.archive / "_replays" / f"{name}__{_stamp(now)}")
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
            return _replay_rejection(conn, folder, name, s, now, register, period, version, previous, manifest)
        return _reject(conn, folder, name, s, now, register, period, version, e, manifest,
                       record=previous is None or previous["status"] == "rejected")

    # Accepted: one transaction for raw rows, quarantine, audit row, superseding, event.
    target = _free_target(s.archive / name, now)
    conn.execute("BEGIN TRANSACTION")
    try:
        # Rows carry their _file and _row, and nothing reads raw.<register> in storage order
        # (dbt runs with the same setting): letting both threads write is about 8 % faster.
        conn.execute("SET preserve_insertion_order = false")
        try:
            # the INSERT's own row count: counting raw.<register> by _delivery would scan the whole
            # table (string zone maps keep 8 bytes, shared by every delivery name of a register)
            loaded, = conn.execute(checks.insert_raw_sql(reg, n_bad > 0, manifest.period),
                                   [name, manifest.period, manifest.version, now]).fetchone()
        finally:
            conn.execute("RESET preserve_insertion_order")
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
    at = ("a value" if file == MANIFEST else "a column name" if line == 0
          else f"row {line}" if file.lower().endswith(".parquet") else f"line {line}")
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


def _reject(conn, folder, name, s, now, register, period, version, e: DeliveryError, manifest: Manifest | None,
            record: bool = True):
    """Record a refusal (one transaction) and say where the folder goes. ``record=False``: the
    name's audit row belongs to an accepted/superseded delivery and stays; only an event is added."""
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


def _replay_rejection(conn, folder, name, s, now, register, period, version, previous: dict,
                      manifest: Manifest | None):
    """The same manifest was rejected before and the checks give the same reason again: nothing
    changes but an event; the folder joins the earlier one in the rejected (or restricted) area."""
    reason = previous["reason"]
    privacy = bool(previous["privacy_breach"])
    conn.execute("BEGIN TRANSACTION")
    _log(conn, name, "replay", now, f"identical to the rejected delivery (manifest sha256 "
                                    f"{previous['manifest_sha256']}); rejected again: {reason}")
    conn.execute("COMMIT")
    stored = Path(previous["stored_at"]) if previous["stored_at"] else None
    base = s.restricted if privacy else s.rejected
    target = stored if stored is not None and not os.path.lexists(stored) else base / f"{name}__{_stamp(now)}"
    result = IngestResult(name, register, period, version, "replay", f"replay of a rejected delivery: {reason}",
                          previous["rows_manifest"], 0, 0, privacy)
    return result, target, _rejection_note(name, reason, now, replay=True), now


def ingest_inbox(settings: Settings | None = None) -> list[IngestResult]:
    """Ingest every ready delivery of the inbox in (register, period, version) order; folders whose
    name is not a delivery name (but that have a manifest) are rejected too.

    One warehouse connection for the whole inbox (opened at the first delivery that needs it):
    opening the file and checkpointing it on close cost more than loading a small delivery.
    Each delivery is still its own transaction, committed before its folder is moved.

    Deliveries another process has claimed or handled meanwhile are left out of the result; so
    are the later versions of a register and period whose earlier one another process holds, so
    versions are still loaded in order. ``WarehouseBusy`` propagates (the rest stays in the inbox).
    """
    s = settings or load()
    results, held = [], set()
    conn = None
    try:
        for f in scan_inbox(s.inbox):
            if f.state not in ("ready", "invalid_name"):
                continue
            key = (f.register, f.period) if f.register else None
            if key is not None and key in held:
                continue
            if conn is None:
                conn = warehouse.connect(s)
                warehouse.ensure_schemas(conn)
                # checkpoint on close, not at every commit that grows the WAL past 16 MB
                conn.execute("SET checkpoint_threshold = '1GB'")
            r = ingest_delivery(f.path, s, scanned=f.ident, conn=conn)
            if r.status == "skipped":
                if key is not None and os.path.lexists(f.path):  # still there: another process holds it
                    held.add(key)
                continue
            results.append(r)
    finally:
        if conn is not None:
            conn.close()
    return results
