"""The assets the DAGs produce and consume: one per register's raw table, and the latest release."""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias

from workhealth.core.registers import REGISTERS

#: Ingestion adds events through this alias, only for the registers a delivery actually changed.
RAW_REGISTERS_ALIAS = AssetAlias("workhealth_raw_registers")


def raw_asset(register: str) -> Asset:
    """The asset for ``raw.<register>`` in the warehouse (the same name as the register everywhere)."""
    return Asset(name=f"raw.{register}", uri=f"workhealth://warehouse/raw/{register}", group="raw")


RAW_ASSETS = {name: raw_asset(name) for name in REGISTERS}

#: The newest indicator release (OUT/releases/latest), updated by build_marts' ``publish`` task.
RELEASE_ASSET = Asset(name="releases.latest", uri="workhealth://releases/latest", group="releases")

#: The evaluation's results in the warehouse (schema ``evaluation`` and ``marts.fct_evaluation_cohort``),
#: updated by build_marts' ``evaluate`` task.
EVALUATION_ASSET = Asset(name="evaluation.effects", uri="workhealth://warehouse/evaluation/effects",
                         group="evaluation")
