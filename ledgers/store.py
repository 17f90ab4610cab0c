"""The ledger store: records checked, scoped by place and duty, sealed, versioned; every refusal and every
unmasked view goes to the audit sink. Synchronous SQLAlchemy (callers in an event loop use a thread)."""

from __future__ import annotations

import copy
import datetime as dt
import logging
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, update

from core.access import AccessDenied, User, can, in_scope, sees_personal
from core.clock import BEIJING
from core.events import now_ms
from core.gazetteer import Gazetteer
from core.personal import Sealer
from core.settings import Settings
from ledgers.codec import Codec
from ledgers.loader import LedgerSet
from ledgers.schema import Ledger
from ledgers.tables import ledger_metadata, versions
from ledgers.values import RecordInvalid, check_record, check_values, record_id_ok

log = logging.getLogger(__name__)
Audit = Callable[[User, str, str, bool, dict[str, Any]], None]  # user, action, target, ok, detail
ACTION_ZH = {"read": "查看", "write": "修改", "export": "导出", "restore": "恢复"}


class StaleEdit(ValueError):
    """The record changed since it was opened: the edit is refused so nobody's change is lost (Chinese)."""


class NotFound(LookupError):
    """No such record in the account's area (one message for both, so the area's edges don't leak)."""


@dataclass(frozen=True)
class Record:
    """One record as a viewer may see it: system columns, values (personal ones masked unless `masked` is empty)."""

    ledger: str
    id: str
    township: str
    village: str
    parent_id: str | None
    version: int
    deleted: bool
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str
    values: dict[str, Any]
    masked: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Prepared:
    """A checked new record, ready to insert (used by imports to check a whole file before writing any of it)."""

    ledger: str
    id: str
    township: str
    village: str
    parent_id: str | None
    values: dict[str, Any]


