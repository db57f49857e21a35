"""Reading a delivery's files into DuckDB and checking them (checks 3-7 of docs/ingestion.md).

Everything runs in SQL over whole files: the files are read as all-VARCHAR into temporary
tables of the ingestion connection (``stg`` is a view over them, with ``_file`` and ``_row``),
rows that could not be split into fields land in ``malformed``; the identity-number guard, the
row rules and the casts are SQL over those. Python only looks at the handful of candidate
identity numbers, the headers and the sorted key hashes (duplicate keys). Parquet columns are
rendered as CSV text (after a check that their physical types can carry the contract types), so
one set of rules serves both.

The identity-number rule is ``identity.find_identity_number``, applied to the parsed values
(``find_identity_numbers``) and to the lines of files read as bytes (``sweep_identity_numbers``:
a refused delivery in full, the manifest and non-data files of every delivery). Both pick
candidates with a pattern that every hit matches (``identity.PREFILTER``, ``identity.CANDIDATE``)
and judge them with the same function, and a CSV value's
neighbours in its line are delimiters, so a file holds an identity number for the sweep exactly
when it does for the parsed check. Every delivered name or value quoted in a reason goes through
``identity.mask``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import stat
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

from workhealth.core import identity
from workhealth.ingest.manifest import DeliveryError, Manifest, open_plain
from workhealth.core.register_sql import PERSON_ID_REGEX
from workhealth.core.register_sql import sql_literal as lit
from workhealth.core.registers import DATE, INTEGER, MANIFEST, MONTH, NUMBER, REGISTERS, STRING, Register

#: DuckDB's read_csv limit for one line (default 2 MB): a long free-text field must parse. The
#: read buffer is set to the same size: left alone, DuckDB makes it 16 lines long (512 MB), which
#: cuts a file into fewer pieces for its threads and made reading a national delivery about a
#: quarter slower (benchmarks/ingest.py).
MAX_LINE_SIZE = 32 * 1024 * 1024

#: Rules a row can be quarantined for (audit.quarantine.rule).
ROW_RULES = ("malformed_row", "missing_required", "invalid_type", "invalid_person_id", "outside_domain",
             "outside_period", "duplicate_key")

def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Staged:
    """What reading the files produced: per-file data row counts and the SQL view ``stg``."""

    rows_per_file: dict[str, int] = field(default_factory=dict)
    malformed: int = 0


# --------------------------------------------------------------------------------------------
# Check 3 and 4: reading files, header, encoding, row counts
# --------------------------------------------------------------------------------------------


def _duck_error(e: Exception) -> str:
    """DuckDB's error class only (``IO Error``, ``Invalid Input Error`` ...): the rest of its
    message can quote paths and file content."""
    head = str(e).split(":", 1)[0].strip() if ":" in str(e) else ""
    return identity.mask(head if 0 < len(head) <= 40 else type(e).__name__)


def _read_header(path: Path, rel: str) -> list[str]:
    gz = path.name.lower().endswith(".gz")
    try:
        with open_plain(path) as raw, (gzip.open(raw, "rb") if gz else raw) as f:
            first = f.readline(1 << 20)
    except (OSError, EOFError, zlib.error) as e:
        raise DeliveryError("unreadable_file", f"cannot be read as {'gzip ' if gz else ''}CSV "
                            f"({identity.mask(type(e).__name__)})", rel) from None
    if not first.strip():
        raise DeliveryError("header_mismatch", "the file has no header row", rel)
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise DeliveryError("invalid_utf8", "the header row is not valid UTF-8", rel) from None
    text = text.lstrip("\ufeff").rstrip("\r\n")
    return next(csv.reader([text], delimiter=";", quotechar='"'))


def _check_names(names: list[str], register: Register, rel: str) -> None:
    # Column names are delivered values: the one rule, and quoted masked.
    for n in names:
        if identity.contains_identity_number(n):
            raise DeliveryError("privacy_breach", "a column name in the header holds a national identity number",
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
            parts.append("unknown columns: " + ", ".join(identity.mask(repr(u)) for u in unknown))
        if dupes:
            parts.append("repeated columns: " + ", ".join(identity.mask(d) for d in dupes))
        raise DeliveryError("header_mismatch", "; ".join(parts), rel)


def _stage_csv(conn, path: Path, rel: str, i: int, register: Register) -> tuple[str, int, int]:
    header = _read_header(path, rel)
    _check_names(header, register, rel)
    columns = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in header) + "}"
    # DuckDB appends to a rejects table that exists: one left by the previous delivery read on
    # this connection (ingest_inbox) must go first
    conn.execute(f"DROP TABLE IF EXISTS rej{i}")
    conn.execute(f"DROP TABLE IF EXISTS rejscan{i}")
    try:
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE f{i} AS SELECT * FROM read_csv({lit(str(path))},
                columns = {columns}, header = true, delim = ';', quote = '"', escape = '"',
                auto_detect = false, null_padding = false, max_line_size = {MAX_LINE_SIZE},
                buffer_size = {MAX_LINE_SIZE}, store_rejects = true,
                rejects_table = 'rej{i}', rejects_scan = 'rejscan{i}')"""
        )
    except duckdb.OutOfMemoryException:
        raise
    except duckdb.Error as e:
        raise DeliveryError("unreadable_file", f"not a readable CSV file ({_duck_error(e)})", rel) from None
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


