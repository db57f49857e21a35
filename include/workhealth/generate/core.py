"""``generate()``: simulate the population month by month and write the inbox, delivery by delivery.

Structural defects (opt-in) are applied here, to one named delivery each (see ``DEFECTS`` and
docs/synthetic_data.md); coding defects are part of the simulation and always present.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workhealth.core.files import sha256_of
from workhealth.generate.writer import write_data_file, write_manifest
from workhealth.generate.crosssector import CrossSector
from workhealth.generate.simulation import World, load_codes
from workhealth.core.identity import make_identity_number
from workhealth.core.registers import CROSS_SECTOR_REGISTERS, MONTHLY_REGISTERS, delivery_name

#: Structural defects: name -> which delivery it hits and how (opt-in via ``defects=``).
DEFECTS: dict[str, str] = {
    "correction": "npr_episodes of the middle month gets a v2 (produced 20 days after v1) that drops 0.5 % "
                  "(at least 2) of v1's episodes and changes the main diagnosis of 0.5 % (at least 2)",
    "checksum": "nav_aap of the last month: the manifest's sha256 does not match the data file",
    "rowcount": "nav_disability of the last month: the manifest's row count is 3 more than the file's",
    "unparseable": "aareg_employment of the middle month: 1 row per 2,000 (at least 1) has an unparseable "
                   "integer or month, plus 1 row with employer_id missing (under the 0.1 % threshold)",
    "over_threshold": "nav_sickleave of the last month: 1 % (at least 3) of rows have an unparseable "
                      "end_date or grade (over the 0.1 % threshold)",
    "duplicate_key": "aareg_employment of the first month: one row is repeated, so its key occurs twice "
                     "(under the 0.1 % threshold)",
    "fnr": "npr_episodes of the last month: one row's secondary_diagnoses holds a valid fødselsnummer",
    "arriving": "npr_episodes of the month after the end: data file written, no manifest.json (still arriving)",
    "bad_header": "aareg_employment of the last month: column fte_pct is delivered as stillingsprosent "
                  "(one missing and one unknown column)",
    # Coding defects on demand (loaded as delivered; the quality gate judges them, docs/quality.md):
    "diagnosis_outage": "npr_episodes of the first month: 30 % of episodes at every trust carry an invalid "
                        "main diagnosis (a critical coding-quality finding: publication withheld)",
    "uncoded_work_units": "npr_episodes of the middle month (v1): no episode carries a work-related code "
                          "(work procedure codes and debitor 20 removed), so every work unit has a coding gap",
}

FORMATS = ("csv", "csv.gz", "parquet")


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (after resolving links and ``..``)."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents


def _months(start: str, end: str) -> list[np.datetime64]:
    a, b = np.datetime64(start, "M"), np.datetime64(end, "M")
    if b < a:
        raise ValueError(f"end {end} is before start {start}")
    return list(np.arange(a, b + 1))


def _produced_at(month: np.datetime64, day: int) -> str:
    """``day`` of the month after ``month``... given as the month it is produced in, 08:00 Oslo time."""
    year, mon = int(str(month)[:4]), int(str(month)[5:7])
    dt = datetime(year, mon, 1) + timedelta(days=day - 1)
    return dt.replace(hour=8).isoformat() + _oslo_offset(dt)


def _oslo_offset(dt: datetime) -> str:
    # Central European (Summer) Time: last Sunday of March to last Sunday of October.
    def last_sunday(year: int, month: int) -> datetime:
        d = datetime(year, month + 1, 1) - timedelta(days=1)
        return d - timedelta(days=(d.weekday() + 1) % 7)

    summer = last_sunday(dt.year, 3) <= dt < last_sunday(dt.year, 10)
    return "+02:00" if summer else "+01:00"


def _as_strings(table: pa.Table) -> pa.Table:
    return pa.table({n: pc.cast(table[n], pa.string()) for n in table.column_names})


def _set(table: pa.Table, column: str, rows: np.ndarray, values: list) -> pa.Table:
    """A copy of ``table`` (string columns) with ``column`` set to ``values`` at ``rows``."""
    col = table[column].to_pylist()
    for r, v in zip(rows.tolist(), values):  # a handful of rows
        col[r] = v
    return table.set_column(table.column_names.index(column), column, pa.array(col, pa.string()))


class _Inbox:
    def __init__(self, inbox: Path, fmt: str, rng: np.random.Generator, defects: set[str]):
        self.inbox, self.fmt, self.rng, self.defects = Path(inbox), fmt, rng, defects
        self.summary: list[dict] = []

    def write(self, register: str, period: str, table: pa.Table, produced_at: str, version: int = 1,
              defect: str | None = None, manifest: bool = True, sha_wrong: bool = False, rows_off: int = 0):
        folder = self.inbox / delivery_name(register, period, version)
        name = f"{register}.{self.fmt}"
        rows = write_data_file(folder / name, [table])
        if manifest:
            entry = {"path": name, "rows": rows + rows_off}
            if sha_wrong:
                real = sha256_of(folder / name)
                entry["sha256"] = real[:-1] + ("0" if real[-1] != "0" else "1")
            write_manifest(folder, register, period, version, [entry], produced_at)
        self.summary.append({"delivery": folder.name, "register": register, "period": period, "version": version,
                             "rows": rows, "defects": [defect] if defect else []})


def generate(inbox: Path, start: str = "2016-01", end: str = "2019-12", scale: float = 0.01,
             seed: int = 20240101, defects: Iterable[str] = (), fmt: str = "csv.gz",
             truth: Path | None = None) -> dict:
    """Write synthetic register deliveries for every month in [start, end] into ``inbox``.

    Returns ``{"deliveries": [...], "rows_per_register": {...}, "persons": n, "seconds": s,
    "truth_entries": n, "selection": {...}}``. Deterministic: the same arguments give
    byte-identical folders, with or without ``truth``: a JSON file (never inside the inbox) with
    the true effect on the treated of the planted interventions (docs/synthetic_data.md).
    """
    t0 = time.perf_counter()
    defects = set(defects)
    unknown = defects - set(DEFECTS)
    if unknown:
        raise ValueError(f"unknown defect(s) {sorted(unknown)}; valid: {sorted(DEFECTS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid: {FORMATS}")
    if scale <= 0:
        raise ValueError("scale must be positive")
    if truth is not None and inside(Path(truth), Path(inbox)):
        raise ValueError(f"the truth file {truth} must not be inside the inbox {inbox}")
    months = _months(start, end)
    rng = np.random.default_rng(seed)
    defect_rng = np.random.default_rng([seed, 1])  # defects do not disturb the simulation's stream
    world = World(rng, scale, months[0], load_codes(), seed=seed)
    # KPR contacts draw from their own stream: the other registers stay as they were without them
    cross = CrossSector(np.random.default_rng([seed, 2]), world, np.random.default_rng([seed, 3]))
    out = _Inbox(Path(inbox), fmt, defect_rng, defects)
    first, mid, last = 0, len(months) // 2, len(months) - 1

    for i, month in enumerate(months):
        period = str(month)
        if i == 0 or period.endswith("-01"):
            out.write("population", period, world.snapshot(month, first=i == 0), _produced_at(month, 5))
        tables = world.step(month)
        tables.update(cross.step(month))
        produced = _produced_at(month + 1, 5)
        for register in MONTHLY_REGISTERS + CROSS_SECTOR_REGISTERS:
            table = tables[register]
            kw: dict = {}
            if register == "npr_episodes" and i == last and "fnr" in defects:
                table, kw = _fnr(table, defect_rng, world), {"defect": "fnr"}
            elif register == "nav_aap" and i == last and "checksum" in defects:
                kw = {"defect": "checksum", "sha_wrong": True}
            elif register == "nav_disability" and i == last and "rowcount" in defects:
                kw = {"defect": "rowcount", "rows_off": 3}
            elif register == "aareg_employment" and i == last and "bad_header" in defects:
                table, kw = table.rename_columns(
                    ["stillingsprosent" if c == "fte_pct" else c for c in table.column_names]), {"defect": "bad_header"}
            elif register == "aareg_employment" and i == first and "duplicate_key" in defects and table.num_rows:
                table, kw = _duplicate(table, defect_rng), {"defect": "duplicate_key"}
            elif register == "aareg_employment" and i == mid and "unparseable" in defects and table.num_rows:
                table, kw = _unparseable(table, defect_rng), {"defect": "unparseable"}
            elif register == "nav_sickleave" and i == last and "over_threshold" in defects and table.num_rows:
                table, kw = _over_threshold(table, defect_rng), {"defect": "over_threshold"}
            elif register == "npr_episodes" and i == first and "diagnosis_outage" in defects and table.num_rows:
                table, kw = _diagnosis_outage(table, defect_rng), {"defect": "diagnosis_outage"}
            elif register == "npr_episodes" and i == mid and "uncoded_work_units" in defects and table.num_rows:
                table, kw = _uncoded_work_units(table), {"defect": "uncoded_work_units"}
            out.write(register, period, table, produced, **kw)
            if register == "npr_episodes" and i == mid and "correction" in defects:
                out.write(register, period, _correction(table, defect_rng), _produced_at(month + 1, 25),
                          version=2, defect="correction")
            del table
        del tables
    # the truth covers the generated span only (before the "arriving" month below)
    truth_rows = world.truth()
    if truth is not None:
        Path(truth).parent.mkdir(parents=True, exist_ok=True)
        Path(truth).write_text(json.dumps(truth_rows, indent=1) + "\n", encoding="utf-8")
    if "arriving" in defects:
        month = months[-1] + 1
        tables = world.step(month)
        out.write("npr_episodes", str(month), tables["npr_episodes"], "", defect="arriving", manifest=False)

    rows_per_register: dict[str, int] = {}
    for d in out.summary:
        rows_per_register[d["register"]] = rows_per_register.get(d["register"], 0) + d["rows"]
    return {
        "deliveries": out.summary,
        "rows_per_register": rows_per_register,
        "persons": int((world.shadow == 0).sum()),
        "truth_entries": len(world.entries["f"]),
        "selection": world.selection,
        "seconds": round(time.perf_counter() - t0, 3),
    }


# ---------------------------------------------------------------------------------------------
# structural defects
# ---------------------------------------------------------------------------------------------


def _fnr(table: pa.Table, rng: np.random.Generator, world: World) -> pa.Table:
    r = int(rng.integers(0, table.num_rows))
    fnr = make_identity_number(int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(50, 100)),
                               int(rng.integers(0, 500)))
    old = table["secondary_diagnoses"][r].as_py()
    value = f"{old}|{fnr}" if old else fnr
    col = table["secondary_diagnoses"].to_pylist()
    col[r] = value
    return table.set_column(table.column_names.index("secondary_diagnoses"), "secondary_diagnoses",
                            pa.array(col, pa.string()))


def _duplicate(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    r = int(rng.integers(0, table.num_rows))
    return pa.concat_tables([table.slice(0, r + 1), table.slice(r, 1), table.slice(r + 1)]).combine_chunks()


def _unparseable(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    n = table.num_rows
    k = max(1, n // 2000)
    rows = rng.choice(n, min(n, k + 1), replace=False)
    t = _as_strings(table)
    bad, missing = rows[:k], rows[k:]
    ints_ = bad[: (k + 1) // 2]
    months_ = bad[(k + 1) // 2:]
    t = _set(t, "earnings_nok", ints_, ["45 000"] * len(ints_))
    t = _set(t, "month", months_, [t["month"][int(r)].as_py().replace("-", "/") for r in months_])
    return _set(t, "employer_id", missing, [None] * len(missing))


def _over_threshold(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    n = table.num_rows
    k = min(n, max(3, n // 100))
    rows = rng.choice(n, k, replace=False)
    t = _as_strings(table)
    half = rows[: k // 2]
    t = _set(t, "end_date", half, [t["end_date"][int(r)].as_py()[:8] + "32" for r in half])
    return _set(t, "grade", rows[k // 2:], ["full"] * (k - k // 2))


def _diagnosis_outage(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    from workhealth.generate.calibration import INVALID_DIAGNOSES

    n = table.num_rows
    hit = rng.random(n) < 0.30
    bad = pa.array(np.array(INVALID_DIAGNOSES)[rng.integers(0, len(INVALID_DIAGNOSES), n)])
    main = pc.if_else(pa.array(hit), bad, table["main_diagnosis"].combine_chunks())
    return table.set_column(table.column_names.index("main_diagnosis"), "main_diagnosis", main)


def _uncoded_work_units(table: pa.Table) -> pa.Table:
    codes = [None if v is None else "|".join(c for c in v.split("|") if c not in ("OABI00", "OBBJ00")) or None
             for v in table["procedure_codes"].to_pylist()]
    debitor = pc.if_else(pc.equal(table["debitor"], 20), pa.scalar(None, table["debitor"].type), table["debitor"])
    table = table.set_column(table.column_names.index("procedure_codes"), "procedure_codes", pa.array(codes, pa.string()))
    return table.set_column(table.column_names.index("debitor"), "debitor", debitor)


def _correction(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    n = table.num_rows
    k = min(n // 2, max(2, n // 200))
    rows = rng.choice(n, 2 * k, replace=False)
    drop, change = rows[:k], rows[k:]
    main = table["main_diagnosis"].to_pylist()
    fixes = ("M545", "F329", "J069", "M796")
    for j, r in enumerate(change.tolist()):
        main[r] = fixes[j % len(fixes)] if main[r] != fixes[j % len(fixes)] else "R529"
    t = table.set_column(table.column_names.index("main_diagnosis"), "main_diagnosis", pa.array(main, pa.string()))
    keep = np.ones(n, bool)
    keep[drop] = False
    return t.filter(pa.array(keep))
