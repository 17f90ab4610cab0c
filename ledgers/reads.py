"""Reads the ledger pages need beside ledgers.query: record counts per ledger in an area, a deleted record too."""

from __future__ import annotations

from sqlalchemy import false, func, select

from core.access import User
from ledgers.query import area
from ledgers.store import LedgerStore, NotFound, Record
from ledgers.values import record_id_ok


def counts(store: LedgerStore, user: User, keys: list[str]) -> dict[str, int]:
    """How many undeleted records each of these ledgers holds in the user's area (duty not checked here)."""
    out: dict[str, int] = {}
    with store.engine.connect() as conn:
        for key in keys:
            table = store.tables[key]
            stmt = select(func.count()).select_from(table).where(area(table, user), table.c.deleted == false())
            out[key] = int(conn.scalar(stmt) or 0)
    return out


def fetch(store: LedgerStore, user: User, key: str, rid: str) -> Record:
    """A record the user may read; a deleted one too for an account that may restore it (scope checked, audited)."""
    ledger = store.ledger(key)
    if not store.may(user, ledger, "restore"):
        return store.get(user, key, rid)
    store.require(user, ledger, "read", rid)
    if not record_id_ok(rid):
        raise NotFound("记录编号格式不正确")
    table = store.tables[key]
    with store.engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.id == rid)).first()
    return store.view(user, ledger, store.visible(user, ledger, row, rid, "restore"))
