"""Run the catalogue's suites with Great Expectations on pandas batches and build Data Docs.

GX's own file context lives under ``OUT/quality/gx`` (generated, never in git); the reviewed
definitions stay in ``expectations/`` and are written into the context (add-or-update) on every
run. Each suite has one validation definition over a whole-dataframe batch of its frame and one
checkpoint (each frame has its own index columns, which GX reports for every failing row).
Data Docs go to ``OUT/quality/data_docs/``; the validation results of every run stay in the
context's store, so the Data Docs list the runs over time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from workhealth.quality.catalogue import Catalogue, Check, Suite

DATASOURCE = "workhealth_quality_frames"
DATA_DOCS_SITE = "workhealth_quality"


def _expectation(check: Check):
    import great_expectations.expectations as gxe

    class_name = "".join(part.capitalize() for part in check.expectation.split("_"))
    cls = getattr(gxe, class_name, None)
    if cls is None:
        raise ValueError(f"{check.suite}.{check.name}: unknown GX expectation {check.expectation!r}")
    return cls(**check.kwargs, severity=check.severity, notes=check.description,
               meta={"check": check.name, "severity": check.severity, "thresholds": check.references})


def context(quality_dir: Path):
    """The GX file context under ``quality_dir/gx`` with the Data Docs site at ``quality_dir/data_docs``."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    quality_dir.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="file", project_root_dir=str(quality_dir))
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    sites = ctx.get_config().data_docs_sites or {}
    wanted = {"class_name": "SiteBuilder", "show_how_to_buttons": False,
              "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                "base_directory": str(quality_dir / "data_docs")},
              "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}
    if sites.get(DATA_DOCS_SITE, {}).get("store_backend") != wanted["store_backend"]:
        if DATA_DOCS_SITE in sites:
            ctx.delete_data_docs_site(DATA_DOCS_SITE)
        ctx.add_data_docs_site(DATA_DOCS_SITE, wanted)
    if "local_site" in sites:  # GX's default site would duplicate the docs under gx/uncommitted
        ctx.delete_data_docs_site("local_site")
    ctx.variables.save()
    return ctx


def run_suites(catalogue: Catalogue, frames: dict[str, pd.DataFrame], index: dict[str, tuple],
               quality_dir: Path, run_id: str) -> dict[str, dict]:
    """Validate every suite on its frame. Returns ``{suite: {"success", "results": [...], "gx": describe}}``
    where each result is ``(check, ExpectationValidationResult)``; Data Docs are rebuilt at the end."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    ctx = context(quality_dir)
    source = ctx.data_sources.add_or_update_pandas(DATASOURCE)
    run_identifier = RunIdentifier(run_name=run_id, run_time=datetime.now(UTC))
    outcome: dict[str, dict] = {}
    rendered: list = []
    for suite in catalogue.suites:
        checks = {c.name: c for c in suite.checks}
        gx_suite = gx.ExpectationSuite(name=suite.name, expectations=[_expectation(c) for c in suite.checks],
                                       meta={"description": suite.description, "frame": suite.frame,
                                             "source": f"expectations/{suite.path.name}"})
        gx_suite = ctx.suites.add_or_update(gx_suite)
        asset = _asset(source, suite)
        batch = asset.get_batch_definition("whole_frame")
        definition = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite))
        checkpoint = ctx.checkpoints.add_or_update(gx.Checkpoint(
            name=suite.name, validation_definitions=[definition], actions=[],
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": list(index[suite.frame])}))
        result = checkpoint.run(batch_parameters={"dataframe": frames[suite.frame]}, run_id=run_identifier)
        identifier, validation = next(iter(result.run_results.items()))
        rendered += [identifier, ExpectationSuiteIdentifier(name=suite.name)]
        outcome[suite.name] = {
            "success": bool(validation.success),
            "results": [(checks[r.expectation_config.meta["check"]], r) for r in validation.results],
            "gx": validation.describe_dict(),
        }
    # render this run's pages only (the index still lists every run kept in the store)
    ctx.build_data_docs(site_names=[DATA_DOCS_SITE], resource_identifiers=rendered)
    return outcome


def _asset(source, suite: Suite):
    names = {a.name for a in source.assets}
    asset = source.get_asset(suite.frame) if suite.frame in names else source.add_dataframe_asset(suite.frame)
    if "whole_frame" not in {b.name for b in asset.batch_definitions}:
        asset.add_batch_definition_whole_dataframe("whole_frame")
    return asset
