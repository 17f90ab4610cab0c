"""The workflow store on a real database: idempotent keys, concurrent actors, timers once, pinning, sealing, scope."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from ledger_testkit import (
    KEY,
    OFFICER_A,
    OFFICER_B,
    TOWNSHIP_OP_A,
    TOWNSHIP_OP_B,
    AuditLog,
    household,
    id_number,
    open_store,
    sqlite_url,
)

from core.access import User
from core.clock import BEIJING
from core.personal import Sealer
from core.settings.workflows import WorkflowSettings
from ledgers.store import LedgerStore, NotFound
from workflows.calendar import posting_ends, working_days_due
from workflows.engine import Command, Instance
from workflows.loader import ItemSet, load_items
from workflows.schema import Item
from workflows.store import WorkflowStore, open_workflows
from workflows.tables import commands, instances, outbox, steps

T0 = int(dt.datetime(2026, 9, 30, 10, 0, tzinfo=BEIJING).timestamp() * 1000)
HOUR = 3_600_000
CITIZEN = User(username="c:13909410001", name="张三", level="village", duties=[], township="大川镇", village="狼岔坝村")
NEIGHBOUR = User(
    username="c:13909410002", name="李四", level="village", duties=[], township="大川镇", village="狼岔坝村"
)
_keys = itertools.count()
SHA = hashlib.sha256(b"x").hexdigest()
FORM = {"id_number": id_number(7), "work_place": "江苏省苏州市", "employer": "苏州某厂", "months": 6,
        "id_photo": SHA, "work_proof": SHA}  # fmt: skip


@dataclass
class Env:
    """A ledger store with one registered labourer, the workflow store beside it, its audit log and clock."""

    ledgers: LedgerStore
    wf: WorkflowStore
    log: AuditLog
    clock: list[int]

    def submit(self) -> Instance:
        """The labourer's application for the labour subsidy."""
        return self.wf.submit(CITIZEN, "labour_subsidy", dict(FORM), village="狼岔坝村")

    def act(self, user: User, inst: Instance, action: str, key: str = "", **kw: Any) -> Any:
        """One command on the application."""
        cmd = Command(key=key or f"{action}-{next(_keys)}", instance_id=inst.id, action=action, ts=0, **kw)
        return self.wf.act(user, cmd)

    def count(self, table: sa.Table, iid: str) -> int:
        """Rows of a table for one application."""
        with self.ledgers.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(table.c.instance_id == iid)).scalar() or 0)


def _env(url: str) -> Env:
    clock = [T0]
    ledgers, log = open_store(url, clock=lambda: clock[0])
    hh = ledgers.create(OFFICER_A, "household", household(1), village="狼岔坝村")
    member = {"name": "张三", "id_number": id_number(7), "relation": "户主", "sex": "男", "birth_date": "1980-01-01",
              "work_status": "省外务工", "work_place": "江苏省苏州市", "work_months": 6}  # fmt: skip
    ledgers.create(OFFICER_A, "member", member, village="狼岔坝村", parent_id=hh.id)
    return Env(ledgers, open_workflows(ledgers, Sealer(KEY), WorkflowSettings(), load_items()), log, clock)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """The environment on SQLite."""
    e = _env(sqlite_url(tmp_path))
    yield e
    e.ledgers.engine.dispose()


@pytest.fixture
def both(ledger_url: str) -> Iterator[Env]:
    """The environment on each backend in turn."""
    e = _env(ledger_url)
    yield e
    e.ledgers.engine.dispose()


