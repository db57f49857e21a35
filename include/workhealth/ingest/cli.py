"""``workhealth ingest`` and ``workhealth deliveries`` (registered in workhealth.cli)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from workhealth.core import settings as _settings

EXIT_REJECTED = 3


def _settings_with(inbox=None, warehouse=None) -> _settings.Settings:
    s = _settings.load()
    changes = {k: Path(v).resolve() for k, v in (("inbox", inbox), ("warehouse", warehouse)) if v}
    return dataclasses.replace(s, **changes)


@click.command("ingest")
@click.option("--inbox", type=click.Path(file_okay=False), help="Inbox of deliveries [WORKHEALTH_INBOX].")
@click.option("--warehouse", type=click.Path(dir_okay=False), help="DuckDB file [WORKHEALTH_WAREHOUSE].")
def ingest_command(inbox, warehouse) -> None:
    """Ingest every ready delivery of the inbox, one line per delivery (names masked).

    Deliveries another process is handling are left to it. Exit codes: 0 all accepted or
    replayed; 3 at least one delivery was rejected; 6 the warehouse is busy (the rest stays).
    """
    from workhealth.ingest.load import ingest_inbox

    s = _settings_with(inbox, warehouse)
    results = ingest_inbox(s)
    for r in results:
        line = (f"{r.status:9} {r.delivery}  manifest={r.rows_manifest} loaded={r.rows_loaded} "
                f"quarantined={r.rows_quarantined}")
        click.echo(line + (f"  reason: {r.reason}" if r.reason else ""))
    rejected = sum(r.status == "rejected" for r in results)
    click.echo(f"{len(results)} deliveries processed, {rejected} rejected")
    sys.exit(EXIT_REJECTED if rejected else 0)


@click.command("deliveries")
@click.option("--warehouse", type=click.Path(dir_okay=False), help="DuckDB file [WORKHEALTH_WAREHOUSE].")
@click.option("--inbox", type=click.Path(file_okay=False), help="Inbox, for waiting deliveries [WORKHEALTH_INBOX].")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def deliveries_command(warehouse, inbox, as_json) -> None:
    """List every delivery seen: status (accepted, rejected, superseded, waiting), rows, reason."""
    from workhealth.ingest.log import list_deliveries

    s = _settings_with(inbox, warehouse)
    rows = list_deliveries(s.warehouse, s.inbox)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no deliveries")
        return
    headers = ("delivery", "status", "rows_manifest", "rows_loaded", "rows_quarantined", "processed_at")
    table = [[("" if d[h] is None else str(d[h])) for h in headers] for d in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for d, t in zip(rows, table):
        click.echo("  ".join(v.ljust(w) for v, w in zip(t, widths)))
        if d["reason"] and d["status"] != "waiting":
            click.echo(f"    reason: {d['reason']}")
