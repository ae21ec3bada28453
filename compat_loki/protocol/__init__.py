"""Wire formats of the log store: Loki push bodies (pure, no I/O)."""
