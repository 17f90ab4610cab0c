"""The notices the steps queued (wf_outbox): an applicant's messages on the phone, the host's delivery."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Engine

from workflows.tables import outbox


@dataclass(frozen=True)
class Message:
    """One notice to an account: when, about which application, what it says."""

    at: int
    instance_id: str
    text: str


def messages_for(engine: Engine, username: str, limit: int = 50) -> list[Message]:
    """An account's notices, newest first (the 消息 list of the phone end)."""
    q = (sa.select(outbox.c.at, outbox.c.instance_id, outbox.c.text).where(outbox.c.to_user == username)
         .order_by(outbox.c.id.desc()).limit(limit))  # fmt: skip
    with engine.connect() as conn:
        return [Message(r.at, r.instance_id, r.text) for r in conn.execute(q)]
