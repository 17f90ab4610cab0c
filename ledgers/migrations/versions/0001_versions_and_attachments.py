"""The fixed tables of the ledger store: record versions and attachments."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    """Create ledger_versions and ledger_attachments."""
    op.create_table(
        "ledger_versions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("ledger", sa.String(40), nullable=False),
        sa.Column("record_id", sa.String(24), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("by_user", sa.String(64), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("diff", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_ledger_versions_record", "ledger_versions", ["ledger", "record_id", "version"])
    op.create_table(
        "ledger_attachments",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("ledger", sa.String(40), nullable=False),
        sa.Column("record_id", sa.String(24), nullable=True),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("by_user", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("ledger_attachments")
    op.drop_index("ix_ledger_versions_record", "ledger_versions")
    op.drop_table("ledger_versions")
