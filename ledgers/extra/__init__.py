"""Ledger modules: what a declared ledger adds beyond its YAML (extra checks, views), found by name."""
