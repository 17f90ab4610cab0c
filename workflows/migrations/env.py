"""Alembic environment of the workflow store: runs on the connection the caller passes (no ini file)."""

from __future__ import annotations

from alembic import context

from workflows.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table="workflow_schema_version")
with context.begin_transaction():
    context.run_migrations()
