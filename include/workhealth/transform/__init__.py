"""The transform stage: the dbt build of the marts, run as one ``dbt build`` in a subprocess."""

from workhealth.transform.dbt import DbtResult, NodeResult, build, dbt

__all__ = ["DbtResult", "NodeResult", "build", "dbt"]
