"""Task bodies of the ingestion DAG: thin translations of ``workhealth.ingest`` to Airflow."""

from __future__ import annotations

from pathlib import Path

from airflow.sdk.exceptions import AirflowFailException

from workhealth_airflow.assets import RAW_REGISTERS_ALIAS, raw_asset


def ready_deliveries() -> list[str]:
    from workhealth.core import settings
    from workhealth.ingest.inbox import scan_inbox

    return [str(f.path) for f in scan_inbox(settings.load().inbox) if f.state == "ready"]


def load_delivery(folder: str, context) -> dict:
    """Ingest one delivery; emit an asset event for its register when data changed.

    A refused delivery fails the task without retries (retrying cannot fix data) and names the
    delivery and the reason; the rest of the run goes on with the other deliveries.
    """
    from workhealth.ingest.load import ingest_delivery

    context["delivery_name"] = Path(folder).name  # shown as the map index in the UI
    result = ingest_delivery(Path(folder))
    if result.status == "rejected":
        raise AirflowFailException(f"delivery {result.delivery} rejected: {result.reason}")
    if result.status == "accepted":
        context["outlet_events"][RAW_REGISTERS_ALIAS].add(
            raw_asset(result.register),
            extra={"delivery": result.delivery, "period": result.period, "version": result.version},
        )
    return result.to_dict()
