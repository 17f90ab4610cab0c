"""The ledger engine: declared ledgers (台账) in YAML, checked values, a sealed and versioned relational store."""
