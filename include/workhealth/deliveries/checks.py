"""Reading a delivery's files into DuckDB and checking them (checks 3-7 of docs/ingestion.md).

Everything runs in SQL over whole files: the files are read as all-VARCHAR into temporary
tables of the ingestion connection (``stg`` is a view over them, with ``_file`` and ``_row``),
rows that could not be split into fields land in ``malformed``; the identity-number guard, the
row rules and the casts are SQL over those. Python only looks at the handful of candidate
identity numbers and at the headers.
"""

from __future__ import annotations

import csv
import gzip
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from workhealth import identity
from workhealth.deliveries.inbox import MANIFEST
from workhealth.deliveries.manifest import DeliveryError, Manifest
from workhealth.registers import DATE, INTEGER, MONTH, NUMBER, REGISTERS, STRING, Register

#: Rules a row can be quarantined for (audit.quarantine.rule).
ROW_RULES = ("malformed_row", "missing_required", "invalid_type", "invalid_person_id", "outside_domain",
             "outside_period", "duplicate_key")

PERSON_ID_REGEX = "^[0-9a-f]{16}$"


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value) -> str:
    """A SQL literal for a str/int/float."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


@dataclass
class Staged:
    """What reading the files produced: per-file data row counts and the SQL view ``stg``."""

    rows_per_file: dict[str, int] = field(default_factory=dict)
    malformed: int = 0


# --------------------------------------------------------------------------------------------
# Check 3 and 4: reading files, header, encoding, row counts
# --------------------------------------------------------------------------------------------


def _read_header(path: Path, rel: str) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            first = f.readline(1 << 20)
    except (OSError, EOFError, zlib.error) as e:
        raise DeliveryError("unreadable_file", f"cannot be read as {'gzip ' if opener is gzip.open else ''}CSV ({e})",
                            rel) from None
    if not first.strip():
        raise DeliveryError("header_mismatch", "the file has no header row", rel)
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise DeliveryError("invalid_utf8", "the header row is not valid UTF-8", rel) from None
    text = text.lstrip("\ufeff").rstrip("\r\n")
    return next(csv.reader([text], delimiter=";", quotechar='"'))


def _check_names(names: list[str], register: Register, rel: str) -> None:
    # An unknown column name is quoted in the reason, so it must not be an identity number.
    for n in names:
        if identity.is_identity_number(n.strip()):
            raise DeliveryError("privacy_breach", "a column name in the header is a national identity number",
                                rel, privacy=True)
    expected = set(register.column_names)
    dupes = sorted({n for n in names if names.count(n) > 1})
    missing = [c for c in register.column_names if c not in names]
    unknown = [n for n in names if n not in expected]
    if dupes or missing or unknown:
        parts = []
        if missing:
            parts.append("missing columns: " + ", ".join(missing))
        if unknown:
            parts.append("unknown columns: " + ", ".join(repr(u) for u in unknown))
        if dupes:
            parts.append("repeated columns: " + ", ".join(dupes))
        raise DeliveryError("header_mismatch", "; ".join(parts), rel)


def _stage_csv(conn, path: Path, rel: str, i: int, register: Register) -> tuple[str, int, int]:
    header = _read_header(path, rel)
    _check_names(header, register, rel)
    columns = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in header) + "}"
    try:
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE f{i} AS SELECT * FROM read_csv({lit(str(path))},
                columns = {columns}, header = true, delim = ';', quote = '"', escape = '"',
                auto_detect = false, null_padding = false, store_rejects = true,
                rejects_table = 'rej{i}', rejects_scan = 'rejscan{i}')"""
        )
    except duckdb.OutOfMemoryException:
        raise
    except duckdb.Error as e:
        raise DeliveryError("unreadable_file", f"not a readable CSV file ({str(e).splitlines()[0]})", rel) from None
    bad_encoding = conn.execute(
        f"SELECT min(line) FROM rej{i} WHERE error_type = 'INVALID ENCODING'").fetchone()[0]
    if bad_encoding is not None:
        raise DeliveryError("invalid_utf8", f"line {bad_encoding} is not valid UTF-8", rel)
    # Rejected lines: `line` counts records and includes the header, so data row = line - 1.
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE mal{i} AS
            SELECT {lit(rel)} AS _file, line - 1 AS _row, first(csv_line ORDER BY column_idx) AS record
            FROM rej{i} GROUP BY line"""
    )
    n_good = conn.execute(f"SELECT count(*) FROM f{i}").fetchone()[0]
    n_bad = conn.execute(f"SELECT count(*) FROM mal{i}").fetchone()[0]
    cols = ", ".join(q(c) for c in register.column_names)
    if n_bad == 0:
        select = f"SELECT {cols}, {lit(rel)} AS _file, rowid + 1 AS _row FROM f{i}"
    else:
        # Good row j (1-based among good rows) sits at data row j + #{rejected m : r_m - m < j}.
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE gaps{i} AS
                SELECT _row - m AS g, max(m) AS m
                FROM (SELECT _row, row_number() OVER (ORDER BY _row) AS m FROM mal{i}) GROUP BY 1"""
        )
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE g{i} AS
                SELECT {', '.join('f.' + q(c) for c in register.column_names)}, {lit(rel)} AS _file,
                       f.j + coalesce(gaps.m, 0) AS _row
                FROM (SELECT *, rowid + 1 AS j FROM f{i}) f ASOF LEFT JOIN gaps{i} gaps ON f.j > gaps.g"""
        )
        conn.execute(f"DROP TABLE f{i}")
        select = f"SELECT {cols}, _file, _row FROM g{i}"
    return select, n_good + n_bad, n_bad


def _stage_parquet(conn, path: Path, rel: str, i: int, register: Register) -> tuple[str, int, int]:
    try:
        schema = conn.execute(f"DESCRIBE SELECT * FROM read_parquet({lit(str(path))})").fetchall()
    except duckdb.OutOfMemoryException:
        raise
    except duckdb.Error as e:
        raise DeliveryError("unreadable_file", f"not a readable Parquet file ({str(e).splitlines()[0]})", rel) from None
    types = {name: typ for name, typ, *_ in schema}
    _check_names(list(types), register, rel)
    exprs = []
    for c in register.columns:
        t = types[c.name].upper()
        if c.type == MONTH and t in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"):
            e = f"strftime({q(c.name)}, '%Y-%m')"
        elif t == "DATE":
            e = f"strftime({q(c.name)}, '%Y-%m-%d')"
        else:
            e = f"CAST({q(c.name)} AS VARCHAR)"
        exprs.append(f"{e} AS {q(c.name)}")
    try:
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE g{i} AS
                SELECT {', '.join(exprs)}, {lit(rel)} AS _file, file_row_number + 1 AS _row
                FROM read_parquet({lit(str(path))}, file_row_number = true)"""
        )
    except duckdb.OutOfMemoryException:
        raise
    except duckdb.Error as e:
        raise DeliveryError("unreadable_file", f"not a readable Parquet file ({str(e).splitlines()[0]})", rel) from None
    conn.execute(f"CREATE OR REPLACE TEMP TABLE mal{i} (_file VARCHAR, _row BIGINT, record VARCHAR)")
    n = conn.execute(f"SELECT count(*) FROM g{i}").fetchone()[0]
    cols = ", ".join(q(c) for c in register.column_names)
    return f"SELECT {cols}, _file, _row FROM g{i}", n, 0


