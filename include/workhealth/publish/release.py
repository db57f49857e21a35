"""Versioned indicator releases in two parts, never modified once written.

- public, ``OUT/releases/<release_id>/``: the disclosure-controlled indicator tables and the
  evaluation's ``effects`` (CSV and Parquet) and ``metadata.json``; nothing person-level;
- internal, ``OUT/internal/<release_id>/``: the person-level marts (``marts/*.parquet``, the
  evaluation cohort among them), their data dictionary (``data_dictionary.html``, by ``dbt docs
  generate --static``) and the evaluation's tables before disclosure control
  (``evaluation/*.parquet``), for the operating user and its group only (folders 0750, files
  0440, set explicitly).

Each part is written into a hidden temporary folder next to its final place (``.tmp-<id>``),
its files are made read-only, and it is renamed into place in one step (readers never see half
a part). The internal part is renamed first, the public one last, then ``OUT/internal/latest``
and ``OUT/releases/latest`` (relative symlinks) are swapped atomically: ``releases/latest``
never names a release without its internal part. One publish at a time (an exclusive lock on
``OUT/.publish.lock``); holding it, a publish first removes what a killed one left behind.

A new release is made only when its inputs changed: the fingerprint covers the accepted
deliveries (register, period, version, manifest hash), the data horizon, the definitions (dbt
models, macros, the indicator, evaluation and disclosure code), the code lists and the
evaluation's effects (their content). Equal to the latest release's fingerprint -> nothing is
written (``created=False``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from workhealth.core import warehouse as _warehouse
from workhealth.core.definitions import DEFINITIONS_VERSION
from workhealth.publish import disclosure, indicators, withhold
from workhealth.core.settings import Settings

#: The marts (docs/definitions.md#the-marts), person-level: exported as Parquet into the internal
#: part of every release (``OUT/internal/<release_id>/marts/``), never into the public folder.
INTERNAL_MARTS = ("dim_person", "fct_person_month", "fct_sick_leave_cases", "fct_treatment_courses",
                  "fct_course_trajectories", "coding_quality_monthly", "coding_quality_yearly",
                  "fct_measure_spells", "fct_primary_care_contacts",
                  # written by the evaluation stage (a dbt source, not a model): docs/evaluation.md
                  "fct_evaluation_cohort")
#: Marts that are dbt sources (written after the build): their selector for the data dictionary.
_SOURCE_MARTS = {"fct_evaluation_cohort": "source:evaluation_cohort.fct_evaluation_cohort"}
#: The evaluation's tables before disclosure control (schema ``evaluation``): exported into the
#: internal part (``evaluation/<table>.parquet``); the report draws balance and cumulative
#: incidence from there. ``effects`` after disclosure control is the public table ``effects``.
EVALUATION_TABLES = ("effects", "balance", "cumulative_incidence")
#: The public table of the evaluation (docs/evaluation.md#the-published-table-effects).
EFFECTS = "effects"
#: What "the definitions" are, relative to the dbt project (plus this package's code below).
_DEFINITION_GLOBS = ("models/**/*.sql", "models/**/*.yml", "macros/**/*.sql", "dbt_project.yml")
_PUBLISH_CODE = ("indicators.py", "disclosure.py", "withhold.py")
_EVALUATE_CODE = ("stage.py", "methods.py")
#: The layout of a release (2: public tables + internal marts; 3: + the effects table and the
#: internal evaluation tables). In the fingerprint, so the first publish after a layout change
#: writes a new, complete release in the new layout.
RELEASE_LAYOUT = 3
#: The internal part: owner and group only, read-only files.
INTERNAL_DIR_MODE, INTERNAL_FILE_MODE = 0o750, 0o440
DATA_DICTIONARY = "data_dictionary.html"
#: ``(settings, models) -> path of an HTML page``: workhealth.transform.data_dictionary (handed in
#: by the caller: the stage packages do not import each other).
DictionaryMaker = Callable[[Settings, Sequence[str]], Path]


@dataclass
class PublishResult:
    release_id: str
    created: bool
    path: Path
    report_path: Path
    fingerprint: str
    horizon: str | None
    #: Seconds per phase (inputs, indicators, marts_export, data_dictionary, disclosure, write, report).
    timings: dict = field(default_factory=dict)
    #: The internal part of the release, OUT/internal/<release_id>/ (marts, data dictionary).
    internal_path: Path | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"], d["report_path"] = str(self.path), str(self.report_path)
        d["internal_path"] = str(self.internal_path) if self.internal_path else None
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
    for name in _EVALUATE_CODE:
        out[f"include/workhealth/evaluate/{name}"] = _sha256(here.parent / "evaluate" / name)
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


def fingerprint(inputs: dict, withheld_years: Sequence[int] = ()) -> str:
    """sha256 over what the numbers depend on (not over build time or quality findings)."""
    basis = {
        "deliveries": [(d["register"], d["period"], d["version"], d["manifest_sha256"])
                       for d in inputs["deliveries"]],
        "horizon": [inputs["first_month"], inputs["horizon"]],
        "definitions": inputs["definitions"]["files"],
        "codelists": inputs["codelists"]["files"],
        "rules": disclosure.RULES,
        "layout": RELEASE_LAYOUT,
        # A changed quality outcome (a year withheld or released again) changes the published numbers.
        "withheld_years": sorted(int(y) for y in withheld_years),
        # The evaluation's estimates themselves (a changed seed or variable changes them).
        "effects": inputs.get("evaluation", {}).get("effects_sha256"),
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()


def read_effects(con) -> pd.DataFrame:
    """``evaluation.effects`` (before disclosure control) in a fixed order; a warehouse the
    evaluation has not run on is refused (its release would lack the effects)."""
    import duckdb

    try:
        return con.execute(
            "select * from evaluation.effects order by intervention, subgroup_dim <> 'all', subgroup_dim, "
            "subgroup_value <> 'all', subgroup_value, outcome, k").df()
    except duckdb.CatalogException as exc:
        raise ValueError("the warehouse has no evaluation.effects: run the evaluation (workhealth.evaluate) "
                         "after the build and before publishing") from exc


def effects_hash(effects: pd.DataFrame) -> str:
    """sha256 of the effects' content; rounded, so the last bits of a float sum never make a new release."""
    text = effects.round(10).to_csv(index=False, lineterminator="\n", float_format="%.10g")
    return hashlib.sha256(text.encode()).hexdigest()


