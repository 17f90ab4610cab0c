"""Alembic environment of the ledger store: runs on the connection the caller passes (no ini file)."""

from __future__ import annotations

from alembic import context

from ledgers.tables import fixed

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=fixed, version_table="ledger_schema_version")
with context.begin_transaction():
    context.run_migrations()
