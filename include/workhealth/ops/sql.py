"""Read-only SQL for statisticians that never touches (or blocks) the live warehouse.

Two sources, both safe while the pipeline writes:

- a release (default: ``OUT/releases/latest``): an in-memory DuckDB with one view per Parquet
  file of the release, ``marts.<name>`` for the marts of its internal part
  (``OUT/internal/<release_id>/marts/*.parquet``, the same names as in the warehouse; readable by
  the operating user and group only) and ``release.<name>`` for the published indicator tables
  (``OUT/releases/<release_id>/*.parquet``);
- a snapshot: a copy of the warehouse file taken under a read-only connection (so no writer can
  change it mid-copy), opened read-only. It has every schema (raw, audit, marts) but is only
  as fresh as the copy, and taking it waits for the warehouse to be free (the copy holds
  DuckDB's shared lock for its duration, a few seconds per GB).

Either way the connection cannot write or wander: after the views are made it may read files
only in the release's public folder and its internal marts folder (or nothing but the snapshot
it has open: DuckDB's ``enable_external_access`` off, ``allowed_directories`` those two folders
(not the rest of the internal part), ``lock_configuration`` on,
so no ``SET`` undoes it), and a query is one ``SELECT`` (or ``EXPLAIN``) statement: ``COPY``,
``ATTACH``, ``INSTALL``/``LOAD``, ``SET``, ``CREATE`` ... are refused before they run.

``workhealth sql`` (cli.py) is the command; docs/operations.md has example queries.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from workhealth.core.settings import Settings

if TYPE_CHECKING:
    import duckdb


class SqlSourceError(RuntimeError):
    """The release or warehouse to query is missing or busy."""


class QueryRefused(ValueError):
    """The query is not a single read-only statement."""


#: What a statistician's query may be (DuckDB statement types).
READ_ONLY_STATEMENTS = ("SELECT", "EXPLAIN")


def check_read_only(query: str) -> None:
    """Refuse anything but one SELECT or EXPLAIN statement (parsed by DuckDB, nothing run)."""
    import duckdb

    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise QueryRefused(f"the query does not parse: {exc}") from None
    if len(statements) != 1:
        raise QueryRefused(f"one statement per query, got {len(statements)}")
    kind = statements[0].type.name
    if kind not in READ_ONLY_STATEMENTS:
        raise QueryRefused(f"{kind} is not allowed: workhealth sql runs one SELECT (or EXPLAIN) statement, "
                           "and writes, attaches, loads and settings are refused")


def _lock_down(con: duckdb.DuckDBPyConnection, readable: list[Path]) -> None:
    """No file access but ``readable`` (folders), and no setting can change that afterwards."""
    folders = ", ".join("'" + (str(p).rstrip("/") + "/").replace("'", "''") + "'" for p in readable)
    con.execute(f"SET allowed_directories = [{folders}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def release_folder(s: Settings, release: str | None = None) -> Path:
    releases = s.out / "releases"
    folder = releases / (release or "latest")
    if not (folder / "metadata.json").is_file():
        known = sorted(p.name for p in releases.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if releases.is_dir() else []
        raise SqlSourceError(f"no release {release or 'latest'} under {releases}"
                             + (f"; releases: {', '.join(known)}" if known else "; nothing published yet"))
    return folder.resolve()


def marts_folder(s: Settings, folder: Path) -> Path:
    """The marts of release ``folder`` (resolved): ``OUT/internal/<release_id>/marts``."""
    marts = s.out / "internal" / folder.name / "marts"
    try:
        if marts.is_dir() and any(marts.glob("*.parquet")):
            return marts.resolve()
    except PermissionError:  # not in the operating group: the internal part is not for this user
        raise SqlSourceError(f"the marts of release {folder.name} ({marts}) are not readable by this user: "
                             "the internal part is for the operating user and group only") from None
    raise SqlSourceError(f"release {folder.name} has no internal part with marts at {marts}")


def connect_release(folder: Path, marts: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory database with a view over every Parquet file of the release (public ``folder``)
    and of its internal ``marts`` folder."""
    import duckdb

    con = duckdb.connect(":memory:")
    for schema, files in (("marts", sorted(marts.glob("*.parquet"))),
                          ("release", sorted(folder.glob("*.parquet")))):
        con.execute(f"CREATE SCHEMA {schema}")
        for f in files:
            path = str(f).replace("'", "''")
            con.execute(f'CREATE VIEW {schema}."{f.stem}" AS SELECT * FROM read_parquet(\'{path}\')')
    _lock_down(con, [folder, marts])
    return con


