"""`make demo`'s ledger records: a small share of the synthetic county (sim.population: the key villages' households
with their members, and their industry, emergency and organisation rows), written once through the store as the
system account; a store whose household ledger already holds records is left as it is. All of it is fictitious
and flagged 演示数据 (`synthetic`)."""

from __future__ import annotations

import logging

from sqlalchemy import select

from core.access import User
from core.gazetteer import Gazetteer
from ledgers.query import ListQuery, list_records
from ledgers.startup import SYSTEM
from ledgers.store import LedgerStore, Prepared
from sim.population import county

log = logging.getLogger(__name__)
HOUSEHOLDS = 1500  # over the key villages, ~300 each
BATCH = 2000  # records per transaction (a household and its members always share one)


def key_villages(gazetteer: Gazetteer) -> list[str]:
    """The key villages (重点村) of the gazetteer, in file order."""
    return [v.name for v in gazetteer.villages if "key" in v.roles]


def has_households(store: LedgerStore) -> bool:
    """Whether the household ledger holds any record (deleted ones too)."""
    table = store.tables["household"]
    with store.engine.connect() as conn:
        return conn.execute(select(table.c.id).limit(1)).first() is not None


def load_demo_records(store: LedgerStore, *, households: int = HOUSEHOLDS, seed: int = 0) -> dict[str, int]:
    """Write the demo share of the synthetic county once; records written per ledger ({} when already there)."""
    if "household" not in store.ledgers or has_households(store):
        return {}
    ids: dict[str, tuple[str, str, str]] = {}  # a row's code -> (record id, township, village)
    pending: list[Prepared] = []
    written: dict[str, int] = {}

    def flush() -> None:
        store.insert(SYSTEM, pending, action="import")
        for p in pending:
            written[p.ledger] = written.get(p.ledger, 0) + 1
        pending.clear()

    for row in county(seed, households, key_villages(store.gazetteer)):
        if row.ledger not in store.ledgers:
            continue
        if row.parent is not None:
            parent_id, township, village = ids[row.parent]
            pending.append(store.prepare(SYSTEM, row.ledger, row.values, parent_id=parent_id,
                                         parent_place=(township, village)))  # fmt: skip
            continue
        if len(pending) >= BATCH:  # only before a top-level row: its children follow it into the same batch
            flush()
        p = store.prepare(SYSTEM, row.ledger, row.values, village=row.village, township=row.township)
        ids[row.code] = (p.id, p.township, p.village)
        pending.append(p)
    if pending:
        flush()
    log.info("demo ledger records written: %s", written)
    return written


def demo_villager(store: LedgerStore, village: str = "狼岔坝村") -> tuple[str, str] | None:
    """(name, phone) of a synthetic villager who may apply for 劳务补贴 on the phone end: a 脱贫户 or 监测户 member
    with a phone and ≥ 3 months' work away; None when the demo data has none."""
    officer = User(username="demo", name="演示", level="village", duties=["officer"], township=store.place(village)[0],
                   village=village)  # fmt: skip
    for status in ("脱贫户", "监测户"):
        q = ListQuery(filters={"poverty_status": status}, village=village, size=100)
        for hh in list_records(store, SYSTEM, "household", q).rows:
            members = list_records(store, officer, "member", ListQuery(parent_id=hh.id, size=20)).rows
            for m in members:
                if m.values.get("phone") and (m.values.get("work_months") or 0) >= 3:
                    return str(m.values.get("name")), str(m.values["phone"])
    return None
