"""Operating the platform: the Airflow runner and supervisor, and the read-only SQL tool."""
