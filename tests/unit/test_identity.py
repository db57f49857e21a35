"""The one identity-number rule for free text (names, reasons, sample rows): core.identity."""

from __future__ import annotations

from workhealth.core.identity import contains_identity_number, make_identity_number


def test_a_bounded_run_of_eleven_digits_that_checks_out_is_found():
    fnr = make_identity_number(1, 1, 85, 123)
    dnr = make_identity_number(1, 1, 85, 123, d_number=True)
    for text in (fnr, f"fnr {fnr}", f"M545,{fnr}", f"{dnr}.csv", f"x_{fnr}_y"):
        assert contains_identity_number(text), text


def test_longer_digit_runs_and_invalid_numbers_are_not():
    fnr = make_identity_number(1, 1, 85, 123)
    broken = fnr[:-1] + str((int(fnr[-1]) + 1) % 10)
    for text in (f"9{fnr}", f"{fnr}0", broken, "01018512345", "episode 123456789012", ""):
        assert not contains_identity_number(text), text
