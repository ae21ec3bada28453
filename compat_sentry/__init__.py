"""The error tracker: SPEC §4 plus Sentry's ingest protocol (port 5010)."""
