"""Task bodies of the quality gate: validate the marts (fail when the whole release is withheld),
and after publishing, fail loudly when years of it were withheld."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException


def validate() -> dict:
    """Fails (no retries) only on a warehouse-wide critical finding: then nothing may be
    published. Critical period findings let the release through with their years withheld."""
    from workhealth.core import settings
    from workhealth.quality import validate as run_validation

    result = run_validation(settings.load())
    print(result.summary())
    for finding in result.warnings:  # warnings never stop publication; the log and the report show them
        print(f"WARNING {finding.message}")
    if not result.publishable:
        # Bad data is not fixed by retrying: fail without retries, naming expectation, period and value.
        raise AirflowFailException(result.withheld_reason())
    if result.critical:
        print(result.withheld_reason())  # withheld years, and criticals after the horizon
    return result.to_dict()


def check_withheld(quality: dict) -> None:
    """After publish: fail (no retries) while the release has withheld years, so the run is red
    and the failure alert goes out (the release itself was published and its asset event sent).
    The message names each withheld year with the check, period, observed value and threshold."""
    withheld = quality.get("withheld") or {}
    if not withheld:
        print("no year withheld")
        return
    lines = [f"year(s) withheld in the release: {', '.join(withheld)} (published empty, flag withheld; "
             "a corrected delivery of the period releases them)"]
    lines += [f"  {year}: {f['suite']}.{f['check']} {f['period']}"
              + (f" {f['register']}" if f.get("register") else "")
              + (f" health trust {f['health_trust']}" if f.get("health_trust") else "")
              + f": observed {f['observed']} (threshold: {f['threshold']})"
              for year, findings in withheld.items() for f in findings]
    raise AirflowFailException("\n".join(lines))