_INT_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
                        "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"})
_FLOAT_TYPES = frozenset({"FLOAT", "DOUBLE"})
_TIMESTAMP_TYPES = frozenset({"TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"})


def _parquet_text(name: str, logical: str, duck_type: str) -> str | None:
    """SQL rendering a Parquet column as the text a CSV would carry, or None when the column's
    physical type cannot carry the contract type (check 3: ``column_type``).

    A string column is accepted for every contract type (parsed like CSV text). Native types must
    fit: integer <- integer types; number <- integer, float, decimal; date <- DATE, or a TIMESTAMP
    without time zone (a value with a time of day other than midnight is ``invalid_type``); month
    <- DATE on the first of a month (another day is ``invalid_type``). An all-null column fits any.
    """
    v = q(name)
    t = duck_type.upper()
    if t in ('"NULL"', "NULL"):
        return "CAST(NULL AS VARCHAR)"
    if t == "VARCHAR":
        return v
    numeric = t in _INT_TYPES or t in _FLOAT_TYPES or t.startswith("DECIMAL")
    if (logical == INTEGER and t in _INT_TYPES) or (logical == NUMBER and numeric):
        return f"CAST({v} AS VARCHAR)"
    if logical == DATE and t == "DATE":
        return f"strftime({v}, '%Y-%m-%d')"
    if logical == DATE and t in _TIMESTAMP_TYPES:
        return f"CASE WHEN {v} = CAST({v} AS DATE) THEN strftime({v}, '%Y-%m-%d') ELSE CAST({v} AS VARCHAR) END"
    if logical == MONTH and t == "DATE":
        return f"CASE WHEN day({v}) = 1 THEN strftime({v}, '%Y-%m') ELSE strftime({v}, '%Y-%m-%d') END"
    return None


