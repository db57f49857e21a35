"""The transform stage: the dbt build of the marts, run as one ``dbt build`` in a subprocess,
and the marts' data dictionary (``dbt docs generate --static``)."""

from workhealth.transform.dbt import DbtResult, NodeResult, build, data_dictionary, dbt

__all__ = ["DbtResult", "NodeResult", "build", "data_dictionary", "dbt"]
