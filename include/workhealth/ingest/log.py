"""The delivery log: what ingestion did with every delivery (``workhealth deliveries``)."""

from __future__ import annotations

from pathlib import Path

from workhealth.core import identity
from workhealth.core import warehouse as _warehouse
from workhealth.core.settings import load as load_settings
from workhealth.ingest.inbox import scan_inbox

FIELDS = ("delivery", "register", "period", "version", "status", "reason", "rows_manifest", "rows_loaded",
          "rows_quarantined", "received_at", "processed_at", "privacy_breach", "superseded_by", "produced_at",
          "stored_at")


def list_deliveries(warehouse: Path, inbox: Path | None = None) -> list[dict]:
    """One dict per delivery seen (audit.deliveries), plus ``waiting`` folders of ``inbox``.

    Sorted by register, period, version. A missing warehouse file gives only the waiting ones.
    Timestamps are ISO strings (UTC).
    """
    out: list[dict] = []
    path = Path(warehouse)
    if path.is_file():
        conn = _warehouse.connect(load_settings(), read_only=True, path=path)
        try:
            exists = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'audit' "
                "AND table_name = 'deliveries'").fetchone()[0]
            if exists:
                rows = conn.execute(f"SELECT {', '.join(FIELDS)} FROM audit.deliveries").fetchall()
                for r in rows:
                    d = dict(zip(FIELDS, r))
                    for k in ("received_at", "processed_at"):
                        if d[k] is not None:
                            d[k] = d[k].isoformat(timespec="seconds")
                    out.append(d)
        finally:
            conn.close()
    if inbox is not None:
        for f in scan_inbox(Path(inbox)):
            if f.state == "waiting":
                out.append(dict(delivery=identity.mask(f.name), register=f.register, period=f.period, version=f.version,
                                status="waiting", reason="no manifest.json yet (still arriving)",
                                rows_manifest=None, rows_loaded=None, rows_quarantined=None,
                                received_at=None, processed_at=None, privacy_breach=False, superseded_by=None,
                                produced_at=None, stored_at=None))
    out.sort(key=lambda d: (d["register"] or "~", d["period"] or "", d["version"] or 0, d["delivery"]))
    return out
