"""Opening the ledger store of a process at start: engine, declarations, schema check, sealing key, gazetteer."""

from __future__ import annotations

import logging
from typing import Any

from core.access import User
from core.gazetteer import Gazetteer, load_gazetteer
from core.personal import Sealer
from core.settings import Settings
from ledgers.loader import load_ledgers
from ledgers.migrate import prepare
from ledgers.store import Audit, LedgerStore, master_key, open_engine

log = logging.getLogger(__name__)
# the account loaders (demo data) write as: county-wide, with every duty a declaration may ask for writes
SYSTEM = User(username="system", name="系统", level="county", duties=["officer", "operator", "admin"])


def log_audit(user: User, action: str, target: str, ok: bool, detail: dict[str, Any]) -> None:
    """An audit sink that only logs (for command-line tools and loaders without a Redis)."""
    log.info("ledger audit user=%s action=%s target=%s ok=%s", user.username, action, target, ok)


def open_store(settings: Settings, audit: Audit | None = None, gazetteer: Gazetteer | None = None) -> LedgerStore:
    """The configured store, its tables brought to the declarations; MigrationNeeded stops a start that can't."""
    engine = open_engine(settings)
    try:
        ledgers = load_ledgers(settings.records.ledgers_dir)
        prepare(engine, ledgers)
    except BaseException:
        engine.dispose()
        raise
    return LedgerStore(engine, ledgers, Sealer(master_key(settings)), gazetteer or load_gazetteer(), audit or log_audit)
