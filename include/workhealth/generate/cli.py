"""``workhealth generate``: write a synthetic inbox."""

from __future__ import annotations

from pathlib import Path

import click

from workhealth.generate.core import DEFECTS, FORMATS, inside

_PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"


def _period(ctx, param, value):
    import re

    if value is not None and not re.match(_PERIOD, value):
        raise click.BadParameter("expected YYYY-MM")
    return value


@click.command("generate")
@click.option("--inbox", type=click.Path(file_okay=False), help="Inbox to write to [WORKHEALTH_INBOX].")
@click.option("--start", default="2016-01", show_default=True, callback=_period, help="First month, YYYY-MM.")
@click.option("--end", default="2019-12", show_default=True, callback=_period, help="Last month, YYYY-MM.")
@click.option("--scale", default=0.01, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="1 = national volumes for Norway.")
@click.option("--seed", default=20240101, show_default=True, type=int)
@click.option("--defect", "defects", multiple=True, type=click.Choice(sorted(DEFECTS)),
              help="Structural defect to inject (repeatable): " + ", ".join(sorted(DEFECTS)) + ".")
@click.option("--format", "fmt", default="csv.gz", show_default=True, type=click.Choice(FORMATS))
@click.option("--truth", type=click.Path(dir_okay=False),
              help="Also write the true effects of the planted interventions (JSON) here; never inside the inbox.")
def generate_command(inbox, start, end, scale, seed, defects, fmt, truth) -> None:
    """Write synthetic register deliveries (docs/ingestion.md) for every month in [START, END]."""
    from workhealth.core import settings
    from workhealth.generate import generate

    target = Path(inbox) if inbox else settings.load().inbox
    if start > end:
        raise click.BadParameter(f"--end {end} is before --start {start}", param_hint="--end")
    if truth and any(inside(Path(truth), folder) for folder in (target, settings.load().inbox)):
        raise click.BadParameter(f"{truth} is inside the inbox: the truth is written beside it, never in it",
                                 param_hint="--truth")
    summary = generate(target, start=start, end=end, scale=scale, seed=seed, defects=defects, fmt=fmt,
                       truth=Path(truth) if truth else None)
    click.echo(f"wrote {len(summary['deliveries'])} deliveries to {target} in {summary['seconds']:.1f} s "
               f"({summary['persons']:,} persons)")
    for register, rows in sorted(summary["rows_per_register"].items()):
        click.echo(f"  {register:<18} {rows:>12,} rows")
    if truth:
        click.echo(f"  truth: {summary['truth_entries']:,} treated entries -> {truth}")
    for d in summary["deliveries"]:
        if d["defects"]:
            click.echo(f"  defect {', '.join(d['defects'])}: {d['delivery']}")
