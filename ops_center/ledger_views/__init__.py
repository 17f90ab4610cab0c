"""The generic ledger pages' parts: list, record detail and form, import/export, statistics, per-ledger extras."""