def stage_files(conn: duckdb.DuckDBPyConnection, folder: Path, manifest: Manifest) -> Staged:
    """Check 3: read every file into temp tables; creates the views ``stg`` and ``malformed``."""
    register = REGISTERS[manifest.register]
    staged = Staged()
    selects, mal = [], []
    for i, f in enumerate(manifest.files):
        path = Path(folder) / f.path
        if f.path.lower().endswith(".parquet"):
            select, rows, n_bad = _stage_parquet(conn, path, f.path, i, register)
        else:
            select, rows, n_bad = _stage_csv(conn, path, f.path, i, register)
        selects.append(select)
        mal.append(f"SELECT _file, _row, record FROM mal{i}")
        staged.rows_per_file[f.path] = rows
        staged.malformed += n_bad
    conn.execute("CREATE OR REPLACE TEMP VIEW stg AS " + " UNION ALL ".join(selects))
    conn.execute("CREATE OR REPLACE TEMP VIEW malformed AS " + " UNION ALL ".join(mal))
    return staged


def check_row_counts(manifest: Manifest, staged: Staged) -> None:
    """Check 4: data rows per file (loaded-to-be + malformed) = the manifest's rows."""
    for f in manifest.files:
        actual = staged.rows_per_file[f.path]
        if actual != f.rows:
            raise DeliveryError("row_count_mismatch", f"manifest says {f.rows} rows, file has {actual}", f.path)


