"""Task bodies of the ingestion DAG: thin translations of ``workhealth.ingest`` to Airflow."""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk.exceptions import AirflowFailException

from workhealth_airflow.assets import RAW_REGISTERS_ALIAS, raw_asset


#: A reference to an inbox entry by inode, for a name that holds an identity number.
_BY_INODE = "inode:"


def ready_deliveries() -> list[str]:
    """References to the entries of the inbox to judge now, one per mapped load task: the path, or for a
    name that holds an identity number ``inode:<n>``, so that the name never reaches XCom, a map
    index or a log line (the load task finds the entry by its inode and refuses it)."""
    from workhealth.core import identity, settings
    from workhealth.ingest.inbox import scan_inbox

    refs = []
    for f in scan_inbox(settings.load().inbox):
        if f.state not in ("ready", "invalid_name"):  # a bad name is refused visibly, by its task
            continue
        if identity.contains_identity_number(f.name):
            try:
                refs.append(f"{_BY_INODE}{os.lstat(f.path).st_ino}")
            except FileNotFoundError:  # handled by another process meanwhile
                continue
        else:
            refs.append(str(f.path))
    return refs


def resolve(ref: str) -> Path:
    """The inbox entry a reference of ``ready_deliveries`` names (a path that no longer exists
    when the entry is gone: ``ingest_delivery`` then skips it)."""
    if not ref.startswith(_BY_INODE):
        return Path(ref)
    from workhealth.core import settings

    inbox, inode = settings.load().inbox, int(ref[len(_BY_INODE):])
    for entry in os.scandir(inbox):
        if entry.inode() == inode:
            return Path(entry.path)
    return inbox / ".gone"


def delivery_label(ref: str) -> str:
    """How a task names its delivery (map index, log lines): the masked name."""
    from workhealth.core import identity

    return identity.mask(resolve(ref).name)


def load_delivery(ref: str, context) -> dict:
    """Ingest one delivery; emit an asset event for its register when data changed.

    A refused delivery fails the task without retries (retrying cannot fix data) and names the
    delivery and the reason; the rest of the run goes on with the other deliveries.
    """
    from workhealth.ingest.load import ingest_delivery

    folder = resolve(ref)
    context["delivery_name"] = delivery_label(ref)  # shown as the map index in the UI
    result = ingest_delivery(folder)
    if result.status == "rejected":
        raise AirflowFailException(f"delivery {result.delivery} rejected: {result.reason}")
    if result.status == "accepted":
        context["outlet_events"][RAW_REGISTERS_ALIAS].add(
            raw_asset(result.register),
            extra={"delivery": result.delivery, "period": result.period, "version": result.version},
        )
    return result.to_dict()
