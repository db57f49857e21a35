"""Task body of publishing: a new indicator release (and the report) after a passing quality gate."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowSkipException

from workhealth_airflow.assets import RELEASE_ASSET


def publish(quality: dict, context) -> dict:
    """Publish from the validated warehouse. ``quality`` is the ``validate`` task's result: this
    task only runs when that passed (no warehouse-wide critical finding; publish() refuses
    anything not publishable anyway), with the years it withholds published empty.

    Nothing changed since the latest release: the task is skipped, so no asset event tells
    consumers of the release about a release that is not new.
    """
    from workhealth.core import settings
    from workhealth.publish import publish as publish_release
    from workhealth.transform import data_dictionary

    result = publish_release(settings.load(), quality, dictionary=data_dictionary)
    if not result.created:
        raise AirflowSkipException(f"no change since release {result.release_id} ({result.path})")
    print(f"new release {result.release_id}: {result.path}; report {result.report_path}")
    withheld = sorted(quality.get("withheld") or {})
    if withheld:
        print(f"year(s) withheld in release {result.release_id} (empty, flag withheld): {', '.join(withheld)}")
    context["outlet_events"][RELEASE_ASSET].extra = {"release_id": result.release_id, "horizon": result.horizon,
                                                     "path": str(result.path), "withheld_years": withheld}
    return result.to_dict()
