"""Reads the ledger pages need beside ledgers.query: record counts per ledger in an area, a deleted record."""

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


def deleted(store: LedgerStore, user: User, key: str, rid: str) -> Record:
    """A deleted record, for an account that may restore it (scope checked and refusals audited by the store)."""
    ledger = store.ledger(key)
    store.require(user, ledger, "restore", rid)
    if not record_id_ok(rid):
        raise NotFound("记录编号格式不正确")
    table = store.tables[key]
    with store.engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.id == rid)).first()
    row = store.visible(user, ledger, row, rid, "restore")
    if not row.deleted:
        raise NotFound(f"记录 {rid} 未被删除")
    return store.view(user, ledger, row)
