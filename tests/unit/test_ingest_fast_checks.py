"""The cheaper SQL of the ingestion checks decides exactly as the rules it stands for.

``checks.row_bad`` (one test per column) against the OR of ``checks.rule_conditions`` (one per
rule), ``identity.PREFILTER`` against ``identity.find_identity_number``, and the casts of
``checks.insert_raw_sql`` against the trim/NULLIF casts it replaced, all on tricky values in a
real DuckDB.
"""

from __future__ import annotations

import itertools
import random
import re

import duckdb
import pytest

from workhealth.core import identity
from workhealth.core.identity import find_identity_number, make_identity_number
from workhealth.core.registers import DATE, INTEGER, MONTH, NUMBER, REGISTERS, STRING
from workhealth.ingest import checks

PERIOD = "2018-01"

#: Values every type has to judge like before: spaces, signs, separators DuckDB's casts accept,
#: unpadded and other-separator dates, Unicode spaces and digits, tabs, range edges.
TRICKY = [
    None, "", " ", "  ", "\t", "\u00a0", "\u2003", " \t", "\n", "x", "0", "1", "2", "3", "01", "+1", "1 ", "12", " 12", "12 ", "\t12",
    "+5", "-5", "+", "-", "-0", "007", "1_000", "0x10", "1e3", "1.0", "1.", ".5", "50.5", "100", "100.0001", "-0.0",
    "1E2", "١٢", "１２", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "1880", "1879", "2100",
    "2101", "2018-01", "2018-1", "2018-13", "2018-00", "2017-12", " 2018-01", "2018-01 ", "2018/01", "201801",
    "2018-01-05", "2018-1-05", "2018-01-5", "2018/01/05", "2018.01.05", " 2018-01-05", "2018-01-05 ", "2018-02-30",
    "2018-02-29", "2016-02-29", "0000-01-01", "0001-01-01", "9999-12-31", "10000-01-01", "+2018-01-05",
    "2018-01-05T00:00", "20180105", "2018-01-00", "2018-01-32", "2017-12-31", "2018-02-01", "2018-01-1 ",
    "0123456789abcdef", "0123456789ABCDEF", "0123456789abcdeg", "0123456789abcde", "0123456789abcdef0",
    " 0123456789abcde", "ICPC2", "ICD10", "icpc2", "ICPC2 ", "abc", " abc", "abc\u00a0",
]


def _rows(register, n_random=400):
    """Rows of all-VARCHAR values: a valid row, that row with one column set to each tricky
    value, and random combinations of tricky and valid values."""
    good = {STRING: "abc", INTEGER: "12", NUMBER: "50.5", DATE: "2018-01-05", MONTH: PERIOD}
    base = {}
    for c in register.columns:
        v = good[c.type]
        if c.name == "person_id":
            v = "0123456789abcdef"
        elif c.domain is not None:
            v = str(min(c.domain) if isinstance(c.domain, tuple) else sorted(c.domain)[0])
        base[c.name] = v
    out = [dict(base)]
    for c in register.columns:
        for v in TRICKY:
            out.append({**base, c.name: v})
    rnd = random.Random(13)
    for _ in range(n_random):
        out.append({c.name: rnd.choice([base[c.name], *TRICKY]) for c in register.columns})
    return out


def _stage(conn, register, rows):
    cols = register.column_names
    conn.execute("CREATE OR REPLACE TABLE t (" + ", ".join(f"{checks.q(c)} VARCHAR" for c in cols)
                 + ", _file VARCHAR, _row BIGINT)")
    conn.execute("INSERT INTO t VALUES " + ", ".join(
        "(" + ", ".join("NULL" if r[c] is None else checks.lit(r[c]) for c in cols) + f", 'f', {i + 1})"
        for i, r in enumerate(rows)))


@pytest.mark.parametrize("name", sorted(REGISTERS))
def test_row_bad_is_the_or_of_every_rule(name):
    register = REGISTERS[name]
    conn = duckdb.connect()
    _stage(conn, register, _rows(register))
    conds = [cond for _, _, cond, _ in checks.rule_conditions(register, PERIOD)]
    old = "coalesce(" + " OR ".join(conds) + ", false)"
    new = checks.row_bad(register, PERIOD)
    for dup in ("NULL", "true"):
        differ = conn.execute(
            f"SELECT count(*) FILTER (WHERE ({old}) IS DISTINCT FROM ({new})), count(*) FILTER (WHERE {new}), count(*) "
            f"FROM (SELECT *, {dup} AS _dup FROM t)").fetchone()
        assert differ[0] == 0, differ
        assert 0 < differ[1] < differ[2] or dup == "true"


