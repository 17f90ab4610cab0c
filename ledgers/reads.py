"""Reads the ledger pages need beside ledgers.query: record counts per ledger in an area."""

from __future__ import annotations

from sqlalchemy import false, func, select

from core.access import User
from ledgers.query import area
from ledgers.store import LedgerStore


def counts(store: LedgerStore, user: User, keys: list[str]) -> dict[str, int]:
    """How many undeleted records each of these ledgers holds in the user's area (duty not checked here)."""
    out: dict[str, int] = {}
    with store.engine.connect() as conn:
        for key in keys:
            table = store.tables[key]
            stmt = select(func.count()).select_from(table).where(area(table, user), table.c.deleted == false())
            out[key] = int(conn.scalar(stmt) or 0)
    return out