def open_engine(settings: Settings) -> Engine:
    """The engine of the configured store: DATABASE_URL, or SQLite (WAL) under var/records/."""
    if settings.database_url:
        return create_engine(settings.database_url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    path = settings.var_dir / "records" / "ledgers.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(conn: Any, _: Any) -> None:
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def master_key(settings: Settings) -> bytes:
    """The records master secret: from settings, else var/records/master.key (created once, random, mode 0600)."""
    if settings.records.master_key is not None:
        return settings.records.master_key.get_secret_value().encode()
    path: Path = settings.var_dir / "records" / "master.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


class LedgerStore:
    """Every read and write of ledger records, checked on the server for the UI and every API alike."""

    def __init__(
        self, engine: Engine, ledgers: LedgerSet, sealer: Sealer, gazetteer: Gazetteer, audit: Audit,
        clock: Callable[[], int] = now_ms,
    ) -> None:  # fmt: skip
        self.engine, self.ledgers, self.gazetteer, self.audit, self.clock = engine, ledgers, gazetteer, audit, clock
        self.metadata, self.tables = ledger_metadata(ledgers)
        self.codecs = {key: Codec(lg, sealer) for key, lg in ledgers.ledgers.items()}
        self.modules = {key: ledgers.module(key) for key in ledgers.ledgers}

    def with_audit(self, audit: Audit) -> LedgerStore:
        """The same store reporting to another audit sink (one that knows a session's address, say)."""
        other = copy.copy(self)
        other.audit = audit
        return other

    # --- access -------------------------------------------------------------------------------------------------

    def today(self) -> dt.date:
        """Today in Beijing time, by the store's clock."""
        return dt.datetime.fromtimestamp(self.clock() / 1000, BEIJING).date()

    def ledger(self, key: str) -> Ledger:
        """The declared ledger; NotFound for an unknown key."""
        if key not in self.ledgers:
            raise NotFound(f"没有名为“{key[:40]}”的台账")
        return self.ledgers[key]

    def may(self, user: User, ledger: Ledger, action: str) -> bool:
        """Whether the user's duties allow an action (read, write, export, restore) on a ledger at all."""
        if action == "restore":
            return can(user, "restore")
        allowed = getattr(ledger.access, action)
        return any(d in allowed for d in user.duties)

    def require(self, user: User, ledger: Ledger, action: str, target: str = "") -> None:
        """AccessDenied (audited) unless the user's duties allow the action on the ledger."""
        if not self.may(user, ledger, action):
            self.denied(user, ledger, action, target or ledger.ledger, "duty")
            raise AccessDenied(f"您无权{ACTION_ZH.get(action, action)}“{ledger.title}”")

    def denied(self, user: User, ledger: Ledger, action: str, target: str, reason: str) -> None:
        """Audit a refusal."""
        self.audit(user, "ledger_denied", f"{ledger.ledger}/{target}", False, {"action": action, "reason": reason})

    def place(self, village: str, township: str = "") -> tuple[str, str]:
        """(township, village) of a gazetteer village; RecordInvalid when there is no such village."""
        try:
            v = self.gazetteer.village(village, township or None)
        except KeyError:
            raise RecordInvalid({"village": f"舟曲县没有“{township}{village}”这个村"}) from None
        return v.township, v.name

    def check_whole(self, ledger: Ledger, values: dict[str, Any]) -> None:
        """The declared cross-field checks, then the ledger module's own `validate`, if it has one; RecordInvalid."""
        check_record(ledger, values)
        module = self.modules.get(ledger.ledger)
        problems = module.validate(values) if module is not None and hasattr(module, "validate") else {}
        if problems:
            raise RecordInvalid(problems)

    # --- reads --------------------------------------------------------------------------------------------------

    def _row(self, conn: Connection, ledger: Ledger, rid: str, *, for_update: bool = False) -> Any:
        if not record_id_ok(rid):
            raise NotFound("记录编号格式不正确")
        table = self.tables[ledger.ledger]
        stmt = select(table).where(table.c.id == rid)
        return conn.execute(stmt.with_for_update() if for_update else stmt).first()

    def view(self, user: User, ledger: Ledger, row: Any, *, audited: bool = False) -> Record:
        """A stored row as this user may see it; an unmasked personal value is audited (unless `audited` already)."""
        m = row._mapping
        codec = self.codecs[ledger.ledger]
        values = codec.values(row)
        masked: frozenset[str] = frozenset()
        personal = [f.key for f in ledger.fields if f.personal and values.get(f.key) is not None]
        if personal and sees_personal(user, m["township"], m["village"]):
            if not audited:
                self.audit(user, "ledger_personal_view", f"{ledger.ledger}/{m['id']}", True, {"fields": personal})
        elif personal:
            values, masked = codec.masked(values), frozenset(personal)
        return Record(ledger.ledger, m["id"], m["township"], m["village"], m["parent_id"], m["version"], m["deleted"],
                      m["created_at"], m["created_by"], m["updated_at"], m["updated_by"], values, masked)  # fmt: skip

    def visible(self, user: User, ledger: Ledger, row: Any, rid: str, action: str) -> Any:
        """The row if it exists, is not deleted (unless restoring) and lies in the user's area; NotFound else."""
        if row is None or (row.deleted and action != "restore") or not in_scope(user, row.township, row.village):
            self.denied(user, ledger, action, rid, "scope" if row is not None else "missing")
            raise NotFound(f"未找到记录 {rid},或该记录不在您的管辖范围内")
        return row

    def locate(self, user: User, key: str, rid: str, *, deleted: bool = False) -> Any:
        """The stored row of a record the user may read (scope checked, refusals audited); with `deleted`, a
        deleted record too for an account that may restore it."""
        ledger = self.ledger(key)
        self.require(user, ledger, "read", rid)
        action = "restore" if deleted and self.may(user, ledger, "restore") else "read"
        with self.engine.connect() as conn:
            return self.visible(user, ledger, self._row(conn, ledger, rid), rid, action)

    def get(self, user: User, key: str, rid: str, *, deleted: bool = False) -> Record:
        """One record the user may read (with `deleted`, as `locate`), masked as the user needs."""
        return self.view(user, self.ledger(key), self.locate(user, key, rid, deleted=deleted))

    # --- writes -------------------------------------------------------------------------------------------------

    def prepare(
        self, user: User, key: str, raw: dict[str, Any], *, village: str = "", township: str = "",
        parent_id: str | None = None, parent_place: tuple[str, str] | None = None,
    ) -> Prepared:  # fmt: skip
        """Check a new record whole (values, cross-field checks, place, parent, scope) without writing it.
        `parent_place` (township, village) stands for a parent prepared in the same batch, not yet stored."""
        ledger = self.ledger(key)
        self.require(user, ledger, "write")
        values = check_values(ledger, raw, today=self.today(), gazetteer=self.gazetteer)
        self.check_whole(ledger, values)
        if ledger.parent:
            if not parent_id:
                raise RecordInvalid({"parent_id": f"须指定所属的{self.ledgers[ledger.parent].title}记录"})
            if parent_place is not None:
                township, village = parent_place
            else:
                parent = self.ledgers[ledger.parent]
                with self.engine.connect() as conn:
                    prow = self.visible(user, parent, self._row(conn, parent, parent_id), parent_id, "write")
                township, village = prow.township, prow.village
        else:
            township, village = self.place(village, township)
        if not in_scope(user, township, village):
            self.denied(user, ledger, "write", f"{township}/{village}", "scope")
            raise AccessDenied(f"{township}{village}不在您的管辖范围内")
        rid = f"{ledger.prefix}-{secrets.token_hex(6)}"
        return Prepared(key, rid, township, village, parent_id if ledger.parent else None, values)

    def insert(self, user: User, items: Iterable[Prepared], *, ip: str = "", action: str = "create") -> int:
        """Write prepared records and their first versions in one transaction; returns how many."""
        now, n = self.clock(), 0
        by_ledger: dict[str, list[Prepared]] = {}
        for p in items:
            by_ledger.setdefault(p.ledger, []).append(p)
        with self.engine.begin() as conn:
            for key in sorted(by_ledger, key=lambda k: self.ledgers[k].parent is not None):  # parents first
                rows, vers = [], []
                codec = self.codecs[key]
                for p in by_ledger[key]:
                    rows.append({"id": p.id, "township": p.township, "village": p.village, "parent_id": p.parent_id,
                                 "version": 1, "deleted": False, "created_at": now, "created_by": user.username,
                                 "updated_at": now, "updated_by": user.username,
                                 **codec.columns(p.values)})  # fmt: skip
                    after = {k: v for k, v in p.values.items() if v is not None}
                    vers.append({"ledger": key, "record_id": p.id, "version": 1, "action": action, "at": now,
                                 "by_user": user.username, "ip": ip, "diff": codec.seal_diff({}, after)})  # fmt: skip
                self._check_refs(conn, key, [p.values for p in by_ledger[key]], {p.id for ps in by_ledger.values()
                                                                                    for p in ps})  # fmt: skip
                conn.execute(insert(self.tables[key]), rows)
                conn.execute(insert(versions), vers)
                n += len(rows)
        for key, ps in by_ledger.items():
            target = f"{key}/{ps[0].id}" if len(ps) == 1 else f"{key}/{len(ps)}"
            self.audit(user, f"ledger_{action}", target, True, {"records": len(ps)})
        return n

    def _check_refs(self, conn: Connection, key: str, values: list[dict[str, Any]], new_ids: set[str]) -> None:
        """Every ref value names an existing, undeleted record of its ledger (or one written in this batch)."""
        for spec in self.ledgers[key].fields:
            if spec.type != "ref" or spec.ledger is None:
                continue
            wanted = {v[spec.key] for v in values if v.get(spec.key)} - new_ids
            if not wanted:
                continue
            table = self.tables[spec.ledger]
            found = set(conn.scalars(select(table.c.id).where(table.c.id.in_(wanted), table.c.deleted.is_(False))))
            if wanted - found:
                missing = sorted(wanted - found)[0]
                raise RecordInvalid({spec.key: f"引用的{self.ledgers[spec.ledger].title}记录 {missing} 不存在"})

    def create(self, user: User, key: str, raw: dict[str, Any], *, village: str = "", township: str = "",
               parent_id: str | None = None, ip: str = "") -> Record:  # fmt: skip
        """Add one record; returns it as the user sees it."""
        p = self.prepare(user, key, raw, village=village, township=township, parent_id=parent_id)
        self.insert(user, [p], ip=ip)
        return self.get(user, key, p.id)

    def update(self, user: User, key: str, rid: str, raw: dict[str, Any], *, version: int, ip: str = "") -> Record:
        """Change some fields of a record opened at `version`; StaleEdit if it changed since, nothing written."""
        ledger = self.ledger(key)
        self.require(user, ledger, "write", rid)
        changes = check_values(ledger, raw, today=self.today(), gazetteer=self.gazetteer, partial=True)
        with self.engine.begin() as conn:
            row = self.visible(user, ledger, self._row(conn, ledger, rid, for_update=True), rid, "write")
            codec = self.codecs[key]
            current = codec.values(row)
            self.check_whole(ledger, {**current, **changes})
            self._check_refs(conn, key, [changes], set())
            before = {k: current[k] for k in changes if current[k] != changes[k]}
            after = {k: changes[k] for k in before}
            self._write(conn, user, ledger, row, version, "update", codec.columns(after), before, after, ip)
        return self.get(user, key, rid)

    def _write(self, conn: Connection, user: User, ledger: Ledger, row: Any, version: int, action: str,
               cols: dict[str, Any], before: dict[str, Any], after: dict[str, Any], ip: str) -> None:  # fmt: skip
        """Bump the version if it is still `version` (else StaleEdit), write the columns and the version row."""
        if row.version != version:
            raise StaleEdit(f"记录 {row.id} 已被 {row.updated_by} 修改(第{row.version}版),请刷新后重新编辑")
        table, now = self.tables[ledger.ledger], self.clock()
        done = conn.execute(update(table).where(table.c.id == row.id, table.c.version == version).values(
            version=version + 1, updated_at=now, updated_by=user.username, **cols))  # fmt: skip
        if done.rowcount != 1:
            raise StaleEdit(f"记录 {row.id} 刚被他人修改,请刷新后重新编辑")
        conn.execute(insert(versions).values(
            ledger=ledger.ledger, record_id=row.id, version=version + 1, action=action, at=now,
            by_user=user.username, ip=ip, diff=self.codecs[ledger.ledger].seal_diff(before, after)))  # fmt: skip
        self.audit(user, f"ledger_{action}", f"{ledger.ledger}/{row.id}", True, {"fields": sorted(after)})

    def delete(self, user: User, key: str, rid: str, *, version: int, ip: str = "") -> None:
        """Mark a record deleted (its data and history stay; an admin can restore it)."""
        ledger = self.ledger(key)
        self.require(user, ledger, "write", rid)
        with self.engine.begin() as conn:
            row = self.visible(user, ledger, self._row(conn, ledger, rid, for_update=True), rid, "write")
            self._write(conn, user, ledger, row, version, "delete", {"deleted": True}, {}, {}, ip)

    def restore(self, user: User, key: str, rid: str, *, ip: str = "") -> Record:
        """Bring a deleted record back (admins only)."""
        ledger = self.ledger(key)
        self.require(user, ledger, "restore", rid)
        with self.engine.begin() as conn:
            row = self.visible(user, ledger, self._row(conn, ledger, rid, for_update=True), rid, "restore")
            if not row.deleted:
                raise RecordInvalid({"": "该记录未被删除"})
            self._write(conn, user, ledger, row, row.version, "restore", {"deleted": False}, {}, {}, ip)
        return self.get(user, key, rid)
