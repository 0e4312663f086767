"""Frozen value types and pure functions; standard library only (plus PyYAML for files)."""