def test_strict_values_stay_strict():
    """Values DuckDB's casts accept leniently are still quarantined."""
    register = REGISTERS["npr_episodes"]  # integer care_level, dates, end_date in the period
    conn = duckdb.connect()
    base = _rows(register, 0)[0]
    bad = {"care_level": [" 12", "+5x", "1_000", "0x10", "1e3", "1.0", "\t12", "١٢"],
           "start_date": ["2018-1-05", "2018/01/05", " 2018-01-05", "2018-01-5", "2018-01-1 ", "10000-01-01", "2018-02-30"],
           "end_date": ["2018-02-01", "2018-1-05", "2018-01-05 "]}
    rows = [{**base, c: v} for c, vs in bad.items() for v in vs]
    _stage(conn, register, rows)
    flags = conn.execute(f"SELECT {checks.row_bad(register, PERIOD)} FROM (SELECT *, NULL AS _dup FROM t) ORDER BY _row").fetchall()
    assert all(f for f, in flags), list(zip(rows, flags))


def _old_cast(col) -> str:
    v = checks.q(col.name)
    return {STRING: f"CASE WHEN trim({v}) = '' THEN NULL ELSE {v} END",
            INTEGER: f"CAST(NULLIF(trim({v}), '') AS BIGINT)", NUMBER: f"CAST(NULLIF(trim({v}), '') AS DOUBLE)",
            DATE: f"CAST(NULLIF(trim({v}), '') AS DATE)", MONTH: f"CAST(NULLIF(trim({v}), '') || '-01' AS DATE)"}[col.type]


@pytest.mark.parametrize("name", sorted(REGISTERS))
def test_loaded_values_are_typed_as_before(name):
    """On every row that passes the rules, the INSERT's casts give what trim/NULLIF/CAST gave."""
    register = REGISTERS[name]
    conn = duckdb.connect()
    _stage(conn, register, _rows(register, 2000))
    conn.execute("CREATE SCHEMA raw")
    conn.execute(f"CREATE TABLE raw.{name} AS SELECT {', '.join(f'{_old_cast(c)} AS {checks.q(c.name)}' for c in register.columns)}, "
                 "'' AS _delivery, '' AS _period, 0 AS _version, _file, _row, now() AS _loaded_at FROM t LIMIT 0")
    conn.execute(f"CREATE TEMP VIEW stg AS SELECT * FROM (SELECT *, NULL AS _dup FROM t) WHERE {checks.row_bad(register, PERIOD)} = false")
    n, = conn.execute(checks.insert_raw_sql(register, exclude=False, period=PERIOD), ["d", PERIOD, 1, "2018-02-01"]).fetchone()
    cols = ", ".join(checks.q(c) for c in register.column_names)
    old = f"SELECT {', '.join(_old_cast(c) for c in register.columns)}, _row FROM stg"
    assert n > 50
    assert conn.execute(f"SELECT count(*) FROM ((SELECT {cols}, _row FROM raw.{name}) EXCEPT ALL ({old}))").fetchone()[0] == 0
    assert conn.execute(f"SELECT count(*) FROM (({old}) EXCEPT ALL (SELECT {cols}, _row FROM raw.{name}))").fetchone()[0] == 0


def _identity_texts() -> list[str]:
    rnd = random.Random(7)
    numbers = []
    for day, month, yy in itertools.product((1, 9, 10, 29, 31), (1, 2, 10, 12), (0, 5, 85, 99)):
        for d in (False, True):
            try:
                numbers.append(make_identity_number(day, month, yy, rnd.randrange(1000), d_number=d))
            except ValueError:
                continue
    forms = []
    for n in numbers:
        i = int(n)
        forms += [n, str(i), f"+{n}", f"-{i}", f"{i}.0", f"{i}.00", f"{i}.", f"{float(i):e}", f"{float(i):E}",
                  repr(float(i)), f"{i / 10:.1f}e1", f"{i}0e-1", f"{i}e0"]
    contexts = ["{}", "x {} y", "a;{};b", "{};", ";{}", "id={}", "({})", "\n{}\n", "\"{}\"", "{}.csv", "x_{}"]
    texts = [c.format(f) for f in forms for c in contexts]
    alphabet = "0123456789" * 3 + ".eE+-a_; \n"
    for _ in range(20000):
        texts.append("".join(rnd.choice(alphabet) for _ in range(rnd.randint(8, 30))))
    return texts