def snapshot(s: Settings) -> Path:
    """Copy the warehouse to ``OUT/snapshots/`` (once per warehouse change); returns the copy."""
    import shutil


    from workhealth.core import warehouse

    if not s.warehouse.is_file():
        raise SqlSourceError(f"no warehouse at {s.warehouse}")
    target = s.out / "snapshots" / f"{s.warehouse.stem}.snapshot.duckdb"
    target.parent.mkdir(parents=True, exist_ok=True)
    # The read-only connection holds a shared lock: no writer can start during the copy. While a
    # pipeline task writes it raises WarehouseBusy (exit 6): query the latest release instead.
    con = warehouse.connect(s, read_only=True)
    try:
        if not target.exists() or target.stat().st_mtime < s.warehouse.stat().st_mtime:
            # A write-ahead log left by a writer that did not checkpoint belongs to the copy too.
            wal, target_wal = Path(f"{s.warehouse}.wal"), Path(f"{target}.wal")
            target_wal.unlink(missing_ok=True)
            partial = target.with_suffix(".partial")
            shutil.copyfile(s.warehouse, partial)
            if wal.exists():
                shutil.copyfile(wal, target_wal)
            partial.replace(target)
    finally:
        con.close()
    return target


def connect_snapshot(path: Path, s: Settings) -> duckdb.DuckDBPyConnection:
    from workhealth.core import warehouse  # duckdb only when a query runs, not at CLI start-up

    con = warehouse.connect(s, read_only=True, path=path)
    # the snapshot is open; its folder stays readable for DuckDB's spill files only
    _lock_down(con, [Path(path).parent / (Path(path).name + ".tmp")])
    return con


def tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def connect(s: Settings, release: str | None = None, use_snapshot: bool = False) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A read-only connection to the chosen source and a line saying what it is."""
    if use_snapshot:
        path = snapshot(s)
        return connect_snapshot(path, s), f"snapshot of the warehouse: {path}"
    folder = release_folder(s, release)
    marts = marts_folder(s, folder)
    return connect_release(folder, marts), f"release {folder.name}: {folder} (marts: {marts})"


@click.command("sql")
@click.argument("query", required=False)
@click.option("--release", help="Release id to query (default: latest).")
@click.option("--snapshot", "use_snapshot", is_flag=True,
              help="Query a read-only copy of the whole warehouse (raw, audit, marts) instead of a release.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), help="Output folder [WORKHEALTH_OUT].")
def sql_command(query, release, use_snapshot, fmt, out) -> None:
    """Run a read-only SQL QUERY on the latest release's marts (or a warehouse snapshot).

    Without QUERY, lists the tables. Never opens the live warehouse, so it never blocks the
    pipeline. Tables: ``marts.<name>`` (the marts, from the release's internal part
    OUT/internal/<id>/marts), ``release.<name>`` (indicator tables).
    Read-only: one SELECT (or EXPLAIN) statement, no file outside the release or snapshot.
    Exit code 1 when the source is missing or busy, the query is refused or it fails.
    """
    import dataclasses

    from workhealth.core import settings

    s = settings.load()
    if out:
        s = dataclasses.replace(s, out=Path(out).resolve())
    try:
        con, source = connect(s, release, use_snapshot)
    except SqlSourceError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"-- {source}", err=True)
    try:
        if not query:
            click.echo("\n".join(tables(con)))
            return
        try:
            check_read_only(query)
        except QueryRefused as exc:
            click.echo(f"refused: {exc}", err=True)
            sys.exit(1)
        try:
            df = con.execute(query).df()
        except Exception as exc:  # duckdb.Error and friends: show DuckDB's message as is
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        if fmt == "csv":
            click.echo(df.to_csv(index=False), nl=False)
        elif fmt == "json":
            click.echo(df.to_json(orient="records", date_format="iso", indent=2))
        else:
            click.echo(df.to_string(index=False, max_rows=200))
    finally:
        con.close()
