"""Wire formats of the error tracker: pure functions, no I/O (CONVENTIONS §2)."""
