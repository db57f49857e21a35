"""Airflow-only glue for workhealth: assets, default task arguments, task bodies that translate
workhealth results into Airflow outcomes. The real logic lives in the ``workhealth`` package."""