def test_same_key_applies_once_and_threads_race_for_one_action(both: Env) -> None:
    inst = both.submit()
    first = both.act(OFFICER_A, inst, "approve", key="k1", opinion="同意")
    again = both.act(OFFICER_A, inst, "approve", key="k1", opinion="同意")
    assert (first.ok, first.repeat, first.state, first.version) == (True, False, "village_posting", 2)
    assert (again.ok, again.repeat, again.state, again.version) == (True, True, "village_posting", 2)
    assert both.count(steps, inst.id) == 2
    # a second application: eight officers each send their own key for the same action
    other = both.submit()
    results: list[Any] = []

    def send(key: str) -> None:
        results.append(both.act(OFFICER_A, other, "approve", key=key, opinion="同意", version=1))

    threads = [threading.Thread(target=send, args=(f"r{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.ok for r in results) == 1
    assert {r.kind for r in results if not r.ok} <= {"invalid", "stale"}
    assert all(r.reason for r in results if not r.ok)
    assert both.count(steps, other.id) == 2
    assert both.wf.get(OFFICER_A, other.id)[1].version == 2


def test_threads_with_the_same_key_apply_once(both: Env) -> None:
    inst = both.submit()
    results: list[Any] = []

    def send() -> None:
        results.append(both.act(OFFICER_A, inst, "approve", key="same", opinion="同意"))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.ok and not r.repeat for r in results) == 1
    assert sum(r.repeat for r in results) == 7
    assert both.count(steps, inst.id) == 2
    assert both.wf.get(OFFICER_A, inst.id)[1].version == 2


def test_refused_command_keeps_no_key_and_stale_version_refused(both: Env) -> None:
    inst = both.submit()
    refused = both.act(OFFICER_A, inst, "approve", key="k1")
    assert (refused.ok, refused.kind, refused.reason) == (False, "invalid", "请填写意见")
    done = both.act(OFFICER_A, inst, "approve", key="k1", opinion="同意")  # the same key, now complete
    assert (done.ok, done.repeat, done.version) == (True, False, 2)
    stale = both.act(OFFICER_A, inst, "reject", key="k2", opinion="不同意", version=1)
    assert (stale.ok, stale.kind, stale.state, stale.version) == (False, "stale", "village_posting", 2)
    assert both.count(steps, inst.id) == 2
    with both.ledgers.engine.connect() as conn:
        keys = set(conn.execute(sa.select(commands.c.key).where(commands.c.instance_id == inst.id)).scalars())
    assert "k2" not in keys and "k1" in keys


def test_sla_breach_runs_once_and_notifies_the_township(env: Env) -> None:
    inst = env.submit()
    due = working_days_due(T0, 5)
    assert env.wf.run_due(due - 1) == []
    done = env.wf.run_due(due)
    assert [(a.instance_id, a.ok, a.state) for a in done] == [(inst.id, True, "village_review")]
    assert env.wf.run_due(due + 1000 * HOUR) == []
    late = env.wf.get(OFFICER_A, inst.id)[1]
    assert late.overdue and late.version == 2
    with env.ledgers.engine.connect() as conn:
        notices = conn.execute(sa.select(outbox.c.to_user, outbox.c.text).where(outbox.c.instance_id == inst.id)).all()
    escalations = [n for n in notices if n.to_user == "level:township"]
    assert len(escalations) == 1 and "超过5个工作日未办理" in escalations[0].text
    assert [s.action for s in env.wf.timeline(OFFICER_A, inst.id)] == ["apply", "sla_breached"]


def test_posting_objection_and_end(env: Env) -> None:
    inst = env.submit()
    assert env.act(OFFICER_A, inst, "approve", opinion="同意").ok
    end = posting_ends(T0, 5)
    assert env.wf.run_due(end - 1) == []
    env.clock[0] = T0 + HOUR
    objected = env.act(NEIGHBOUR, inst, "object", opinion="其实际未外出务工")
    assert (objected.ok, objected.state) == (True, "village_review")
    _, back = env.wf.get(OFFICER_A, inst.id)
    assert back.objections == 1
    assert env.wf.timeline(OFFICER_A, inst.id)[-1].opinion == "其实际未外出务工"
    assert env.act(OFFICER_A, inst, "approve", opinion="经核实属实").ok
    env.clock[0] = posting_ends(T0 + HOUR, 5)
    late = env.act(NEIGHBOUR, inst, "object", opinion="有异议")
    assert (late.ok, late.kind) == (False, "invalid") and "公示期已结束" in late.reason
    assert [a.state for a in env.wf.run_due(env.clock[0])] == ["township_review"]
    stranger = env.act(OFFICER_B, inst, "object", opinion="有异议")
    assert (stranger.ok, stranger.kind) == (False, "access")
    assert [s.action for s in env.wf.timeline(OFFICER_A, inst.id)] == [
        "apply",
        "approve",
        "object",
        "approve",
        "posting_ended",
    ]


def test_instance_keeps_its_definition_after_the_declaration_changes(env: Env) -> None:
    inst = env.submit()
    old = env.wf.item("labour_subsidy")
    body = old.model_dump(by_alias=True)
    body["transitions"][0]["to"] = "township_review"  # the new declaration skips the village 公示
    body["summary"] = "新版本"
    new = Item.model_validate(body)
    assert new.definition != old.definition == inst.definition
    items = ItemSet(Path("."), {new.item: new})
    wf2 = WorkflowStore(env.ledgers.engine, items, env.ledgers, Sealer(KEY), WorkflowSettings(), env.log,
                        lambda: env.clock[0])  # fmt: skip
    wf2.prepare()
    assert old.definition not in wf2._definitions
    assert wf2.definition(old.definition).transitions == old.transitions
    env.wf = wf2
    assert env.act(OFFICER_A, inst, "approve", opinion="同意").state == "village_posting"
    fresh = env.submit()
    assert fresh.definition == new.definition
    assert env.act(OFFICER_A, fresh, "approve", opinion="同意").state == "township_review"
    reused = env.act(TOWNSHIP_OP_A, fresh, "reject", key="pinned", opinion="不同意")
    assert env.act(OFFICER_A, inst, "reject", key="pinned", opinion="不同意").reason == "该指令编号已用于其他申请"
    assert reused.ok and env.wf.get(OFFICER_A, inst.id)[1].state == "village_posting"


def test_timeline_views_and_sealed_personal_data(env: Env) -> None:
    inst = env.submit()
    env.act(OFFICER_A, inst, "approve", opinion="同意")
    env.wf.run_due(posting_ends(T0, 5))
    env.clock[0] = posting_ends(T0, 5) + HOUR
    assert env.act(TOWNSHIP_OP_A, inst, "return", opinion="内部:务工证明存疑").ok
    staff = env.wf.timeline(TOWNSHIP_OP_A, inst.id)
    mine = env.wf.timeline(CITIZEN, inst.id)
    assert staff[-1].opinion == "内部:务工证明存疑" and staff[-1].actor == TOWNSHIP_OP_A.username
    assert mine[-1].opinion == "" and mine[-1].actor == ""
    assert [s.opinion for s in mine[:2]] == ["", "同意"]
    assert env.wf.get(CITIZEN, inst.id)[1].form["id_number"] == id_number(7)
    secret = id_number(7).encode()
    with env.ledgers.engine.connect() as conn:
        bodies = conn.execute(sa.select(instances.c.body).where(instances.c.id == inst.id)).scalars().all()
        bodies += conn.execute(sa.select(steps.c.body).where(steps.c.instance_id == inst.id)).scalars().all()
        texts = conn.execute(sa.select(outbox.c.text).where(outbox.c.instance_id == inst.id)).scalars().all()
    assert bodies and all(secret not in bytes(b) and "务工证明存疑".encode() not in bytes(b) for b in bodies)
    assert all(id_number(7) not in t for t in texts)


def test_scope_refusals_are_audited(env: Env) -> None:
    inst = env.submit()
    for user in (OFFICER_B, TOWNSHIP_OP_B, NEIGHBOUR):
        with pytest.raises(NotFound):
            env.wf.get(user, inst.id)
        assert env.wf.find(user) == []
    denied = env.log.actions("wf_denied")
    assert [r[0] for r in denied] == [OFFICER_B.username, TOWNSHIP_OP_B.username, NEIGHBOUR.username]
    assert all(r[3] is False and r[4]["action"] == "read" for r in denied)
    out = env.act(OFFICER_B, inst, "approve", opinion="同意")
    assert (out.ok, out.kind) == (False, "access")
    assert env.log.actions("wf_denied")[-1][:2] == (OFFICER_B.username, "wf_denied")
    assert env.count(steps, inst.id) == 1
    refused = env.act(TOWNSHIP_OP_A, inst, "approve", opinion="同意")  # in scope, wrong level: audited as access
    assert (refused.ok, refused.kind) == (False, "access")
    assert env.log.actions("wf_denied")[-1][0] == TOWNSHIP_OP_A.username
    assert [i.id for _, i in env.wf.inbox(OFFICER_A)] == [inst.id]
    assert env.wf.inbox(TOWNSHIP_OP_A) == []
