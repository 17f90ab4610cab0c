"""The workflow store's tables, as workflows/tables.py declares them at this revision."""

from __future__ import annotations

from alembic import op

from workflows.tables import metadata

revision = "w0001"
down_revision = None


def upgrade() -> None:
    """Create the wf_* tables."""
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    """Drop the wf_* tables."""
    metadata.drop_all(op.get_bind())