def releases_dir(s: Settings) -> Path:
    """The public parts: OUT/releases/."""
    return s.out / "releases"


def internal_dir(s: Settings) -> Path:
    """The internal parts: OUT/internal/ (never under OUT/releases/)."""
    return s.out / "internal"


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


def _export(con, folder: Path, schema: str, tables: Sequence[str]) -> dict[str, int]:
    """``schema``'s ``tables`` as Parquet into ``folder/<schema>`` (internal: the marts, and the
    evaluation's tables before disclosure control); rows by file name (relative to folder)."""
    (folder / schema).mkdir(mode=INTERNAL_DIR_MODE)
    files = {}
    for name in tables:
        target = folder / schema / f"{name}.parquet"
        quoted = str(target).replace("'", "''")
        con.execute(f"COPY (SELECT * FROM {schema}.{name}) TO '{quoted}' (FORMAT parquet, COMPRESSION zstd)")
        files[f"{schema}/{name}.parquet"] = con.execute(f"SELECT count(*) FROM {schema}.{name}").fetchone()[0]
    return files


def dictionary_selection(marts: Sequence[str]) -> list[str]:
    """dbt selectors of ``marts`` for the data dictionary (a source's is ``source:<source>.<table>``)."""
    return [_SOURCE_MARTS.get(m, m) for m in marts]


def _make_read_only(folder: Path) -> None:
    # Files only: a read-only folder would stop the owner from ever cleaning up (rm -rf data/).
    for f in folder.rglob("*"):
        if f.is_file():
            f.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _restrict(folder: Path) -> None:
    """Folders 0750, files 0440 under ``folder`` (itself included), set explicitly: whoever runs
    the publish, their umask must not decide who may read person-level data."""
    folder.chmod(INTERNAL_DIR_MODE)
    for p in folder.rglob("*"):
        if not p.is_symlink():
            p.chmod(INTERNAL_DIR_MODE if p.is_dir() else INTERNAL_FILE_MODE)


def _private_root(s: Settings) -> Path:
    """OUT/internal/, created 0750 (and kept so: chmod on every publish), before anything is
    written into it: while a file is being written, the folder already keeps others out."""
    root = internal_dir(s)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(INTERNAL_DIR_MODE)
    return root