# --------------------------------------------------------------------------------------------
# Check 5: national identity numbers anywhere
# --------------------------------------------------------------------------------------------


def find_identity_numbers(conn: duckdb.DuckDBPyConnection, register: Register) -> tuple[int, tuple | None]:
    """(number of values that are identity numbers, (file, row, column, kind) of the first one).

    Whole values and each ``|``-separated part are candidates when exactly 11 digits (after
    trimming blanks); in malformed lines, each ``;``/``|``-separated part (quotes trimmed).
    Candidates are found in SQL; only the few distinct candidates are validated in Python.
    """
    parts = [
        f"""SELECT _file, _row, {lit(c)} AS column_name, unnest(string_split({q(c)}, '|')) AS p
            FROM stg WHERE regexp_matches({q(c)}, '[0-9]{{11}}')"""
        for c in register.column_names
    ]
    parts.append(
        """SELECT _file, _row, NULL AS column_name, unnest(regexp_split_to_array(record, '[;|]')) AS p
           FROM malformed WHERE regexp_matches(record, '[0-9]{11}')"""
    )
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE idcand AS SELECT _file, _row, column_name, trim(p, ' \"\t\r\n') AS p FROM ("
        + " UNION ALL ".join(parts)
        + ") WHERE regexp_matches(trim(p, ' \"\t\r\n'), '^[0-9]{11}$')"
    )
    distinct = [r[0] for r in conn.execute("SELECT DISTINCT p FROM idcand").fetchall()]
    hits = [v for v in distinct if identity.is_identity_number(v)]
    if not hits:
        return 0, None
    conn.execute("CREATE OR REPLACE TEMP TABLE idhits (p VARCHAR)")
    conn.executemany("INSERT INTO idhits VALUES (?)", [(v,) for v in hits])
    n, = conn.execute("SELECT count(*) FROM idcand SEMI JOIN idhits USING (p)").fetchone()
    file, row, column, p = conn.execute(
        "SELECT _file, _row, column_name, p FROM idcand SEMI JOIN idhits USING (p) ORDER BY _file, _row LIMIT 1"
    ).fetchone()
    return n, (file, row, column, identity.kind(p))


# --------------------------------------------------------------------------------------------
# Check 6: row rules -> quarantine
# --------------------------------------------------------------------------------------------


def _missing(c: str) -> str:
    return f"({q(c)} IS NULL OR trim({q(c)}) = '')"


def _valid_type(c: str, typ: str) -> str | None:
    v = q(c)
    if typ == INTEGER:
        return f"(regexp_matches({v}, '^[+-]?[0-9]+$') AND try_cast({v} AS BIGINT) IS NOT NULL)"
    if typ == NUMBER:
        return (f"(regexp_matches({v}, '^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?$') "
                f"AND try_cast({v} AS DOUBLE) IS NOT NULL)")
    if typ == DATE:
        return f"(regexp_matches({v}, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$') AND try_strptime({v}, '%Y-%m-%d') IS NOT NULL)"
    if typ == MONTH:
        return f"regexp_matches({v}, '^[0-9]{{4}}-(0[1-9]|1[0-2])$')"
    return None


