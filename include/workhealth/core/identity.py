"""Norwegian national identity numbers (fødselsnummer and D-nummer): the one rule, and masking.

No delivery may carry one (docs/ingestion.md, identity-number guard). An 11-digit string is an
identity number when its first six digits are a real date DDMMYY (with 40 added to the day in a
D-nummer) and both control digits check out under the official modulus-11 rule. Whether the
date is real is checked in both candidate centuries (19YY and 20YY): erring towards "is an
identity number" is the safe side for privacy.

``find_identity_number(text)`` is the rule for any text (a value, a name, a line of a file):
a run of exactly 11 digits bounded by non-digits, or a number written as a number whose digits
lost a leading zero or gained a sign, fraction or exponent (``1018512366``, ``+12077732193``,
``1018512366.0``, ``1.018512366e+09``). ``mask(text)`` is how any delivered name or value is
quoted in a reason, a log line or an audit row.
"""

from __future__ import annotations

import calendar
import re
from decimal import Decimal, InvalidOperation

_W1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_W2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _control(digits: list[int], weights: tuple[int, ...]) -> int | None:
    """The modulus-11 control digit for ``digits``, or None when no digit fits (remainder 1)."""
    k = 11 - sum(d * w for d, w in zip(digits, weights)) % 11
    if k == 11:
        return 0
    return None if k == 10 else k


def control_digits(first_nine: str) -> str | None:
    """The two control digits for a 9-digit stem, or None when the stem cannot be completed."""
    digits = [int(c) for c in first_nine]
    k1 = _control(digits, _W1)
    if k1 is None:
        return None
    k2 = _control(digits + [k1], _W2)
    return None if k2 is None else f"{k1}{k2}"


def _is_real_date(day: int, month: int, yy: int) -> bool:
    if not 1 <= month <= 12:
        return False
    # Real in either century: Feb 29 of YY=00 exists in 2000.
    return any(1 <= day <= calendar.monthrange(century + yy, month)[1] for century in (1900, 2000))


def kind(value: str) -> str | None:
    """``"fodselsnummer"``, ``"d-nummer"`` or None when ``value`` is neither."""
    if len(value) != 11 or not value.isdigit():
        return None
    day, month, yy = int(value[0:2]), int(value[2:4]), int(value[4:6])
    is_d = day > 40
    if is_d:
        day -= 40
    if not _is_real_date(day, month, yy):
        return None
    if control_digits(value[:9]) != value[9:]:
        return None
    return "d-nummer" if is_d else "fodselsnummer"


def is_identity_number(value: str) -> bool:
    return kind(value) is not None


_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9]{11}(?![0-9])")
# A number standing as a token (not glued to letters, digits, '_', '.', or a sign after those):
# sign, integer digits, fraction, exponent.
_NUMBER = re.compile(r"(?<![0-9A-Za-z_.+-])[+-]?([0-9]+)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]{1,3}))?(?![0-9A-Za-z_.])")

#: Every hit of ``find_identity_number`` matches this pattern by itself, so text without a match
#: cannot hold one: the cheap first filter of the SQL and byte scans (valid in Python ``re`` and
#: DuckDB's RE2: no lookbehind).
CANDIDATE = r"[0-9]{11}|(^|[^0-9A-Za-z_.])[+-]?[0-9]{10}|[0-9]\.[0-9]*[eE]"
_CANDIDATE = re.compile(CANDIDATE)

_DDMM11 = "(0[1-9]|[12][0-9]|3[01]|4[1-9]|[56][0-9]|7[01])(0[1-9]|1[0-2])[0-9]{7}"
_DDMM10 = "[1-9](0[1-9]|1[0-2])[0-9]{7}"
#: The SQL pick of values worth judging (ingestion's parsed check): ``CANDIDATE`` narrowed by what
#: ``find_identity_number`` itself requires, so that text without a match still cannot
#: hold an identity number (tests/unit/test_ingest_fast_checks.py), while a pseudonym with a
#: long digit run rarely matches: an 11-digit run bounded by non-digits whose first four digits
#: can be a day (01-31, D-nummer 41-71) and a month; a 10-digit number token (a lost leading
#: zero: day 1-9) with optional sign and fraction; and the exponent forms as CANDIDATE has them.
PREFILTER = (f"(^|[^0-9]){_DDMM11}([^0-9]|$)"
                f"|(^|[^0-9A-Za-z_.])[+-]?{_DDMM10}(\\.[0-9]*)?([^0-9A-Za-z_.]|$)"
                "|(^|[^0-9A-Za-z_.])[+-]?[0-9]{10,}[eE]|[0-9]\\.[0-9]*[eE]")


def _numeric_kind(m: re.Match) -> str | None:
    digits, frac, exp = m.group(1), m.group(2), m.group(3)
    if exp is None:
        # 10 digits: an identity number stored as a number lost its leading zero (01018512366).
        if len(digits) not in (10, 11) or (frac and frac.strip("0")):
            return None
        return kind(digits.zfill(11))
    if frac is None and len(digits) < 10:  # exponent forms as float formatters write them
        return None
    try:
        value = Decimal(m.group(0).lstrip("+-"))
    except InvalidOperation:
        return None
    if value != value.to_integral_value() or not 10**9 <= value < 10**11:
        return None
    return kind(f"{int(value):011d}")


def find_identity_number(text) -> str | None:
    """The kind of the first identity number in ``text`` (``"fodselsnummer"``/``"d-nummer"``), or
    None: any run of exactly 11 digits bounded by non-digits or the text's ends, and any number
    token (bounded by characters other than letters, digits, ``_`` and ``.``) that is an identity
    number written as a number: 10 digits (leading zero lost) or 11, with an optional sign and a
    zero fraction (``+12077732193``, ``1018512366.0``), or in exponent form (``1.018512366e+09``).
    Non-strings are judged by their text (``str(value)``)."""
    if text is None or isinstance(text, bool):
        return None
    text = text if isinstance(text, str) else str(text)
    if not _CANDIDATE.search(text):
        return None
    for m in _DIGIT_RUN.finditer(text):
        k = kind(m.group(0))
        if k:
            return k
    for m in _NUMBER.finditer(text):
        k = _numeric_kind(m)
        if k:
            return k
    return None


def contains_identity_number(text) -> bool:
    """True when ``text`` holds an identity number under the one rule (``find_identity_number``):
    for values, names and free text that could end up in a reason, a log or a sample row."""
    return find_identity_number(text) is not None


_LONG_DIGITS = re.compile(r"[0-9]{6,}")


def mask(text) -> str:
    """``text`` with every run of 6 or more digits cut to its first 5 (``01018******``): how a
    delivered name or value (folder, file, column, manifest value ...) is quoted anywhere, so no
    quote can carry an identity number or enough of one to find it."""
    return _LONG_DIGITS.sub(lambda m: m.group(0)[:5] + "*" * (len(m.group(0)) - 5), str(text))


def make_identity_number(day: int, month: int, yy: int, individual: int, d_number: bool = False) -> str:
    """A valid number for the date and a 3-digit individual number, trying the next individual
    numbers until the control digits exist (used by the synthetic generator and the tests)."""
    for offset in range(1000):
        ind = (individual + offset) % 1000
        stem = f"{day + (40 if d_number else 0):02d}{month:02d}{yy:02d}{ind:03d}"
        ks = control_digits(stem)
        if ks is not None:
            return stem + ks
    raise ValueError("no valid identity number for this date")  # cannot happen in practice
