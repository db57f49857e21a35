"""Write a delivery folder exactly as the contract defines it (docs/ingestion.md): data files
first, manifest last.

Used by the synthetic generator and by tests that craft (possibly broken) deliveries.
Data arrive as an iterable of pyarrow tables, so large files stream to disk batch by batch.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from workhealth.core.files import sha256_of
from workhealth.core.registers import MANIFEST, delivery_name

#: gzip level 1: about as small as level 6 for these files and several times faster to write.
GZIP_LEVEL = 1


def write_data_file(path: Path, batches: Iterable[pa.Table]) -> int:
    """Write ``batches`` to ``path`` (.csv, .csv.gz or .parquet); returns the number of data rows.

    CSV: UTF-8, ``;``-separated, header row, ``"`` quoting where needed, empty = missing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    name = path.name
    if name.endswith(".parquet"):
        writer = None
        try:
            for table in batches:
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
                rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
        return rows
    if not (name.endswith(".csv") or name.endswith(".csv.gz")):
        raise ValueError(f"unsupported data file type: {name}")
    # pyarrow's CompressedOutputStream takes no compression level (pyarrow 26): gzip via Python's zlib.
    # mtime=0: no timestamp in the gzip header, so the same rows give byte-identical files.
    sink = (
        pa.PythonFile(gzip.GzipFile(path, "wb", compresslevel=GZIP_LEVEL, mtime=0), mode="w")
        if name.endswith(".gz")
        else pa.OSFile(str(path), "wb")
    )
    options = pacsv.WriteOptions(delimiter=";", quoting_style="needed")
    with sink:
        writer = None
        for table in batches:
            if writer is None:
                writer = pacsv.CSVWriter(sink, table.schema, write_options=options)
            writer.write_table(table)
            rows += table.num_rows
        if writer is not None:
            writer.close()
    return rows


def write_manifest(
    folder: Path,
    register: str,
    period: str,
    version: int,
    files: list[dict],
    produced_at: str | None = None,
    schema_version: int = 1,
) -> Path:
    """Write ``manifest.json`` (last: its presence marks the delivery as ready).

    ``files`` holds ``{"path", "rows"}``; the sha256 is computed here unless given.
    """
    entries = [
        {"path": f["path"], "rows": f["rows"], "sha256": f.get("sha256") or sha256_of(folder / f["path"])}
        for f in files
    ]
    manifest = {
        "register": register,
        "period": period,
        "version": version,
        "schema_version": schema_version,
        "produced_at": produced_at or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": entries,
    }
    path = folder / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.rename(path)  # atomic: a reader never sees half a manifest
    return path


def write_delivery(
    inbox: Path,
    register: str,
    period: str,
    version: int,
    batches: Iterable[pa.Table],
    fmt: str = "csv.gz",
    produced_at: str | None = None,
) -> Path:
    """Write one single-file delivery folder ``<inbox>/<register>_<period>_v<version>/``."""
    folder = Path(inbox) / delivery_name(register, period, version)
    file_name = f"{register}.{fmt}"
    rows = write_data_file(folder / file_name, batches)
    write_manifest(folder, register, period, version, [{"path": file_name, "rows": rows}], produced_at)
    return folder