def _outside_domain(c: str, typ: str, domain) -> str | None:
    if domain is None:
        return None
    v = q(c)
    cast = {INTEGER: "BIGINT", NUMBER: "DOUBLE"}.get(typ)
    x = f"try_cast({v} AS {cast})" if cast else v
    if isinstance(domain, tuple):
        lo, hi = domain
        return f"({x} NOT BETWEEN {lit(lo)} AND {lit(hi)})"
    return f"({x} NOT IN ({', '.join(lit(d) for d in sorted(domain))}))"


def rule_conditions(register: Register, period: str) -> list[tuple[str, str, str, str]]:
    """(rule, column_name, condition, value expression) for every row rule of the register."""
    out = []
    for col in register.columns:
        c, v = col.name, q(col.name)
        present = f"NOT {_missing(c)}"
        if col.required:
            out.append(("missing_required", c, _missing(c), v))
        valid = _valid_type(c, col.type)
        if c == "person_id":
            valid = f"regexp_matches({v}, '{PERSON_ID_REGEX}')"
            out.append(("invalid_person_id", c, f"({present} AND NOT {valid})", v))
        elif valid is not None:
            out.append(("invalid_type", c, f"({present} AND NOT {valid})", v))
        valid = valid or "true"
        outside = _outside_domain(c, col.type, col.domain)
        if outside:
            out.append(("outside_domain", c, f"({present} AND {valid} AND {outside})", v))
        if register.period_column == c:
            month = f"substr({v}, 1, 7)"
            out.append(("outside_period", c, f"({present} AND {valid} AND {month} <> {lit(period)})", v))
    key = ", ".join(register.key)
    key_value = "concat_ws('|', " + ", ".join(q(k) for k in register.key) + ")"
    out.append(("duplicate_key", key, "(_dup IS NOT NULL)", key_value))
    return out


def find_row_defects(conn: duckdb.DuckDBPyConnection, register: Register, period: str) -> None:
    """Check 6: creates temp table ``viol`` (_file, _row, rule, column_name, value, record):
    one row per violated rule per row (a row can break several), malformed rows included."""
    keys = ", ".join(q(k) for k in register.key)
    all_present = " AND ".join(f"NOT {_missing(k)}" for k in register.key)
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE dupkeys AS
            SELECT {keys}, true AS _dup FROM stg WHERE {all_present}
            GROUP BY ALL HAVING count(*) > 1"""
    )
    conds = rule_conditions(register, period)
    items = ", ".join(
        f"CASE WHEN {cond} THEN {{'rule': {lit(rule)}, 'column_name': {lit(col)}, 'value': CAST({value} AS VARCHAR)}} END"
        for rule, col, cond, value in conds
    )
    any_bad = " OR ".join(cond for _, _, cond, _ in conds)
    record = "CAST(to_json(struct_pack(" + ", ".join(f"{q(c)} := {q(c)}" for c in register.column_names) + ")) AS VARCHAR)"
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE viol AS
            WITH bad AS (
              SELECT _file, _row, {record} AS record,
                     list_filter([{items}], lambda x: x IS NOT NULL) AS l
              FROM stg LEFT JOIN dupkeys USING ({keys})
              WHERE coalesce({any_bad}, false)
            )
            SELECT _file, _row, x.rule AS rule, x.column_name AS column_name, x.value AS value, record
            FROM (SELECT _file, _row, record, unnest(l) AS x FROM bad)
            UNION ALL
            SELECT _file, _row, 'malformed_row', NULL, NULL, record FROM malformed"""
    )