def _point_latest(root: Path, release_id: str) -> None:
    link = root / "latest"
    tmp = root / f".latest-{os.getpid()}"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(release_id)  # relative: the releases folder can move as a whole
    os.replace(tmp, link)


@contextmanager
def _publish_lock(s: Settings) -> Iterator[None]:
    """One publish at a time (an exclusive fcntl lock on OUT/.publish.lock; a second one waits).
    The kernel drops the lock of a process that dies, so a killed publish never blocks the next."""
    s.out.mkdir(parents=True, exist_ok=True)
    with open(s.out / ".publish.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _clean_stale(s: Settings) -> list[str]:
    """Remove what a killed publish left (call with the publish lock held: then no other publish
    is running, so every ``.tmp-*`` folder and ``.latest-*`` link is stale), and an internal part
    whose public part never appeared (killed between the two renames). Returns what went."""
    removed = []
    public, private = releases_dir(s), internal_dir(s)
    for root in (public, private):
        if not root.is_dir():
            continue
        for p in sorted(root.iterdir()):
            if p.name.startswith(".latest-") and p.is_symlink():
                p.unlink()
            elif p.name.startswith(".tmp-"):
                _remove(p)
            elif (root == private and p.name != "latest" and not p.name.startswith(".") and not p.is_symlink()
                  and p.is_dir() and not (public / p.name).is_dir()):
                _remove(p)
            else:
                continue
            removed.append(str(p.relative_to(s.out)))
    return removed


def _move_legacy_marts(s: Settings) -> None:
    """Releases of layout 1 kept the person-level marts in the public folder: move them into the
    internal part of the same release (folders 0750, files 0440). Nothing else of them changes."""
    public = releases_dir(s)
    for marts in sorted(public.glob("*/marts")):
        release = marts.parent
        if release.is_symlink() or release.name.startswith("."):
            continue
        target = _private_root(s) / release.name
        target.mkdir(mode=INTERNAL_DIR_MODE, exist_ok=True)
        if (target / "marts").exists():
            _remove(marts)
        else:
            shutil.move(marts, target / "marts")
        _restrict(target)


def publish(s: Settings, quality: dict, now: datetime | None = None, *, dictionary: DictionaryMaker) -> PublishResult:
    """Write a new release (both parts) when the inputs changed since the latest one, then the report.

    ``dictionary`` makes the marts' data dictionary page (workhealth.transform.data_dictionary);
    it is called only for a new release, when this process has closed its warehouse connection.

    ``quality`` is ``workhealth.quality.validate(...).to_dict()``: publishing a warehouse with a
    warehouse-wide critical finding (``publishable`` false) is refused; the years in
    ``quality["withheld"]`` are published with every measure empty, flag ``withheld``
    (workhealth.publish.withhold).
    """
    if not quality.get("publishable", False):
        raise ValueError("publication withheld: the quality gate did not pass (quality['publishable'] is false)")
    with _publish_lock(s):
        return _publish(s, quality, now, dictionary)


def _publish(s: Settings, quality: dict, now: datetime | None, dictionary: DictionaryMaker) -> PublishResult:
    """publish() with the publish lock held."""
    from workhealth.publish import report

    root, private = releases_dir(s), _private_root(s)
    root.mkdir(parents=True, exist_ok=True)
    _clean_stale(s)
    _move_legacy_marts(s)
    report_path = s.out / "report" / "index.html"
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now_ = time.perf_counter()
        timings[name] = round(now_ - clock[0], 2)
        clock[0] = now_

    con = _warehouse.connect(s, read_only=True)
    tmp = tmp_internal = final_internal = None
    try:
        inputs = _read_inputs(con, s)
        effects = read_effects(con)
        inputs["evaluation"] = {"effects_sha256": effects_hash(effects), "effects_rows": len(effects)}
        if "horizon" in quality and quality["horizon"] != inputs["horizon"]:
            # the gate judged the months against another horizon: its withheld years may be wrong
            raise ValueError(f"the quality result was judged against horizon {quality['horizon']}, the warehouse's "
                             f"is {inputs['horizon']}: validate this warehouse before publishing it")
        withheld = quality.get("withheld") or {}
        fp = fingerprint(inputs, withhold.years_of(withheld))
        lap("inputs")
        latest = latest_release(s)
        if latest is not None and latest[1]["fingerprint"] == fp:
            con.close()
            internal = private / latest[1]["release_id"]
            if not report_path.is_file():
                report.build_report(latest[0], report_path, internal / "marts")
            return PublishResult(latest[1]["release_id"], False, latest[0], report_path, fp, inputs["horizon"],
                                 timings, internal)
        built = (now or datetime.now(UTC)).replace(microsecond=0)
        release_id = f"{built:%Y%m%dT%H%M%SZ}-{fp[:8]}"
        # Inside OUT/internal/ (0750), so the marts are never readable by others, not even while written.
        tmp_internal = private / f".tmp-{release_id}"
        tmp_internal.mkdir(mode=INTERNAL_DIR_MODE)
        raw = indicators.compute(con)
        geo_parent = indicators.geo_parents(con)
        lap("indicators")
        mart_files = _export(con, tmp_internal, "marts", INTERNAL_MARTS)
        evaluation_files = _export(con, tmp_internal, "evaluation", EVALUATION_TABLES)
        lap("marts_export")
    except BaseException:
        con.close()
        _remove(tmp_internal)
        raise
    con.close()
    try:
        # dbt opens the warehouse itself: only now that this process has closed its connection.
        shutil.copyfile(dictionary(s, dictionary_selection(INTERNAL_MARTS)), tmp_internal / DATA_DICTIONARY)
        lap("data_dictionary")
        tmp = root / f".tmp-{release_id}"
        tmp.mkdir()
        specs = {t.name: t for t in indicators.TABLES}
        published = disclosure.suppress_release(raw, specs, geo_parent)
        # After disclosure control: a withheld year's measures are all empty (withhold.py says why that is safe).
        published = withhold.withhold(published, specs, withhold.years_of(withheld))
        published_effects = disclosure.suppress_effects(effects)
        lap("disclosure")
        tables = {}
        for spec in indicators.TABLES:
            df = published[spec.name]
            tables[spec.name] = {
                "files": _write_table(df, tmp, spec.name),
                "rows": len(df),
                "columns": list(df.columns),
                "suppressed": {m.name: {flag: int((df[f"{m.name}_flag"] == flag).sum())
                                        for flag in ("primary", "secondary", "no_units", withhold.WITHHELD)}
                               for m in spec.measures},
            }
        flagged = [c[: -len("_flag")] for c in published_effects.columns if c.endswith("_flag")]
        tables[EFFECTS] = {
            "files": _write_table(published_effects, tmp, EFFECTS),
            "rows": len(published_effects),
            "columns": list(published_effects.columns),
            "suppressed": {c: {str(flag): int(n) for flag, n in
                               published_effects[f"{c}_flag"].dropna().loc[lambda f: f != ""].value_counts()
                               .sort_index().items()} for c in flagged},
            "disclosure_rules": disclosure.RULES["effects"],
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
            # Each withheld year with the critical findings (check, period, observed value, threshold)
            # that withheld it; its rows are published with empty measures, flag withheld.
            "withheld": withheld,
            "disclosure_rules": disclosure.RULES,
            "tables": tables,
            # the internal part, relative to OUT, its files by name and rows (no machine path in public)
            "internal": {"folder": f"internal/{release_id}", "marts": mart_files,
                         "evaluation": evaluation_files, "data_dictionary": DATA_DICTIONARY},
            # what the effects table was computed from (before disclosure control)
            "evaluation": inputs["evaluation"],
            "previous_release": latest[1]["release_id"] if latest else None,
        }
        (tmp / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8")
        _make_read_only(tmp)
        _restrict(tmp_internal)
        # Internal first, public last: a public release always has its internal part.
        os.rename(tmp_internal, private / release_id)  # atomic on one file system; fails if the id exists
        final_internal = private / release_id  # ours from here on: removed if the public rename fails
        final = root / release_id
        os.rename(tmp, final)
    except BaseException:
        _remove(tmp)
        _remove(tmp_internal)
        _remove(final_internal)
        raise
    _point_latest(private, release_id)
    _point_latest(root, release_id)
    lap("write")
    report.build_report(final, report_path, final_internal / "marts")
    lap("report")
    return PublishResult(release_id, True, final, report_path, fp, inputs["horizon"], timings, final_internal)


def _remove(folder: Path | None) -> None:
    if folder is not None and folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
