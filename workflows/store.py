"""Applications on the records store: each action one transaction (lock, re-derive, version check, step, outbox)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.config import Config
from sqlalchemy import Connection, Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.access import User, in_scope
from core.clock import local_time
from core.events import now_ms
from core.personal import Sealer
from core.settings.workflows import WorkflowSettings
from ledgers.query import ListQuery, list_records
from ledgers.startup import SYSTEM
from ledgers.store import Audit, LedgerStore, NotFound
from ledgers.values import RecordInvalid, check_values
from workflows import documents, engine
from workflows.codec import InstanceCodec, encode
from workflows.engine import Command, Instance, Refused, Result, Step
from workflows.facts import facts_of
from workflows.loader import ItemSet
from workflows.schema import OBJECT, Item
from workflows.tables import commands, definitions, instances, outbox, steps

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_Audit = tuple[User, str, str, bool, dict[str, Any]]  # an audit record held until its transaction ends
# statements built once, values bound per call (building them with literal values cost more than running them)
_READ = sa.select(instances).where(instances.c.id == sa.bindparam("b_id"))
_LOCK = _READ.with_for_update()
_UPDATE = instances.update().where(
    instances.c.id == sa.bindparam("b_id"), instances.c.version == sa.bindparam("b_seen")
)
_INSERT, _STEP = instances.insert(), steps.insert()
_CLAIM_SQLITE, _CLAIM_PG = (
    dialect(commands).on_conflict_do_nothing(index_elements=["key"]).returning(commands.c.key)
    for dialect in (sqlite_insert, pg_insert)
)
_UNCLAIM = commands.delete().where(commands.c.key == sa.bindparam("b_key"))
_RECORD = commands.update().where(commands.c.key == sa.bindparam("b_key"))
RETRIES = 5  # optimistic retries when another writer moved the instance between our read and our write


@dataclass(frozen=True)
class Applied:
    """The outcome of a command: the instance after it, or the refusal; `repeat` when its key was already used."""

    instance_id: str
    ok: bool
    state: str = ""
    version: int = 0
    reason: str = ""
    kind: str = ""
    repeat: bool = False


class WorkflowStore:
    """Every read and write of applications, checked on the server for the UI, the phone ends and the host alike."""

    def __init__(
        self,
        engine_: Engine,
        items: ItemSet,
        ledgers: LedgerStore,
        sealer: Sealer,
        settings: WorkflowSettings,
        audit: Audit,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.engine, self.items, self.ledgers, self.settings = engine_, items, ledgers, settings
        self.audit, self.clock, self.codec = audit, clock, InstanceCodec(sealer)
        self._definitions: dict[str, Item] = {i.definition: i for i in items.items.values()}

    def prepare(self) -> None:
        """Tables to the newest revision; every current definition recorded, so old applications keep theirs."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            alembic_command.upgrade(cfg, "head")
        with self.engine.begin() as conn:
            known = set(conn.execute(sa.select(definitions.c.definition)).scalars())
            rows = [
                {
                    "definition": i.definition,
                    "item": i.item,
                    "body": i.model_dump_json(by_alias=True),
                    "first_seen": self.clock(),
                }
                for i in self.items.items.values()
                if i.definition not in known
            ]
            if rows:
                conn.execute(definitions.insert(), rows)

    # --- declarations ---------------------------------------------------------------------------------------------

    def item(self, key: str) -> Item:
        """The current declaration of an item; NotFound for an unknown key."""
        if key not in self.items:
            raise NotFound(f"没有名为“{key[:40]}”的事项")
        return self.items[key]

    def definition(self, digest: str) -> Item:
        """The declaration an application was pinned to (read from the store when it is no longer current)."""
        if digest not in self._definitions:
            with self.engine.connect() as conn:
                body = conn.execute(sa.select(definitions.c.body).where(definitions.c.definition == digest)).scalar()
            if body is None:
                raise NotFound(f"事项定义 {digest} 不存在")
            self._definitions[digest] = Item.model_validate_json(body)
        return self._definitions[digest]

    def enabled(self, key: str, village: str) -> bool:
        """Whether a village runs an item (settings: the item's own list, else the list for every item)."""
        villages = self.settings.villages.get(key, self.settings.villages.get("*", []))
        return village in villages

    def items_for(self, village: str) -> list[Item]:
        """The items a village runs, in declaration order."""
        return [i for i in self.items.items.values() if self.enabled(i.item, village)]

    # --- applying -------------------------------------------------------------------------------------------------

    def facts(self, item: Item, form: dict[str, Any], user: User) -> dict[str, Any]:
        """Facts of the applicant from the 户情 ledger: found by the form's ID number, else by the account's phone."""
        member = household = None
        if item.household and "member" in self.ledgers.ledgers:
            look = ("id_number", str(form["id_number"])) if form.get("id_number") else None
            if look is None and user.username.startswith("c:"):
                look = ("phone", user.username[2:])
            rows = list_records(self.ledgers, SYSTEM, "member", ListQuery(lookup=look, size=1)).rows if look else []
            if rows:
                member = rows[0].values
                if rows[0].parent_id:
                    household = self.ledgers.get(SYSTEM, "household", rows[0].parent_id).values
        return facts_of(household, member, self.ledgers.today())

    def submit(
        self,
        user: User,
        key: str,
        raw: dict[str, Any],
        *,
        village: str,
        township: str = "",
        ip: str = "",
        idempotency: str = "",
        batch: str = "",
    ) -> Instance:
        """A new application, checked whole (form, enabled village, eligibility); Refused or RecordInvalid."""
        item = self.item(key)
        township, village = self.ledgers.place(village, township)
        if not self.enabled(key, village):
            raise Refused("invalid", f"{village}尚未开通“{item.title}”")
        form = check_values(item.form_ledger, raw, today=self.ledgers.today(), gazetteer=self.ledgers.gazetteer)
        self.ledgers.check_whole(item.form_ledger, form)
        module = self.items.module(key)
        problems = module.check(self, township, village, form) if module is not None else {}
        if problems:
            raise RecordInvalid(problems)
        facts = self.facts(item, form, user)
        now = self.clock()
        iid = f"{item.prefix}{local_time(now, '%Y%m%d')}{secrets.token_hex(4).upper()}"
        try:
            result = engine.open_application(
                item,
                user,
                id=iid,
                township=township,
                village=village,
                form=form,
                facts=facts,
                applicant_name=user.name,
                now=now,
                batch=batch,
            )
        except Refused as exc:
            self._refused(user, item.item, iid, "apply", exc)
            raise
        cmd_key = idempotency or f"apply:{iid}"
        with self.engine.begin() as conn:
            if not self._claim(conn, cmd_key, iid):
                row = self._row(conn, str(self._result(conn, cmd_key).get("instance_id", "")))
                if row is None or not self._may_see(user, row):
                    raise Refused("stale", "同一申请正在提交,请稍后刷新查看")
                return self.codec.open_instance(self.definition(row.definition), row.id, row.body)
            self._insert(conn, result, ip)
            self._record(conn, cmd_key, Applied(iid, True, result.instance.state, result.instance.version))
        self.audit(user, "wf_apply", f"{item.item}/{iid}", True, {"village": village})
        return result.instance

    def act(self, user: User, cmd: Command) -> Applied:
        """Apply one command in one transaction; a repeated key returns its first outcome and changes nothing."""
        for _ in range(RETRIES):
            notes: list[_Audit] = []
            with self.engine.begin() as conn:
                out = self._act_in(conn, user, cmd, notes)
            self._audit_all(notes)
            if out is not None:
                return out
        return Applied(cmd.instance_id, False, reason="该申请正被他人频繁办理,请稍后再试", kind="stale")

    def act_many(self, pairs: list[tuple[User, Command]]) -> list[Applied]:
        """Apply a batch of commands in one transaction (the host's round), each exactly as `act` would; a command
        that lost a race to another writer is retried on its own after the batch."""
        notes: list[_Audit] = []
        with self.engine.begin() as conn:
            outs = [self._act_in(conn, user, cmd, notes) for user, cmd in pairs]
        self._audit_all(notes)
        return [out if out is not None else self.act(user, cmd) for out, (user, cmd) in zip(outs, pairs, strict=True)]

    def _act_in(self, conn: Connection, user: User, cmd: Command, notes: list[_Audit]) -> Applied | None:
        """One command inside the caller's transaction: claim its key, lock and re-derive, write or refuse. A
        refusal writes nothing (its claim is taken back); None when another writer moved the instance first."""
        if not self._claim(conn, cmd.key, cmd.instance_id):
            first = self._result(conn, cmd.key)
            if first["instance_id"] not in ("", cmd.instance_id):
                return Applied(cmd.instance_id, False, reason="该指令编号已用于其他申请", kind="invalid")
            return Applied(**{**first, "repeat": True})
        row = self._row(conn, cmd.instance_id, lock=True)
        if row is None or not (self._may_see(user, row) or self._may_object(user, row, cmd.action)):
            self._unclaim(conn, cmd.key)
            notes.append((user, "wf_denied", cmd.instance_id, False, {"action": cmd.action, "reason": "scope"}))
            return Applied(cmd.instance_id, False, reason="没有这件申请,或不在您的管辖范围内", kind="access")
        item = self.definition(row.definition)
        inst = self.codec.open_instance(item, row.id, row.body)
        try:
            cmd = self._typed_values(item, cmd)
            result = engine.apply(item, inst, cmd, user, inst.version + 1, self.clock())
        except Refused as exc:
            self._unclaim(conn, cmd.key)
            if exc.kind == "access":
                notes.append((user, "wf_denied", f"{item.item}/{inst.id}", False,
                              {"action": cmd.action, "reason": exc.reason}))  # fmt: skip
            return Applied(inst.id, False, inst.state, inst.version, exc.reason, exc.kind)
        if not self._update(conn, result, inst.version, cmd.ip):
            self._unclaim(conn, cmd.key)  # moved by another writer since we read it: read again and re-derive
            return None
        out = Applied(inst.id, True, result.instance.state, result.instance.version)
        self._record(conn, cmd.key, out)
        notes.append((user, "wf_act", f"{item.item}/{inst.id}", True, {"action": cmd.action, "to": out.state}))
        return out

    def _audit_all(self, notes: list[_Audit]) -> None:
        """The audit records of committed (or refused) commands, after the transaction."""
        for user, action, target, ok, detail in notes:
            self.audit(user, action, target, ok, detail)

    def _typed_values(self, item: Item, cmd: Command) -> Command:
        """The form fields a command fills, checked and typed like the form (Refused with each field's reason)."""
        if not cmd.values:
            return cmd
        known = {f.key for f in item.form}
        try:
            given = {k: v for k, v in cmd.values.items() if k in known}
            today, gazetteer = self.ledgers.today(), self.ledgers.gazetteer
            typed = check_values(item.form_ledger, given, today=today, gazetteer=gazetteer, partial=True)
        except RecordInvalid as exc:
            raise Refused("invalid", "；".join(f"{item.field(k).label}:{v}" for k, v in exc.errors.items()),
                          exc.errors) from None  # fmt: skip
        return msgspec.structs.replace(cmd, values={**cmd.values, **typed})

    def run_due(self, now: int, limit: int = 500) -> list[Applied]:
        """Every timer due by `now` (公示 ends, SLA breaches), each once: its key names the instance and its version."""
        with self.engine.connect() as conn:
            due = (
                conn.execute(
                    sa.select(instances.c.id).where(instances.c.due_at <= now).order_by(instances.c.due_at).limit(limit)
                )
                .scalars()
                .all()
            )
        done = []
        for iid in due:
            with self.engine.begin() as conn:
                row = self._row(conn, iid, lock=True)
                if row is None:
                    continue
                item = self.definition(row.definition)
                inst = self.codec.open_instance(item, row.id, row.body)
                action = engine.due(item, inst, now)
                if action is None:  # not due after all (moved meanwhile): refresh its timer
                    conn.execute(instances.update().where(instances.c.id == iid).values(due_at=engine.next_due(inst)))
                    continue
                key = f"timer:{iid}:{inst.version}:{action}"
                if not self._claim(conn, key, iid):
                    continue
                result = engine.run_timer(item, inst, action, inst.version + 1, now)
                if not self._update(conn, result, inst.version, ""):
                    conn.rollback()
                    continue
                out = Applied(iid, True, result.instance.state, result.instance.version)
                self._record(conn, key, out)
                done.append(out)
        return done

    # --- reads ----------------------------------------------------------------------------------------------------

    def get(self, user: User, iid: str) -> tuple[Item, Instance]:
        """An application the user may see (staff of its area, or its applicant); NotFound otherwise (audited)."""
        with self.engine.connect() as conn:
            row = self._row(conn, iid)
        if row is None or not self._may_see(user, row):
            self.audit(user, "wf_denied", iid[:40], False, {"action": "read", "reason": "scope"})
            raise NotFound("没有这件申请,或不在您的管辖范围内")
        item = self.definition(row.definition)
        return item, self.codec.open_instance(item, row.id, row.body)

    def timeline(self, user: User, iid: str) -> list[Step]:
        """The application's steps, oldest first; its applicant sees them without internal opinions."""
        _, inst = self.get(user, iid)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(steps.c.seq, steps.c.body).where(steps.c.instance_id == iid).order_by(steps.c.seq)
            ).all()
        out = [self.codec.open_step(iid, r.seq, r.body) for r in rows]
        return engine.applicant_view(out) if user.username == inst.applicant or not user.duties else out

    def find(
        self,
        user: User,
        *,
        item: str = "",
        state: str = "",
        village: str = "",
        applicant: str = "",
        batch: str = "",
        open_only: bool = False,
        limit: int = 200,
    ) -> list[tuple[Item, Instance]]:
        """Applications the user may see that match, newest first."""
        q = sa.select(instances).order_by(instances.c.created_at.desc()).limit(limit)
        for col, value in (
            ("item", item),
            ("state", state),
            ("village", village),
            ("applicant", applicant),
            ("batch", batch),
        ):
            if value:
                q = q.where(instances.c[col] == value)
        if open_only:
            q = q.where(instances.c.outcome == "")
        if user.duties and user.level != "county":
            q = q.where(instances.c.township == user.township)
            if user.level == "village":
                q = q.where(instances.c.village == user.village)
        elif not user.duties:
            q = q.where(instances.c.applicant == user.username)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        out = []
        for r in rows:
            it = self.definition(r.definition)
            out.append((it, self.codec.open_instance(it, r.id, r.body)))
        return out

    def inbox(self, user: User) -> list[tuple[Item, Instance]]:
        """The open applications in the user's area on which they may act now."""
        now = self.clock()
        return [
            (i, x)
            for i, x in self.find(user, open_only=True, limit=1000)
            if any(t.action != "object" for t in engine.available(i, x, user, now))
        ]

    # --- internals ------------------------------------------------------------------------------------------------

    def _may_see(self, user: User, row: Any) -> bool:
        if row.applicant == user.username:
            return True
        return bool(user.duties) and in_scope(user, row.township, row.village)

    def _may_object(self, user: User, row: Any, action: str) -> bool:
        """A villager may file an objection to a 公示 of their own village (the engine checks the posting)."""
        return action == OBJECT and user.level == "village" and in_scope(user, row.township, row.village)

    def _row(self, conn: Connection, iid: str, *, lock: bool = False) -> Any:
        return conn.execute(_LOCK if lock else _READ, {"b_id": iid[:32]}).first()

    def _claim(self, conn: Connection, key: str, iid: str) -> bool:
        """Take the command key in this transaction; False when it was already used (a repeat).

        An upsert that does nothing on a taken key, not a savepoint: pysqlite commits a savepoint opened outside
        a transaction on release, so a refused or retried command would keep its key taken on SQLite."""
        values = {"key": key[:120], "instance_id": iid[:32], "at": self.clock(), "result": ""}
        claim = _CLAIM_PG if conn.dialect.name == "postgresql" else _CLAIM_SQLITE
        return conn.execute(claim, values).first() is not None  # psycopg reports no rowcount for this statement

    def _unclaim(self, conn: Connection, key: str) -> None:
        """Give back a key whose command changed nothing, so the same command may be sent again."""
        conn.execute(_UNCLAIM, {"b_key": key[:120]})

    def _record(self, conn: Connection, key: str, out: Applied) -> None:
        conn.execute(_RECORD, {"b_key": key[:120], "result": encode(out.__dict__)})

    def _result(self, conn: Connection, key: str) -> dict[str, Any]:
        text = conn.execute(sa.select(commands.c.result).where(commands.c.key == key[:120])).scalar() or "{}"
        found: dict[str, Any] = msgspec.json.decode(text) if text else {}
        return found or {"instance_id": "", "ok": False, "reason": "同一指令正在办理", "kind": "stale"}

    def _columns(self, inst: Instance) -> dict[str, Any]:
        return {
            "item": inst.item,
            "definition": inst.definition,
            "township": inst.township,
            "village": inst.village,
            "applicant": inst.applicant,
            "state": inst.state,
            "version": inst.version,
            "outcome": inst.outcome,
            "overdue": inst.overdue,
            "batch": inst.batch,
            "created_at": inst.created_at,
            "updated_at": inst.updated_at,
            "due_at": engine.next_due(inst),
            "body": self.codec.seal_instance(inst),
        }

    def _log(self, conn: Connection, result: Result, ip: str) -> None:
        step = msgspec.structs.replace(result.step, ip=ip or result.step.ip)
        iid = result.instance.id
        row = {"instance_id": iid, "seq": step.seq, "ts": step.ts, "action": step.action, "actor": step.actor,
               "duty": step.duty, "body": self.codec.seal_step(iid, step)}  # fmt: skip
        conn.execute(_STEP, row)
        if result.notices:
            conn.execute(
                outbox.insert(),
                [{"at": n.ts, "instance_id": n.instance_id, "to_user": n.to, "text": n.text} for n in result.notices],
            )
        item = self.definition(result.instance.definition)  # cached: the caller has just read it
        if item.document and result.instance.state == item.document.state:
            documents.issue(conn, item, result.instance, step.ts)

    def _insert(self, conn: Connection, result: Result, ip: str) -> None:
        conn.execute(_INSERT, {"id": result.instance.id, **self._columns(result.instance)})
        self._log(conn, result, ip)

    def _update(self, conn: Connection, result: Result, seen_version: int, ip: str) -> bool:
        """Write the moved instance only if nobody wrote it since we read it; the step and notices with it."""
        params = {"b_id": result.instance.id, "b_seen": seen_version, **self._columns(result.instance)}
        done = conn.execute(_UPDATE, params)
        if done.rowcount != 1:
            return False
        self._log(conn, result, ip)
        return True

    def _refused(self, user: User, item: str, iid: str, action: str, exc: Refused) -> None:
        if exc.kind == "access":
            self.audit(user, "wf_denied", f"{item}/{iid}", False, {"action": action, "reason": exc.reason})


def open_workflows(ledgers: LedgerStore, sealer: Sealer, settings: WorkflowSettings, items: ItemSet) -> WorkflowStore:
    """The workflow store beside the ledger store (same engine and key), its tables ready."""
    store = WorkflowStore(ledgers.engine, items, ledgers, sealer, settings, ledgers.audit, ledgers.clock)
    store.prepare()
    return store


__all__ = ["Applied", "RecordInvalid", "WorkflowStore", "open_workflows"]
