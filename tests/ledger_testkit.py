"""Ledger-store test kit: accounts of every level and duty, a store on SQLite or a real PostgreSQL, audit capture."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from adapters.postgres_server import PostgresServer
from core.access import User
from core.gazetteer import load_gazetteer
from core.personal import Sealer, id_check_digit
from ledgers.loader import load_ledgers
from ledgers.migrate import prepare
from ledgers.store import LedgerStore

KEY = b"zhouqu-test-records-master-key-0123456789"
# village A: 狼岔坝村 in 大川镇; village B: 杰迪村 in 立节镇 (two key villages of different townships)
TOWNSHIP_A, VILLAGE_A, TOWNSHIP_B, VILLAGE_B = "大川镇", "狼岔坝村", "立节镇", "杰迪村"
OFFICER_A = User(username="officer_a", name="狼岔坝村干部", level="village", duties=["officer"],
                 township=TOWNSHIP_A, village=VILLAGE_A)  # fmt: skip
OFFICER_B = User(username="officer_b", name="杰迪村干部", level="village", duties=["officer"],
                 township=TOWNSHIP_B, village=VILLAGE_B)  # fmt: skip
TOWNSHIP_OP_A = User(username="op_a", name="大川镇值班员", level="township", duties=["operator"], township=TOWNSHIP_A)
TOWNSHIP_OP_B = User(username="op_b", name="立节镇值班员", level="township", duties=["operator"], township=TOWNSHIP_B)
COUNTY_OP = User(username="county_op", name="县值班员", level="county", duties=["operator"])
COUNTY_ADMIN = User(username="county_admin", name="县管理员", level="county", duties=["admin"])
_counter = itertools.count()


@dataclass
class AuditLog:
    """What a store reported to its audit sink, in order."""

    records: list[tuple[str, str, str, bool, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, user: User, action: str, target: str, ok: bool, detail: dict[str, Any]) -> None:
        self.records.append((user.username, action, target, ok, detail))

    def actions(self, action: str) -> list[tuple[str, str, str, bool, dict[str, Any]]]:
        """The records of one action."""
        return [r for r in self.records if r[1] == action]


def fresh_database(server: PostgresServer) -> str:
    """A new, empty database on the test server; its SQLAlchemy URL."""
    name = f"t{next(_counter)}"
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.url.rsplit("/", 1)[0] + "/" + name


def open_store(url: str, decl: Path | None = None, clock: Callable[[], int] | None = None
               ) -> tuple[LedgerStore, AuditLog]:  # fmt: skip
    """A migrated store on `url` over the declarations in `decl` (default ledgers/default)."""
    engine = sa.create_engine(url)
    ledgers = load_ledgers(decl)
    prepare(engine, ledgers)
    log = AuditLog()
    extra = {"clock": clock} if clock else {}
    return LedgerStore(engine, ledgers, Sealer(KEY), load_gazetteer(), log, **extra), log


def sqlite_url(directory: Path) -> str:
    """A SQLite file store under a directory."""
    return f"sqlite:///{directory / 'ledgers.db'}"




def id_number(serial: int, birth: str = "19800101") -> str:
    """A valid synthetic 舟曲 ID number."""
    first = f"623023{birth}{serial:03d}"
    return first + id_check_digit(first)


def household(serial: int, **extra: Any) -> dict[str, Any]:
    """The values of a valid household."""
    return {"head_name": f"测试户主{serial}", "head_id_number": id_number(serial), "phone": f"1390941{serial:04d}",
            "size": 4, "poverty_status": "脱贫户", "labourers": 2, "house_location": "104.23,33.75",
            **extra}  # fmt: skip
