"""The ``workhealth`` command line. Each subcommand is a thin wrapper around the package."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from workhealth.core import settings as _settings
from workhealth.core.errors import EXIT_WAREHOUSE_BUSY, WarehouseBusy
from workhealth.ingest.cli import deliveries_command, ingest_command
from workhealth.generate.cli import generate_command
from workhealth.ops.sql import sql_command


def settings_with(inbox=None, warehouse=None, out=None) -> _settings.Settings:
    s = _settings.load()
    changes = {k: Path(v).resolve() for k, v in (("inbox", inbox), ("warehouse", warehouse), ("out", out)) if v}
    return dataclasses.replace(s, **changes)


class _Commands(click.Group):
    """Every command: a warehouse held by another process is one line and exit code 6, no traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except WarehouseBusy as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_WAREHOUSE_BUSY)


@click.group(cls=_Commands)
def main() -> None:
    """workhealth: register deliveries -> DuckDB warehouse -> marts -> quality gate -> indicators.

    Every command exits with 6 when the warehouse is held by another process (try again).
    """


main.add_command(generate_command)
main.add_command(ingest_command)
main.add_command(deliveries_command)
main.add_command(sql_command)

_paths = [
    click.option("--inbox", type=click.Path(file_okay=False), help="Inbox of deliveries [WORKHEALTH_INBOX]."),
    click.option("--warehouse", type=click.Path(dir_okay=False), help="DuckDB file [WORKHEALTH_WAREHOUSE]."),
    click.option("--out", type=click.Path(file_okay=False), help="Output folder [WORKHEALTH_OUT]."),
]


def path_options(f):
    for option in reversed(_paths):
        f = option(f)
    return f


@main.command()
@path_options
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
def run(inbox, warehouse, out, as_json) -> None:
    """Run the whole pipeline once, in-process, the way the DAGs do.

    Exit codes: 0 everything accepted and built; 3 at least one delivery was rejected (the
    others were processed and built); 4 the dbt build failed (a model or test; named on the
    output); 5 publication withheld by a warehouse-wide critical quality finding (expectation,
    period and value named on the output); 7 published, but the years of critical period
    findings are withheld (their rows published empty, flag withheld; years and findings named
    on the output); 8 the evaluation failed (intervention and step named on the output; nothing
    published); 6 the warehouse is held by another process (nothing changed: try again); 1 an
    unexpected error; 2 wrong usage.
    """
    from workhealth import pipeline

    s = settings_with(inbox, warehouse, out)
    report = pipeline.run(s)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), indent=2, default=str))
    else:
        for d in report.deliveries:
            line = f"{d['status']:9} {d['delivery']}  loaded={d['rows_loaded']} quarantined={d['rows_quarantined']}"
            click.echo(line + (f"  reason: {d['reason']}" if d.get("reason") else ""))
        click.echo(f"{len(report.deliveries)} deliveries processed, {len(report.rejected)} rejected")
        click.echo(report.build["summary"])
        if report.quality is not None:
            click.echo(report.quality["summary"])
            if report.quality["withheld_reason"]:
                click.echo(report.quality["withheld_reason"])
        if report.evaluation is not None:
            click.echo(report.evaluation["summary"])
        if report.publish is not None:
            p = report.publish
            state = "new release" if p["created"] else "no change since release"
            click.echo(f"{state} {p['release_id']}: {p['path']}")
            if report.quality["withheld"]:
                click.echo(f"withheld in this release (empty, flag withheld): year(s) "
                           f"{', '.join(report.quality['withheld'])}")
            click.echo(f"report: {p['report_path']}")
        click.echo(f"warehouse: {s.warehouse} (marts in schema marts)")
    sys.exit(report.exit_code)


@main.command("airflow-run")
@path_options
def airflow_run(inbox, warehouse, out) -> None:
    """Run every pipeline DAG once through Airflow (``airflow dags test``) on the embedded default.

    Exit code 0 when every DAG run succeeded, 1 otherwise.
    """
    from workhealth.ops import runner

    s = settings_with(inbox, warehouse, out)
    states = runner.run_dags(s)
    for dag_id, state in states.items():
        click.echo(f"DAG {dag_id}: {state}")
    click.echo(f"warehouse:  {s.warehouse} (raw.*, audit.*, marts.*; dbt logs under {s.out / 'dbt'})")
    click.echo(f"quality:    {s.out / 'quality' / 'index.html'} (per health trust and month; GX Data Docs)")
    latest = s.out / "releases" / "latest"
    click.echo(f"release:    {latest.resolve() if latest.exists() else 'none (publication withheld or not run)'}")
    click.echo(f"report:     {s.out / 'report' / 'index.html'}")
    click.echo(f"accepted:   {s.archive}")
    click.echo(f"rejected:   {s.rejected}")
    click.echo(f"Airflow:    {s.airflow_home}")
    sys.exit(0 if all(v == "success" for v in states.values()) else 1)


@main.command()
@click.option("--port", type=int, default=8080, show_default=True, help="Port of the Airflow UI and API.")
def up(port) -> None:
    """Start Airflow on this machine in the background (UI, scheduler, dag-processor, triggerer).

    The DAGs are loaded and unpaused and the inbox is polled every minute, so a delivery dropped
    into the inbox is ingested, built, validated and published by itself. ``workhealth down`` stops it.
    """
    from workhealth.ops import supervisor

    sys.exit(supervisor.up(_settings.load(), port=port, echo=click.echo))


@main.command()
def down() -> None:
    """Stop the Airflow started by ``workhealth up``."""
    from workhealth.ops import supervisor

    sys.exit(supervisor.down(_settings.load(), echo=click.echo))


@main.command("airflow", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def airflow_cmd(ctx) -> None:
    """Run an ``airflow`` CLI command with the project's Airflow settings (e.g. ``workhealth airflow dags list``)."""
    from workhealth.ops import runner

    sys.exit(runner.airflow(list(ctx.args), _settings.load(), check=False).returncode)


if __name__ == "__main__":
    main()
