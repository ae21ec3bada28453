"""The log store: SPEC §5 plus Loki's push and query API (port 5011)."""
