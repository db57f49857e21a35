"""Norwegian national identity numbers (fødselsnummer and D-nummer).

No delivery may carry one (docs/ingestion.md, identity-number guard). A value is treated as an identity
number when it is 11 digits, its first six digits are a real date DDMMYY (with 40 added
to the day in a D-nummer) and both control digits check out under the official
modulus-11 rule. Whether the date is real is checked in both candidate centuries
(19YY and 20YY): erring towards "is an identity number" is the safe side for privacy.
"""

from __future__ import annotations

import calendar
import re

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


def contains_identity_number(text: str) -> bool:
    """True when any run of exactly 11 digits in ``text`` (bounded by non-digits) is an identity
    number: for names and free text that could end up in a reason, a log or a sample row."""
    return any(is_identity_number(m.group(0)) for m in _DIGIT_RUN.finditer(text))


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
