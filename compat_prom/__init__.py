"""The metrics collector: SPEC §6 plus Prometheus remote-write and query API (port 5012)."""
