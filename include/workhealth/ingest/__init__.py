"""The ingest stage: checking register deliveries from the inbox and loading them into raw (or refusing them)."""