def _stage_parquet(conn, path: Path, rel: str, i: int, register: Register, staged: Staged) -> tuple[str, int, int]:
    try:
        schema = conn.execute(f"DESCRIBE SELECT * FROM read_parquet({lit(str(path))})").fetchall()
    except duckdb.OutOfMemoryException:
        raise
    except duckdb.Error as e:
        raise DeliveryError("unreadable_file", f"not a readable Parquet file ({_duck_error(e)})", rel) from None
    types = {name: typ for name, typ, *_ in schema}
    _check_names([name for name, *_ in schema], register, rel)
    exprs, wrong = [], []
    for c in register.columns:
        e = _parquet_text(c.name, c.type, types[c.name])
        if e is None:
            wrong.append(f"{c.name} is {types[c.name]} (contract: {c.type})")
            continue
        exprs.append(f"{e} AS {q(c.name)}")
    if wrong:
        raise DeliveryError("column_type", "Parquet column types do not fit the contract: " + "; ".join(wrong), rel)
    try:
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE g{i} AS
                SELECT {', '.join(exprs)}, {lit(rel)} AS _file, file_row_number + 1 AS _row
                FROM read_parquet({lit(str(path))}, file_row_number = true)"""
        )
    except duckdb.OutOfMemoryException:
        raise
    except duckdb.Error as e:
        raise DeliveryError("unreadable_file", f"not a readable Parquet file ({_duck_error(e)})", rel) from None
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
            select, rows, n_bad = _stage_parquet(conn, path, f.path, i, register, staged)
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
    """(number of values holding an identity number, (file, row, column, kind) of the first one).

    Every value of every column, and the raw text of malformed lines, under the one rule
    (``identity.find_identity_number``: an 11-digit run anywhere in the value, or a number token
    such as ``+12077732193``, ``1018512366`` or ``1018512366.0``; Parquet numbers arrive here as
    their text). Candidates are picked in SQL with ``identity.PREFILTER``; only the distinct
    candidates are judged in Python.
    """
    cand = lit(identity.PREFILTER)
    # One regexp pass over each row's values joined by ';' picks the rows worth a look: ';' is
    # neither a digit nor a sign and stands where the pattern's ^, $ and boundary classes allow,
    # so a value matching it makes its joined row match (and no match spans a ';'). Only those
    # few rows are split into columns again.
    joined = "concat_ws(';', " + ", ".join(q(c) for c in register.column_names) + ")"
    conn.execute(f"CREATE OR REPLACE TEMP TABLE idrows AS SELECT * FROM stg WHERE regexp_matches({joined}, {cand})")
    parts = [
        f"""SELECT _file, _row, {lit(c)} AS column_name, {q(c)} AS p
            FROM idrows WHERE regexp_matches({q(c)}, {cand})"""
        for c in register.column_names
    ]
    parts.append(f"SELECT _file, _row, NULL AS column_name, record AS p FROM malformed WHERE regexp_matches(record, {cand})")
    conn.execute("CREATE OR REPLACE TEMP TABLE idcand AS " + " UNION ALL ".join(parts))
    distinct = [r[0] for r in conn.execute("SELECT DISTINCT p FROM idcand").fetchall()]
    hits = {v: k for v in distinct if (k := identity.find_identity_number(v))}
    if not hits:
        return 0, None
    conn.execute("CREATE OR REPLACE TEMP TABLE idhits (p VARCHAR)")
    conn.executemany("INSERT INTO idhits VALUES (?)", [(v,) for v in hits])
    n, = conn.execute("SELECT count(*) FROM idcand SEMI JOIN idhits USING (p)").fetchone()
    file, row, column, p = conn.execute(
        "SELECT _file, _row, column_name, p FROM idcand SEMI JOIN idhits USING (p) ORDER BY _file, _row, column_name NULLS LAST LIMIT 1"
    ).fetchone()
    return n, (file, row, column, hits[p])


# --------------------------------------------------------------------------------------------
# Check 6: row rules -> quarantine
# --------------------------------------------------------------------------------------------


def _blank(v: str) -> str:
    """``trim(v) = ''`` (trim strips spaces, also Unicode ones such as U+00A0, not tabs), with a
    cheap test first: a blank value is empty or starts with a space (below '!') or a non-ASCII
    character (from U+0080 on), so trim, which copies the value, runs on those few only."""
    return f"(({v} < '!' OR {v} >= chr(128)) AND trim({v}) = '')"


def _missing(c: str) -> str:
    return f"({q(c)} IS NULL OR {_blank(q(c))})"


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
            valid = _person_id_valid(v)
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


_MONTH = re.compile("[0-9]{4}-(0[1-9]|1[0-2])")  # _valid_type's MONTH pattern


def _person_id_valid(v: str) -> str:
    return f"regexp_matches({v}, '{PERSON_ID_REGEX}')"


def _valid_fast(c: str, typ: str) -> str | None:
    """``_valid_type`` with a cheap first test for the usual value: an integer or date that DuckDB
    renders back exactly as delivered (canonical: no sign, zero padding, spaces) is valid; any
    other value goes through the full test. (For numbers the regular expression was cheaper.)"""
    full, v = _valid_type(c, typ), q(c)
    if typ == INTEGER:
        return f"(CASE WHEN CAST(try_cast({v} AS BIGINT) AS VARCHAR) = {v} THEN true ELSE {full} END)"
    if typ == DATE:
        return f"(CASE WHEN strlen({v}) = 10 AND CAST(try_cast({v} AS DATE) AS VARCHAR) = {v} THEN true ELSE {full} END)"
    return full


def _same_width(domain) -> bool:
    """An integer range (lo, hi) whose ends are written with as many digits, without sign or
    leading zero (birth_year 1880-2100)."""
    return (isinstance(domain, tuple) and all(isinstance(d, int) and not isinstance(d, bool) for d in domain)
            and 0 <= domain[0] <= domain[1] and len(str(domain[0])) == len(str(domain[1])))


def row_bad(register: Register, period: str) -> str:
    """A boolean that is true exactly when a row breaks at least one of ``rule_conditions``
    (their OR, NULL as false), evaluated once per column instead of once per rule.

    Every type check (and the pseudonym pattern) needs digits or hex characters and no spaces, so
    a valid value is never missing: a typed column is bad when its value is not valid (required;
    optional: and not missing), or valid and outside its domain or period. A string column
    without a type check is bad when missing (required) or present and outside its domain.
    """
    parts = []
    for col in register.columns:
        c, v = col.name, q(col.name)
        valid = _person_id_valid(v) if c == "person_id" else _valid_fast(c, col.type)
        extra = [e for e in (_outside_domain(c, col.type, col.domain),
                             f"substr({v}, 1, 7) <> {lit(period)}" if register.period_column == c else None) if e]
        fail = " OR ".join(extra)
        if valid is None:
            if col.required:
                parts.append(f"({_missing(c)} OR {fail})" if fail else _missing(c))
            elif fail:
                parts.append(f"(NOT {_missing(c)} AND ({fail}))")
        else:
            otherwise = "true" if col.required else f"NOT {_missing(c)}"
            part = f"(CASE WHEN {valid} THEN {fail or 'false'} ELSE {otherwise} END)"
            if col.type == MONTH and register.period_column == c and _MONTH.fullmatch(period):
                part = f"(CASE WHEN {v} = {lit(period)} THEN false ELSE {part} END)"  # the usual value
            elif col.type == INTEGER and isinstance(col.domain, frozenset) and not extra[1:]:
                # one of the domain's values as written canonically: valid and inside
                part = f"(CASE WHEN {v} IN ({', '.join(lit(str(d)) for d in sorted(col.domain))}) THEN false ELSE {part} END)"
            elif col.type == INTEGER and _same_width(col.domain) and not extra[1:]:
                # w ASCII digits between lo and hi as text (equal widths: text order = number order):
                # canonical, valid and inside, without a cast
                lo, hi = col.domain
                w = len(str(lo))
                part = (f"(CASE WHEN strlen({v}) = {w} AND {v} GLOB '{'[0-9]' * w}' AND {v} BETWEEN "
                        f"{lit(str(lo))} AND {lit(str(hi))} THEN false ELSE {part} END)")
            parts.append(part)
    parts.append("(_dup IS NOT NULL)")
    return "coalesce(" + " OR ".join(parts) + ", false)"


def _repeats(hashes: np.ndarray) -> bool:
    """Whether a value occurs twice: sorted, then neighbours compared. A large array is sorted
    as the two halves of the value range in two threads (numpy releases the GIL while sorting)."""
    def sorted_repeats(h: np.ndarray) -> bool:
        h.sort()
        return bool((h[1:] == h[:-1]).any())

    if len(hashes) < 1_000_000:  # threads cost more than they save
        return sorted_repeats(hashes)
    top = hashes >= np.uint64(1 << 63)
    halves = [hashes[~top], hashes[top]]
    with ThreadPoolExecutor(2) as pool:
        return any(list(pool.map(sorted_repeats, halves)))


def find_row_defects(conn: duckdb.DuckDBPyConnection, register: Register, period: str) -> None:
    """Check 6: creates temp table ``viol`` (_file, _row, rule, column_name, value, record):
    one row per violated rule per row (a row can break several), malformed rows included.
    ``row_bad`` picks the rows; only those few are matched against each rule."""
    keys = ", ".join(q(k) for k in register.key)
    all_present = " AND ".join(f"NOT {_missing(k)}" for k in register.key)
    # Keys are first compared by their 64-bit hash: no hash repeating means no key repeats (the
    # usual case). Sorting the hashes in numpy took about 60 % of the CPU time of DuckDB's
    # count(DISTINCT ...) hash table on the national-scale benchmark's deliveries. Otherwise only the rows whose hash repeats are grouped
    # by the key itself, so the rule stays exact.
    hashes = conn.execute(f"SELECT hash({keys}) AS h FROM stg WHERE {all_present}").fetchnumpy()["h"]
    repeated = _repeats(hashes)
    del hashes
    has_dups = False
    if repeated:
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE dupkeys AS
                WITH h AS (SELECT hash({keys}) AS h FROM stg WHERE {all_present} GROUP BY 1 HAVING count(*) > 1)
                SELECT {keys}, true AS _dup FROM stg WHERE {all_present} AND hash({keys}) IN (SELECT h FROM h)
                GROUP BY ALL HAVING count(*) > 1"""
        )
        has_dups = conn.execute("SELECT count(*) FROM dupkeys").fetchone()[0] > 0
    # Without repeated keys the rows need no join with dupkeys (a hash join over every row of
    # the delivery) and _dup is NULL for all of them.
    source = f"stg LEFT JOIN dupkeys USING ({keys})" if has_dups else "(SELECT *, NULL AS _dup FROM stg)"
    conds = rule_conditions(register, period)
    items = ", ".join(
        f"CASE WHEN {cond} THEN {{'rule': {lit(rule)}, 'column_name': {lit(col)}, 'value': CAST({value} AS VARCHAR)}} END"
        for rule, col, cond, value in conds
    )
    record = "CAST(to_json(struct_pack(" + ", ".join(f"{q(c)} := {q(c)}" for c in register.column_names) + ")) AS VARCHAR)"
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE viol AS
            WITH bad AS (
              SELECT _file, _row, {record} AS record,
                     list_filter([{items}], lambda x: x IS NOT NULL) AS l
              FROM {source}
              WHERE {row_bad(register, period)}
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


def insert_raw_sql(register: Register, exclude: bool = True, period: str | None = None) -> str:
    """INSERT of the rows without any defect into raw.<register>, typed; parameters:
    delivery, period, version, loaded_at. ``exclude=False`` when ``viol`` is empty (the usual
    case): no join of every row against it.

    The rows loaded passed every rule, so a value is either valid exactly as delivered (no
    spaces around it) or missing (an optional column): cast as it stands, or NULL when missing.
    A required month that is the register's period column equals ``period`` on every such row.
    """
    exprs = []
    for col in register.columns:
        v = q(col.name)
        if (col.type == MONTH and col.required and register.period_column == col.name
                and period is not None and _MONTH.fullmatch(period)):
            exprs.append(f"DATE {lit(period + '-01')}")
        elif col.type == STRING:
            exprs.append(v if col.required else f"CASE WHEN {_blank(v)} THEN NULL ELSE {v} END")
        else:
            e = {INTEGER: f"CAST({v} AS BIGINT)", NUMBER: f"CAST({v} AS DOUBLE)", DATE: f"CAST({v} AS DATE)",
                 MONTH: f"CAST({v} || '-01' AS DATE)"}[col.type]
            e = e if col.required else f"CASE WHEN {_missing(col.name)} THEN NULL ELSE {e} END"
            exprs.append(e)
    cols = ", ".join(q(c) for c in register.column_names)
    anti = " ANTI JOIN (SELECT DISTINCT _file, _row FROM viol) v USING (_file, _row)" if exclude else ""
    return (
        f"INSERT INTO raw.{register.name} ({cols}, _delivery, _period, _version, _file, _row, _loaded_at) "
        f"SELECT {', '.join(exprs)}, ?, ?, ?, _file, _row, ? FROM stg{anti}"
    )


# --------------------------------------------------------------------------------------------
# Plain files only, and the privacy sweep of files read as bytes
# --------------------------------------------------------------------------------------------


def walk_entries(folder: Path) -> list[tuple[str, os.stat_result]]:
    """Every entry below ``folder`` as (relative POSIX path, ``lstat``), sorted; a symbolic link is
    listed as the link and never followed, so nothing outside the folder is looked at."""
    folder = Path(folder)
    out, stack = [], [""]
    while stack:
        rel = stack.pop()
        with os.scandir(folder / rel if rel else folder) as it:
            for e in it:
                r = f"{rel}/{e.name}" if rel else e.name
                st = e.stat(follow_symlinks=False)
                out.append((r, st))
                if stat.S_ISDIR(st.st_mode):
                    stack.append(r)
    return sorted(out, key=lambda x: x[0])


def not_plain(entries: list[tuple[str, os.stat_result]]) -> DeliveryError | None:
    """A delivery holds plain files and folders only: the first symbolic link, hard link (a second
    name of a file that may live outside the inbox), device, pipe or socket refuses it."""
    for rel, st in entries:
        if stat.S_ISLNK(st.st_mode):
            return DeliveryError("symlink", "is a symbolic link; a delivery holds plain files and folders only "
                                 "(the link was not followed)", rel)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            return DeliveryError("not_a_plain_file", "is a hard link (the file has another name, possibly "
                                 "outside the inbox); a delivery holds plain files only", rel)
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            return DeliveryError("not_a_plain_file", "is not a plain file (a device, pipe or socket)", rel)
    return None


def name_with_identity_number(names: list[str]) -> str | None:
    """The first of ``names`` (folder and file names) that holds an identity number."""
    return next((n for n in names if identity.contains_identity_number(n)), None)


_CANDIDATE_B = re.compile(identity.CANDIDATE.encode())
_CHUNK = 1 << 24


def _scan_stream(f) -> int | None:
    """Line number (1-based, physical lines) of the first line of a binary stream holding an
    identity number under ``identity.find_identity_number``, read in large chunks cut at line
    ends: lines with a candidate (``identity.CANDIDATE``) are judged whole. The line's bytes are
    read as Latin-1 (every byte a character; digits and delimiters are ASCII), NULs dropped (so
    UTF-16 text shows its digit runs)."""
    line, tail = 1, b""
    while True:
        block = f.read(_CHUNK)
        data = tail + block
        if not data:
            return None
        cut = data.rfind(b"\n") + 1 if block else len(data)
        if cut == 0:  # one line longer than a chunk: keep reading
            tail = data
            continue
        chunk, tail = data[:cut], data[cut:]
        if b"\x00" in chunk:
            chunk = chunk.replace(b"\x00", b"")
        done = 0
        for m in _CANDIDATE_B.finditer(chunk):
            if m.end() <= done:
                continue
            a = chunk.rfind(b"\n", 0, m.start() + 1) + 1
            b = chunk.find(b"\n", m.end())
            b = len(chunk) if b < 0 else b
            if identity.find_identity_number(chunk[a:b].decode("latin-1")):
                return line + chunk.count(b"\n", 0, a)
            done = b
        line += chunk.count(b"\n")
        if not block:
            return None


def _scan_text_file(path: Path, gz: bool) -> int | None:
    try:
        with open_plain(path) as raw, (gzip.open(raw, "rb") if gz else raw) as f:
            return _scan_stream(f)
    except (OSError, EOFError, zlib.error):  # not gzip after all, or truncated: scan the bytes as they are
        if not gz:
            raise
        with open_plain(path) as f:
            return _scan_stream(f)


def _json_values(doc) -> list[str]:
    """Every key and scalar value of a JSON document, as text."""
    out, stack = [], [doc]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            out.extend(str(k) for k in x)
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
        elif x is not None and not isinstance(x, bool):
            out.append(str(x))
    return out


def _scan_manifest(path: Path) -> int | None:
    """The manifest as text (any key or value, whatever its syntax) and, when it is JSON, every
    key and value as parsed (a ``\\u0030`` escape hides nothing)."""
    with open_plain(path) as f:
        raw = f.read()
    hit = _scan_stream(io.BytesIO(raw))
    if hit is not None:
        return hit
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return next((1 for v in _json_values(doc) if identity.contains_identity_number(v)), None)


def _scan_parquet(path: Path) -> int | None:
    """Row (1-based; 0: a column name) of the first identity number in any column of a Parquet
    file: every value as its text (numbers as DuckDB renders them, nested values as JSON)."""
    conn = duckdb.connect()
    try:
        src = f"read_parquet({lit(str(path))}, file_row_number = true)"
        schema = [(n, t.upper()) for n, t, *_ in conn.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
                  if n != "file_row_number"]
        if name_with_identity_number([n for n, _ in schema]):
            return 0
        cand = lit(identity.CANDIDATE)
        parts = []
        for n, t in schema:
            nested = t.endswith("]") or t.startswith(("STRUCT", "MAP", "UNION"))
            text = f"CAST(to_json({q(n)}) AS VARCHAR)" if nested else f"CAST({q(n)} AS VARCHAR)"
            parts.append(f"SELECT file_row_number AS r, {text} AS p FROM {src} WHERE regexp_matches({text}, {cand})")
        if not parts:
            return None
        rows = conn.execute("SELECT r, p FROM (" + " UNION ALL ".join(parts) + ") ORDER BY r").fetchall()
    finally:
        conn.close()
    return next((r + 1 for r, v in rows if identity.contains_identity_number(v)), None)


def sweep_identity_numbers(folder: Path, exclude: frozenset[str] | set[str] = frozenset()) -> tuple[str, int] | None:
    """(file, line or row) of the first identity number in any plain file of ``folder`` (or in
``folder`` itself when it is a plain file), or None.

    The parsed check (``find_identity_numbers``) covers the listed data files of a delivery whose
    files could be read; this sweep covers everything else with the same rule
    (``identity.find_identity_number``): a delivery refused for any other reason (bad manifest,
    checksum, row count, header, encoding, symlink ...) is swept in full before it is stored, so
    an identity number never lands in the ordinary rejected area; an accepted one has its
    manifest and non-data files swept (``exclude`` = the listed data files, already checked).
    Files are read as bytes, line by line (gzip decompressed; invalid UTF-8 or a wrong separator
    hides nothing), Parquet through DuckDB, the manifest also value by value. Symbolic links
    and other non-plain entries are never opened. A file that cannot be read at all is skipped
    (nothing of it can be quoted either).
    """
    folder = Path(folder)
    top = os.lstat(folder)
    if stat.S_ISLNK(top.st_mode) or not (stat.S_ISDIR(top.st_mode) or stat.S_ISREG(top.st_mode)):
        return None  # never followed, never opened
    entries = walk_entries(folder) if stat.S_ISDIR(top.st_mode) else [("", top)]  # "": a plain file itself
    for rel, st in entries:
        if rel in exclude or not stat.S_ISREG(st.st_mode):
            continue
        path = folder / rel if rel else folder
        name = path.name.lower()
        try:
            if rel == MANIFEST:
                hit = _scan_manifest(path)
            elif name.endswith(".parquet"):
                try:
                    hit = _scan_parquet(path)
                except duckdb.OutOfMemoryException:
                    raise
                except duckdb.Error:
                    hit = _scan_text_file(path, gz=False)
            else:
                hit = _scan_text_file(path, gz=name.endswith(".gz"))
        except OSError:
            continue
        if hit is not None:
            return rel or folder.name, hit
    return None
