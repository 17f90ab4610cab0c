"""The workflow store's tables: definitions, instances, steps, command keys, the outbox and issued documents."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

definitions = sa.Table(
    "wf_definitions",
    metadata,
    sa.Column("definition", sa.String(16), primary_key=True),
    sa.Column("item", sa.String(40), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the declaration as JSON: old applications keep their rules
    sa.Column("first_seen", sa.BigInteger, nullable=False),
)
instances = sa.Table(
    "wf_instances",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("item", sa.String(40), nullable=False),
    sa.Column("definition", sa.String(16), nullable=False),
    sa.Column("township", sa.String(20), nullable=False),
    sa.Column("village", sa.String(20), nullable=False),
    sa.Column("applicant", sa.String(64), nullable=False),
    sa.Column("state", sa.String(40), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("overdue", sa.Boolean, nullable=False),
    sa.Column("batch", sa.String(32), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("due_at", sa.BigInteger, nullable=True),  # the next timer (公示 end, SLA), indexed for the host
    sa.Column("body", sa.LargeBinary, nullable=False),  # the whole instance, sealed (its form holds personal data)
    sa.Index("ix_wf_instances_item_state", "item", "state"),
    sa.Index("ix_wf_instances_village", "township", "village"),
    sa.Index("ix_wf_instances_applicant", "applicant"),
    sa.Index("ix_wf_instances_due", "due_at"),
    sa.Index("ix_wf_instances_batch", "batch"),
)
steps = sa.Table(
    "wf_steps",
    metadata,
    sa.Column("instance_id", sa.String(32), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("duty", sa.String(16), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),  # the step, sealed (opinions may name people)
)
commands = sa.Table(
    "wf_commands",
    metadata,
    sa.Column("key", sa.String(120), primary_key=True),  # the idempotency key: a repeat finds its first result
    sa.Column("instance_id", sa.String(32), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("result", sa.Text, nullable=False),
)
outbox = sa.Table(
    "wf_outbox",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("instance_id", sa.String(32), nullable=False),
    sa.Column("to_user", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("sent_at", sa.BigInteger, nullable=True),
    sa.Index("ix_wf_outbox_unsent", "sent_at", "id"),
)
documents = sa.Table(
    "wf_documents",
    metadata,
    sa.Column("code", sa.String(16), primary_key=True),
    sa.Column("instance_id", sa.String(32), nullable=False, unique=True),
    sa.Column("item", sa.String(40), nullable=False),
    sa.Column("title", sa.String(60), nullable=False),
    sa.Column("issued_to", sa.String(40), nullable=False),  # masked name
    sa.Column("township", sa.String(20), nullable=False),
    sa.Column("village", sa.String(20), nullable=False),
    sa.Column("issued_at", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("pdf", sa.LargeBinary, nullable=False),
)