def test_identity_prefilter_lets_every_identity_number_through():
    """identity.PREFILTER is narrower than identity.CANDIDATE but every text the rule flags matches it,
    in Python's re and in DuckDB's RE2 alike, as a value and inside a ';'-joined row."""
    texts = _identity_texts()
    pat = re.compile(identity.PREFILTER)
    flagged = [t for t in texts if find_identity_number(t)]
    assert len(flagged) > 1000
    assert [t for t in flagged if not pat.search(t)] == []
    conn = duckdb.connect()
    conn.execute("CREATE TABLE x AS SELECT unnest(?) AS t, unnest(?) AS py", [texts, [bool(pat.search(t)) for t in texts]])
    cand = checks.lit(identity.PREFILTER)
    assert conn.execute(f"SELECT count(*) FROM x WHERE regexp_matches(t, {cand}) <> py").fetchone()[0] == 0
    assert conn.execute(f"SELECT count(*) FROM x WHERE py AND NOT regexp_matches(concat_ws(';', 'a1', t, '2b'), {cand})"
                        ).fetchone()[0] == 0
    # and it is narrower: pseudonyms with a long digit run mostly no longer need a look
    hexes = ["0123456789abcdef", "a9876543210bcdef", "12345678901abcde", "99999999999abcde"]
    assert [h for h in hexes if pat.search(h)] == []


def test_blank_is_trim_to_empty():
    """The cheap blank test decides like ``trim(v) = ''`` (Unicode spaces blank, tabs not)."""
    values = [v for v in TRICKY if v is not None] + [" \u00a0 ", "\u3000", "\u2028", "\u0085", "\u00a0x", "!", " !", "~", "é"]
    conn = duckdb.connect()
    conn.execute("CREATE TABLE b AS SELECT unnest(?) AS v", [values])
    rows = conn.execute(f"SELECT v, trim(v) = '', {checks._blank('v')} FROM b").fetchall()
    assert [r for r in rows if r[1] != r[2]] == []
    assert sum(r[1] for r in rows) >= 6


def test_fast_type_checks_match_the_full_ones():
    """The canonical-rendering shortcut for integers, numbers and dates never accepts what the
    full test refuses (every year 0000-10000, sign, zero padding, range edges, inf and nan)."""
    dates = [f"{y:04d}-{md}" for y in range(0, 10001) for md in ("01-01", "02-29", "12-31", "1-01", "00-10")]
    ints = [str(i) for i in range(-300, 300)] + [f"{s}{i}" for s in ("+", "0", "-0", " ", "00") for i in (0, 1, 42)]
    ints += [str(2**63 - 1), str(2**63), str(-(2**63)), str(-(2**63) - 1), "1" * 25]
    rnd = random.Random(3)
    numbers = ints + [repr(rnd.uniform(-1e3, 1e3)) for _ in range(300)] + [f"{rnd.uniform(0, 100):.{k}f}" for k in range(4)]
    numbers += ["inf", "-inf", "nan", "-nan", "Infinity", "NaN", "1e999", "1e+20", "1e20", "1.5e-07", "1E5", "100.0", ".5",
                "5.", "00.5", " 1.0", "1.0 ", "+1.0", "1_0.0", "0.30000000000000004", "1.7976931348623157e+308"]
    conn = duckdb.connect()
    for typ, values in ((DATE, dates + TRICKY), (INTEGER, ints + TRICKY), (NUMBER, numbers + TRICKY)):
        conn.execute("CREATE OR REPLACE TABLE v AS SELECT unnest(?) AS v", [values])
        full, fast = checks._valid_type("v", typ), checks._valid_fast("v", typ)
        differ = conn.execute(f"SELECT v, {full}, {fast} FROM v WHERE ({full}) IS DISTINCT FROM ({fast})").fetchall()
        assert differ == []
        ok, refused = conn.execute(f"SELECT count(*) FILTER (WHERE {fast}), count(*) FILTER (WHERE NOT {fast}) FROM v").fetchone()
        assert ok > 100 and refused > 50


@pytest.mark.parametrize("n", [10, 1_500_000])  # one thread, and the two halves in two threads
def test_repeated_key_hashes_are_found_in_either_half_of_the_range(n):
    import numpy as np

    rng = np.random.default_rng(n)
    distinct = np.unique(rng.integers(0, 2**64 - 1, size=n + n // 10, dtype=np.uint64))[:n]
    rng.shuffle(distinct)
    assert not checks._repeats(distinct.copy())
    low, high = distinct[distinct < 2**63], distinct[distinct >= 2**63]
    for twin in (low[:1], high[:1]):
        assert checks._repeats(np.concatenate([distinct, twin]))
