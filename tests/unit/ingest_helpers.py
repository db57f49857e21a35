"""Crafting deliveries for the ingestion tests: valid rows per register, written with the writer."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa

from workhealth.core.files import sha256_of
from workhealth.core.registers import MANIFEST
from workhealth.generate.writer import write_delivery, write_manifest


def pid(i: int) -> str:
    return f"{i:016x}"


def rows(register: str, n: int, period: str = "2024-03", start: int = 0) -> list[dict]:
    """``n`` valid rows of ``register`` for ``period`` (all strings, as in a CSV)."""
    y, m = period.split("-")
    day = f"{period}-15"
    out = []
    for i in range(start, start + n):
        if register == "npr_episodes":
            out.append(dict(episode_id=f"E{i:08d}", person_id=pid(i), health_trust="HF01", unit_id="U1",
                            care_level="3", referral_date=f"{period}-01", start_date=f"{period}-02",
                            end_date=day, main_diagnosis="M545", secondary_diagnoses="F321|Z560",
                            procedure_codes="", debitor="20" if i % 2 else ""))
        elif register == "nav_sickleave":
            out.append(dict(certificate_id=f"C{i:08d}", person_id=pid(i), start_date=day, end_date=f"{period}-28",
                            grade="100", diagnosis_system="ICPC2", diagnosis_code="L03"))
        elif register == "nav_aap":
            out.append(dict(decision_id=f"A{i:08d}", person_id=pid(i), start_date=day, end_date=""))
        elif register == "nav_disability":
            out.append(dict(decision_id=f"D{i:08d}", person_id=pid(i), start_date=day, end_date="", grade="50"))
        elif register == "aareg_employment":
            out.append(dict(person_id=pid(i), employer_id=f"EMP{i % 97:05d}", month=period, fte_pct="80.5",
                            earnings_nok="45000"))
        elif register == "nav_measures":
            out.append(dict(spell_id=f"T{i:08d}", person_id=pid(i), measure_type="INDJOBSTOT" if i % 2 else "ARBTREN",
                            start_date=day, end_date=""))
        elif register == "kpr_contacts":
            out.append(dict(contact_id=f"K{i:08d}", person_id=pid(i), contact_date=day, service="GP",
                            diagnosis_system="ICPC2", diagnosis_code="P76" if i % 2 else "L03"))
        elif register == "population":
            out.append(dict(person_id=pid(i), birth_year="1980", sex=str(1 + i % 2), municipality="0301",
                            death_date=""))
        else:
            raise ValueError(register)
    return out


def table(rs: list[dict]) -> pa.Table:
    cols = list(rs[0])
    return pa.table({c: pa.array([r[c] for r in rs], pa.string()) for c in cols})


def deliver(inbox: Path, register: str, period: str = "2024-03", version: int = 1, n: int = 10,
            rs: list[dict] | None = None, fmt: str = "csv") -> Path:
    """A valid (unless ``rs`` says otherwise) single-file delivery folder."""
    rs = rs if rs is not None else rows(register, n, period)
    return write_delivery(inbox, register, period, version, [table(rs)], fmt=fmt)


def write_raw(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def csv_text(columns: list[str], lines: list[str]) -> str:
    return ";".join(columns) + "\n" + "".join(line + "\n" for line in lines)


def raw_delivery(inbox: Path, register: str, period: str, version: int, text: str | bytes, rows_count: int,
                 file_name: str | None = None) -> Path:
    """A delivery whose one data file is exactly ``text``; manifest with ``rows_count``."""
    folder = inbox / f"{register}_{period}_v{version}"
    file_name = file_name or f"{register}.csv"
    write_raw(folder, file_name, text)
    write_manifest(folder, register, period, version, [{"path": file_name, "rows": rows_count}])
    return folder


def edit_manifest(folder: Path, **changes) -> None:
    path = folder / MANIFEST
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


def rehash(folder: Path) -> None:
    """Recompute every file's sha256 in the manifest (after editing a file)."""
    path = folder / MANIFEST
    doc = json.loads(path.read_text())
    for f in doc["files"]:
        f["sha256"] = sha256_of(folder / f["path"])
    path.write_text(json.dumps(doc))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def query(settings, sql: str, params=None) -> list[tuple]:
    conn = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.close()


