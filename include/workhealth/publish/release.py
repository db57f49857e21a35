"""Versioned indicator releases: ``OUT/releases/<release_id>/``, never modified once written.

A release is written into a hidden temporary folder next to its final place, its files are
made read-only, and it is renamed into place in one step (readers never see half a release);
``OUT/releases/latest`` (a relative symlink) is then swapped atomically to point at it.

A new release is made only when its inputs changed: the fingerprint covers the accepted
deliveries (register, period, version, manifest hash), the data horizon, the definitions (dbt
models, macros, the indicator and disclosure code) and the code lists. Equal to the latest
release's fingerprint -> nothing is written (``created=False``).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from workhealth.core import warehouse as _warehouse
from workhealth.core.definitions import DEFINITIONS_VERSION
from workhealth.publish import disclosure, indicators
from workhealth.core.settings import Settings

#: The public marts (docs/definitions.md#the-marts), exported as Parquet with every release.
PUBLIC_MARTS = ("dim_person", "fct_person_month", "fct_sick_leave_cases", "fct_treatment_courses",
                "fct_course_trajectories", "coding_quality_monthly", "coding_quality_yearly")
#: What "the definitions" are, relative to the dbt project (plus this package's code below).
_DEFINITION_GLOBS = ("models/**/*.sql", "models/**/*.yml", "macros/**/*.sql", "dbt_project.yml")
_PUBLISH_CODE = ("indicators.py", "disclosure.py")


@dataclass
class PublishResult:
    release_id: str
    created: bool
    path: Path
    report_path: Path
    fingerprint: str
    horizon: str | None
    #: Seconds per phase (inputs, indicators, marts_export, disclosure, write, report).
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"], d["report_path"] = str(self.path), str(self.report_path)
        return d


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def definition_hashes(s: Settings) -> dict[str, str]:
    """sha256 of every file that defines the published numbers, by path."""
    out = {}
    for pattern in _DEFINITION_GLOBS:
        for f in sorted(s.dbt_project_dir.glob(pattern)):
            out[f"dbt_project/{f.relative_to(s.dbt_project_dir)}"] = _sha256(f)
    here = Path(__file__).parent
    for name in _PUBLISH_CODE:
        out[f"include/workhealth/publish/{name}"] = _sha256(here / name)
    return out


def codelist_hashes(s: Settings) -> dict[str, str]:
    return {f.stem: _sha256(f) for f in sorted(s.codelists_dir.glob("*.csv"))}


def _combined(hashes: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()


def _read_inputs(con, s: Settings) -> dict:
    """The deliveries the marts were built from (audit.deliveries, accepted) and the horizon."""
    cur = con.execute(
        "SELECT delivery, register, period, version, manifest_sha256, rows_loaded, rows_quarantined, "
        "processed_at FROM audit.deliveries WHERE status = 'accepted' ORDER BY register, period, version")
    names = [c[0] for c in cur.description]
    deliveries = [dict(zip(names, r)) for r in cur.fetchall()]
    for d in deliveries:
        d["processed_at"] = d["processed_at"].isoformat(timespec="seconds") if d["processed_at"] else None
    # Computed once, in dbt (int_data_horizons_computed); no row before any delivery.
    first, horizon = con.execute(
        "SELECT strftime(first_month, '%Y-%m'), strftime(horizon_month, '%Y-%m') FROM publication.pub_release_period"
    ).fetchone() or (None, None)
    definitions, codelists = definition_hashes(s), codelist_hashes(s)
    return {
        "deliveries": deliveries,
        "first_month": first,
        "horizon": horizon,
        # the declared version (dbt var definitions_version) and the hash of what implements it
        "definitions": {"version": DEFINITIONS_VERSION, "hash": _combined(definitions)[:16], "files": definitions},
        "codelists": {"version": _combined(codelists)[:16], "files": codelists},
    }


def fingerprint(inputs: dict) -> str:
    """sha256 over what the numbers depend on (not over build time or quality findings)."""
    basis = {
        "deliveries": [(d["register"], d["period"], d["version"], d["manifest_sha256"])
                       for d in inputs["deliveries"]],
        "horizon": [inputs["first_month"], inputs["horizon"]],
        "definitions": inputs["definitions"]["files"],
        "codelists": inputs["codelists"]["files"],
        "rules": disclosure.RULES,
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()


def releases_dir(s: Settings) -> Path:
    return s.out / "releases"


def latest_release(s: Settings) -> tuple[Path, dict] | None:
    """(folder, metadata) of the release ``latest`` points to, or None."""
    link = releases_dir(s) / "latest"
    meta = link / "metadata.json"
    if not meta.is_file():
        return None
    return link.resolve(), json.loads(meta.read_text())


def _write_table(df: pd.DataFrame, folder: Path, name: str) -> list[str]:
    df.to_csv(folder / f"{name}.csv", sep=";", index=False, na_rep="", encoding="utf-8", lineterminator="\n")
    df.to_parquet(folder / f"{name}.parquet", index=False)
    return [f"{name}.csv", f"{name}.parquet"]


def _export_marts(con, folder: Path) -> list[str]:
    (folder / "marts").mkdir()
    files = []
    for name in PUBLIC_MARTS:
        target = folder / "marts" / f"{name}.parquet"
        quoted = str(target).replace("'", "''")
        con.execute(f"COPY (SELECT * FROM marts.{name}) TO '{quoted}' (FORMAT parquet, COMPRESSION zstd)")
        files.append(f"marts/{name}.parquet")
    return files


def _make_read_only(folder: Path) -> None:
    # Files only: a read-only folder would stop the owner from ever cleaning up (rm -rf data/).
    for f in folder.rglob("*"):
        if f.is_file():
            f.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _point_latest(s: Settings, release_id: str) -> None:
    link = releases_dir(s) / "latest"
    tmp = releases_dir(s) / f".latest-{os.getpid()}"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(release_id)  # relative: the releases folder can move as a whole
    os.replace(tmp, link)


def publish(s: Settings, quality: dict, now: datetime | None = None) -> PublishResult:
    """Write a new release when the inputs changed since the latest one, then the report.

    ``quality`` is ``workhealth.quality.validate(...).to_dict()``; publishing a warehouse that
    did not pass the gate is refused.
    """
    from workhealth.publish import report

    if not quality.get("publishable", False):
        raise ValueError("publication withheld: the quality gate did not pass (quality['publishable'] is false)")
    root = releases_dir(s)
    root.mkdir(parents=True, exist_ok=True)
    report_path = s.out / "report" / "index.html"
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now_ = time.perf_counter()
        timings[name] = round(now_ - clock[0], 2)
        clock[0] = now_

    con = _warehouse.connect(s, read_only=True)
    tmp = None
    try:
        inputs = _read_inputs(con, s)
        fp = fingerprint(inputs)
        lap("inputs")
        latest = latest_release(s)
        if latest is not None and latest[1]["fingerprint"] == fp:
            con.close()
            if not report_path.is_file():
                report.build_report(latest[0], report_path)
            return PublishResult(latest[1]["release_id"], False, latest[0], report_path, fp, inputs["horizon"],
                                 timings)
        built = (now or datetime.now(UTC)).replace(microsecond=0)
        release_id = f"{built:%Y%m%dT%H%M%SZ}-{fp[:8]}"
        tmp = root / f".tmp-{release_id}"
        tmp.mkdir()
        raw = indicators.compute(con)
        geo_parent = indicators.geo_parents(con)
        lap("indicators")
        mart_files = _export_marts(con, tmp)
        lap("marts_export")
    except BaseException:
        con.close()
        _remove(tmp)
        raise
    con.close()
    try:
        published = disclosure.suppress_release(raw, {t.name: t for t in indicators.TABLES}, geo_parent)
        lap("disclosure")
        tables = {}
        for spec in indicators.TABLES:
            df = published[spec.name]
            tables[spec.name] = {
                "files": _write_table(df, tmp, spec.name),
                "rows": len(df),
                "columns": list(df.columns),
                "suppressed": {m.name: {"primary": int((df[f"{m.name}_flag"] == "primary").sum()),
                                        "secondary": int((df[f"{m.name}_flag"] == "secondary").sum())}
                               for m in spec.measures},
            }
        metadata = {
            "release_id": release_id,
            "fingerprint": fp,
            "built_at": built.isoformat().replace("+00:00", "Z"),
            "first_month": inputs["first_month"],
            "horizon": inputs["horizon"],
            "deliveries": inputs["deliveries"],
            "definitions": inputs["definitions"],
            "codelists": inputs["codelists"],
            "quality": {"run_id": quality.get("run_id"), "publishable": quality.get("publishable"),
                        "periods": quality.get("periods", {})},
            "disclosure_rules": disclosure.RULES,
            "tables": tables,
            "marts": mart_files,
            "previous_release": latest[1]["release_id"] if latest else None,
        }
        (tmp / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8")
        _make_read_only(tmp)
        final = root / release_id
        os.rename(tmp, final)  # atomic on one file system; fails if the id exists
    except BaseException:
        _remove(tmp)
        raise
    _point_latest(s, release_id)
    lap("write")
    report.build_report(final, report_path)
    lap("report")
    return PublishResult(release_id, True, final, report_path, fp, inputs["horizon"], timings)


def _remove(folder: Path | None) -> None:
    import shutil

    if folder is not None and folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
