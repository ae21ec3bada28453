"""Shared plumbing of the three flowmon services; knows no wire protocol."""