def threshold_reason(conn: duckdb.DuckDBPyConnection, rows_manifest: int, threshold: float) -> tuple[int, str | None]:
    """Check 7: (number of quarantined rows, a rejection message when above the threshold)."""
    n, = conn.execute("SELECT count(*) FROM (SELECT DISTINCT _file, _row FROM viol)").fetchone()
    share = n / rows_manifest if rows_manifest else 0.0
    if share <= threshold:
        return n, None
    top = conn.execute(
        """SELECT rule, count(*) AS n, list(_file || ' row ' || _row ORDER BY _file, _row)[1:3] AS examples
           FROM (SELECT DISTINCT rule, _file, _row FROM viol) GROUP BY rule ORDER BY n DESC, rule LIMIT 3"""
    ).fetchall()
    rules = "; ".join(f"{rule} {k} rows (e.g. {', '.join(ex)})" for rule, k, ex in top)
    return n, (f"{n} of {rows_manifest} rows ({share:.3%}) would be quarantined, above the threshold of "
               f"{threshold:.3%}; top rules: {rules}")


def insert_raw_sql(register: Register) -> str:
    """INSERT of the rows without any defect into raw.<register>, typed; parameters:
    delivery, period, version, loaded_at."""
    exprs = []
    for col in register.columns:
        v = q(col.name)
        if col.type == STRING:
            e = f"CASE WHEN trim({v}) = '' THEN NULL ELSE {v} END"
        elif col.type == INTEGER:
            e = f"CAST(NULLIF(trim({v}), '') AS BIGINT)"
        elif col.type == NUMBER:
            e = f"CAST(NULLIF(trim({v}), '') AS DOUBLE)"
        elif col.type == DATE:
            e = f"CAST(NULLIF(trim({v}), '') AS DATE)"
        else:  # MONTH
            e = f"CAST(NULLIF(trim({v}), '') || '-01' AS DATE)"
        exprs.append(e)
    cols = ", ".join(q(c) for c in register.column_names)
    return (
        f"INSERT INTO raw.{register.name} ({cols}, _delivery, _period, _version, _file, _row, _loaded_at) "
        f"SELECT {', '.join(exprs)}, ?, ?, ?, _file, _row, ? "
        f"FROM stg ANTI JOIN (SELECT DISTINCT _file, _row FROM viol) v USING (_file, _row)"
    )


# --------------------------------------------------------------------------------------------
# Privacy sweep of a refused delivery whose files were never parsed
# --------------------------------------------------------------------------------------------

# An 11-digit token between field delimiters (``;``, ``|``, quotes, line ends) or file edges,
# the same notion of "a value or a part of one" as the parsed check above.
_ID_TOKEN = re.compile(rb'(?:^|(?<=[;|"\r\n]))[ \t]*([0-9]{11})[ \t]*(?=$|[;|"\r\n])', re.MULTILINE)


def sweep_identity_numbers(folder: Path) -> tuple[str, int] | None:
    """(file, line) of the first identity number in any data file of ``folder``, read as text.

    Used when a delivery is refused before its files are parsed (bad manifest, checksum, row
    count ...): such a folder must still go to the restricted area if it carries an identity
    number. Reads every file in the folder (listed or not); unreadable bytes are skipped.
    """
    import pyarrow.parquet as pq

    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.name != MANIFEST):
        rel = path.relative_to(folder).as_posix()
        try:
            if path.name.endswith(".parquet"):
                table = pq.read_table(path)
                for name in table.column_names:
                    for i, v in enumerate(table.column(name).cast("string").to_pylist()):
                        for part in (v or "").split("|"):
                            if identity.is_identity_number(part.strip()):
                                return rel, i + 1
                continue
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as f:
                for line_no, line in enumerate(f, start=1):
                    for m in _ID_TOKEN.finditer(line):
                        if identity.is_identity_number(m.group(1).decode()):
                            return rel, line_no
        except Exception:  # noqa: BLE001 - an unreadable file cannot be swept; it stays refused
            continue
    return None
