"""Each declared item end to end on the workflow store (SQLite, frozen clock): amounts, tiers, refusals, timelines."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from ledger_testkit import (
    COUNTY_OP,
    KEY,
    OFFICER_A,
    OFFICER_B,
    TOWNSHIP_OP_A,
    TOWNSHIP_OP_B,
    household,
    id_number,
    open_store,
    sqlite_url,
)

from core.access import User
from core.personal import Sealer
from core.settings.workflows import WorkflowSettings
from ledgers.values import RecordInvalid
from workflows import documents
from workflows.engine import Command, Refused, available
from workflows.extra import homestay_booking
from workflows.loader import load_items
from workflows.store import Applied, WorkflowStore, open_workflows
from workflows.tables import documents as documents_table

DAY = 86_400_000
SHA = hashlib.sha256(b"photo").hexdigest()
VILLAGE = "狼岔坝村"
CITIZEN = User(username="c:13909410001", name="张三", level="village", duties=[], township="大川镇", village=VILLAGE)
CITIZEN_2 = User(username="c:13909410002", name="李四", level="village", duties=[], township="大川镇", village=VILLAGE)
OFFICER_A2 = User(username="officer_a2", name="狼岔坝村文书", level="village", duties=["officer"], township="大川镇",
                  village=VILLAGE)  # fmt: skip
OFFICER_C = User(username="officer_c", name="城马村干部", level="village", duties=["officer"], township="立节镇",
                 village="城马村")  # fmt: skip
TOWNSHIP_OFF_A = User(
    username="t_off_a", name="大川镇分管领导", level="township", duties=["officer"], township="大川镇"
)
POOR, POOR_2, ORDINARY = id_number(7), id_number(9), id_number(8)  # 江苏务工, 陕西务工 (same 脱贫户), 一般户


@dataclass
class World:
    """The stores, the clock and helpers to act on applications."""

    wf: WorkflowStore
    clock: list[int]
    keys: Iterator[int]

    def act(self, user: User, iid: str, action: str, **extra: Any) -> Applied:
        """Take an action with a fresh idempotency key."""
        return self.wf.act(user, Command(key=f"k{next(self.keys)}", instance_id=iid, action=action, ts=0, **extra))

    def advance(self, days: int) -> list[Applied]:
        """Move the clock on by days and run every due timer."""
        self.clock[0] += days * DAY
        return self.wf.run_due(self.clock[0])

    def steps(self, user: User, iid: str) -> list[str]:
        """The actions of the application's timeline, oldest first."""
        return [s.action for s in self.wf.timeline(user, iid)]


def _member(serial: str, name: str, relation: str, place: str) -> dict[str, Any]:
    return {"name": name, "id_number": serial, "relation": relation, "sex": "男", "birth_date": "1980-01-01",
            "work_status": "省外务工", "work_place": place, "work_months": 6}  # fmt: skip


@pytest.fixture
def world(tmp_path: Path) -> World:
    """A ledger store with a 脱贫户 (two migrant workers), a 一般户 and a homestay; the workflow store beside it."""
    clock = [1_780_000_000_000]
    ls, _ = open_store(sqlite_url(tmp_path), clock=lambda: clock[0])
    poor = ls.create(OFFICER_A, "household", household(1), village=VILLAGE)
    ls.create(OFFICER_A, "member", _member(POOR, "张三", "户主", "江苏省苏州市"), village=VILLAGE, parent_id=poor.id)
    ls.create(OFFICER_A, "member", _member(POOR_2, "张小三", "子", "陕西省西安市"), village=VILLAGE, parent_id=poor.id)
    plain = ls.create(OFFICER_A, "household", household(2, poverty_status="一般户"), village=VILLAGE)
    ls.create(
        OFFICER_A, "member", _member(ORDINARY, "李四", "户主", "江苏省苏州市"), village=VILLAGE, parent_id=plain.id
    )
    settings = WorkflowSettings()
    wf = open_workflows(ls, Sealer(KEY), settings, load_items())
    return World(wf, clock, itertools.count())


def test_labour_subsidy_amount_by_destination_and_refusal(world: World) -> None:
    """劳务补贴: 600 元 for another province, 400 元 for 陕西; a 一般户 is refused in Chinese and nothing is stored."""
    form = {"work_place": "江苏省苏州市", "employer": "苏州某厂", "months": 6, "id_photo": SHA, "work_proof": SHA}
    far = world.wf.submit(CITIZEN, "labour_subsidy", {**form, "id_number": POOR}, village=VILLAGE)
    near = world.wf.submit(
        CITIZEN, "labour_subsidy", {**form, "id_number": POOR_2, "work_place": "西安"}, village=VILLAGE
    )
    assert (far.amount, near.amount) == (Decimal(600), Decimal(400))
    assert "其他省份务工" in far.amount_basis and "陕西、宁夏务工" in near.amount_basis
    with pytest.raises(Refused) as info:
        world.wf.submit(CITIZEN_2, "labour_subsidy", {**form, "id_number": ORDINARY}, village=VILLAGE)
    assert info.value.reason == "仅脱贫户、监测户家庭的劳动力、务工监测记录满3个月的可申请"
    assert len(world.wf.find(OFFICER_A, item="labour_subsidy")) == 2
    assert world.act(OFFICER_A, far.id, "approve", opinion="情况属实").state == "village_posting"
    assert world.advance(4) == []  # the 公示 runs five days
    assert [a.state for a in world.advance(2)] == ["township_review"]
    assert world.act(TOWNSHIP_OFF_A, far.id, "approve", opinion="同意", signature="王五").state == "approved"
    assert world.steps(CITIZEN, far.id) == ["apply", "approve", "posting_ended", "approve"]


def _industry(world: World, product: str, quantity: str) -> str:
    inst = world.wf.submit(CITIZEN, "industry_reward", {"id_number": POOR, "product": product, "quantity": quantity,
                                                       "photos": SHA}, village=VILLAGE)  # fmt: skip
    assert world.act(OFFICER_A, inst.id, "approve", opinion="经核实,规模属实").ok
    return inst.id


def test_industry_reward_rate_times_quantity_and_tiered_approval(world: World) -> None:
    """产业奖补: amount = rate × quantity; above 5000 元 only the township officer with a signature approves."""
    big, small = _industry(world, "羊肚菌", "2.5"), _industry(world, "中华蜂", "10")
    _, inst = world.wf.get(OFFICER_A, big)
    assert inst.amount == Decimal("13500.00")
    assert inst.amount_basis == "羊肚菌每亩5400元:5400元 × 2.50 = 13500.00元"
    assert world.wf.get(OFFICER_A, small)[1].amount == Decimal("4000.00")
    assert {a.state for a in world.advance(6)} == {"township_review"}

    refused = world.act(OFFICER_A, big, "approve", opinion="同意")
    assert (refused.ok, refused.kind, refused.reason) == (False, "access", "此步骤须由乡镇相关人员办理")
    refused = world.act(TOWNSHIP_OP_A, big, "approve", opinion="同意")
    assert (refused.kind, refused.reason) == ("invalid", "不满足办理条件:amount <= 5000")
    refused = world.act(TOWNSHIP_OP_A, big, "approve_major", opinion="同意", signature="赵六")
    assert refused.reason == "此步骤须由乡镇相关人员办理"
    assert world.act(TOWNSHIP_OFF_A, big, "approve_major", opinion="同意").reason == "请签名"
    item, inst = world.wf.get(TOWNSHIP_OP_A, big)
    assert [t.action for t in available(item, inst, TOWNSHIP_OP_A, world.clock[0])] == ["return", "reject"]
    assert world.act(TOWNSHIP_OFF_A, big, "approve_major", opinion="同意", signature="赵六").state == "approved"
    assert world.act(TOWNSHIP_OP_A, small, "approve_major", opinion="同意", signature="x").reason.startswith("此步骤")
    assert world.act(TOWNSHIP_OP_A, small, "approve", opinion="同意").state == "approved"
    assert world.steps(OFFICER_A, big) == ["apply", "approve", "posting_ended", "approve_major"]
    with pytest.raises(Refused) as info:
        world.wf.submit(CITIZEN_2, "industry_reward", {"id_number": ORDINARY, "product": "黑土猪", "quantity": "3",
                                                      "photos": SHA}, village=VILLAGE)  # fmt: skip
    assert info.value.reason == "仅脱贫户、监测户可申请到户产业奖补"


def test_temporary_relief_amount_entered_by_township(world: World) -> None:
    """临时救助: the township enters the amount, the 公示 ends and the relief is granted."""
    form = {"id_number": POOR, "hardship": "突发重大疾病", "description": "户主住院", "proof": SHA}
    iid = world.wf.submit(CITIZEN, "temporary_relief", form, village=VILLAGE).id
    assert world.wf.get(CITIZEN, iid)[1].amount is None
    assert world.act(OFFICER_A, iid, "approve", opinion="属实").state == "township_review"
    assert world.act(TOWNSHIP_OFF_A, iid, "approve", opinion="同意").reason == "请填写核定金额"
    assert world.act(TOWNSHIP_OFF_A, iid, "approve", opinion="同意", amount=Decimal(3000)).state == "township_posting"
    assert [a.state for a in world.advance(4)] == ["granted"]
    _, inst = world.wf.get(CITIZEN, iid)
    assert (inst.outcome, inst.amount) == ("approved", Decimal(3000))


def test_homestead_posting_then_township_approval(world: World) -> None:
    """宅基地建房: village review, 村公示 with an objection sending it back, then the township officer signs."""
    form = {"id_number": POOR, "reason": "分户新建", "location": "二组", "area": "120", "floors": 2,
            "has_homestead": False, "site_photo": SHA}  # fmt: skip
    iid = world.wf.submit(CITIZEN, "homestead_application", form, village=VILLAGE).id
    assert world.act(OFFICER_A, iid, "approve", opinion="符合规划").state == "village_posting"
    assert world.act(OFFICER_A2, iid, "object", opinion="占用集体道路").state == "village_review"
    assert world.act(OFFICER_A, iid, "approve", opinion="已调整位置").state == "village_posting"
    world.advance(6)
    assert world.act(TOWNSHIP_OFF_A, iid, "approve", opinion="同意", signature="王五").state == "approved"
    assert world.steps(CITIZEN, iid) == ["apply", "approve", "object", "approve", "posting_ended", "approve"]


def test_certificates_issued_with_facts_and_no_self_issue(world: World) -> None:
    """证明: the village officer issues; the body carries household facts; an officer never issues their own filing."""
    form = {
        "name": "张三",
        "id_number": POOR,
        "annual_income": "36000",
        "situation": "家中两人务工。",
        "purpose": "助学贷款",
    }
    iid = world.wf.submit(CITIZEN, "household_situation_certificate", form, village=VILLAGE).id
    assert world.act(OFFICER_A, iid, "approve").state == "issued"
    item, inst = world.wf.get(CITIZEN, iid)
    assert inst.outcome == "approved"
    assert item.document is not None
    text = documents.fill(item, inst, item.document.body)
    assert "家庭人口4人,户类型为脱贫户" in text and "大川镇狼岔坝村" in text and POOR not in text
    with world.wf.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).where(documents_table.c.instance_id == iid)).scalar()
    assert count == 1

    form = {"name": "张三", "id_number": POOR, "address": "三组12号", "since": "2010-03-01", "purpose": "子女入学"}
    by_officer = world.wf.submit(OFFICER_A, "residence_certificate", form, village=VILLAGE).id
    assert world.act(OFFICER_A, by_officer, "approve").reason == "不能审批本人提交的申请"
    assert world.act(OFFICER_A2, by_officer, "approve").state == "issued"
    form = {"name": "张三", "id_number": POOR, "relative_name": "张小三", "relation": "父亲", "purpose": "保险理赔"}
    rel = world.wf.submit(CITIZEN, "family_relation_certificate", form, village=VILLAGE).id
    assert world.act(OFFICER_A, rel, "reject").reason == "请填写意见"
    assert world.act(OFFICER_A, rel, "reject", opinion="关系无法核实").state == "refused"


def test_village_errand_take_report_close_and_withdraw(world: World) -> None:
    """民事村办: taken, reported with an opinion, closed; another withdrawn before it is taken, never after."""
    iid = world.wf.submit(
        CITIZEN, "village_errand", {"category": "设施报修", "description": "路灯不亮"}, village=VILLAGE
    ).id
    assert world.act(OFFICER_A, iid, "take").state == "handling"
    assert world.act(CITIZEN, iid, "withdraw").reason == "当前状态“办理中”不能办理“withdraw”"
    assert world.act(OFFICER_A, iid, "report").reason == "请填写意见"
    assert world.act(OFFICER_A, iid, "report", opinion="已更换灯泡").state == "reported"
    assert world.act(OFFICER_A, iid, "close").state == "done"
    assert world.steps(CITIZEN, iid) == ["apply", "take", "report", "close"]
    assert world.wf.timeline(CITIZEN, iid)[2].opinion == "已更换灯泡"
    other = world.wf.submit(
        CITIZEN, "village_errand", {"category": "政策咨询", "description": "医保缴费"}, village=VILLAGE
    ).id
    assert world.act(OFFICER_A, other, "withdraw").reason == "只有申请人本人可以办理此步骤"
    assert world.act(CITIZEN, other, "withdraw").state == "withdrawn"
    assert world.wf.get(CITIZEN, other)[1].outcome == "withdrawn"


def test_homestay_booking_confirm_cancel_and_dates(world: World) -> None:
    """民宿预约: check_out after check_in; the host confirms, the guest cancels; the host may cancel with a reason."""
    values = {"name": "拉尕山民宿", "kind": "民宿", "operator": "王五", "rooms": 1, "position": "104.23,33.75"}
    home = world.wf.ledgers.create(OFFICER_A, "homestay", values, village=VILLAGE)
    form = {"homestay": home.id, "check_in": "2026-07-01", "check_out": "2026-07-01", "guests": 2, "contact": "刘一",
            "phone": "13800001111"}  # fmt: skip
    with pytest.raises(RecordInvalid) as info:
        world.wf.submit(CITIZEN, "homestay_booking", form, village=VILLAGE)
    assert info.value.errors == {"check_out": "离店日期须晚于入住日期"}
    assert world.wf.find(CITIZEN, item="homestay_booking") == []
    iid = world.wf.submit(CITIZEN, "homestay_booking", {**form, "check_out": "2026-07-03"}, village=VILLAGE).id
    assert world.act(OFFICER_A, iid, "confirm").state == "confirmed"
    with pytest.raises(RecordInvalid) as info:  # one room, held on the night of 07-02
        world.wf.submit(CITIZEN, "homestay_booking", {**form, "check_in": "2026-07-02", "check_out": "2026-07-04"},
                        village=VILLAGE)  # fmt: skip
    assert info.value.errors == {"check_in": "2026-07-02 已订满,请选择其他日期"}
    assert homestay_booking.figures(world.wf, VILLAGE, dt.date(2026, 7, 1)) == {"tonight": 1, "pending": 0,
                                                                                 "upcoming": 0}  # fmt: skip
    assert homestay_booking.figures(world.wf, VILLAGE, dt.date(2026, 6, 30))["upcoming"] == 1
    assert world.act(CITIZEN, iid, "cancel").state == "cancelled"
    assert world.wf.get(CITIZEN, iid)[1].outcome == "withdrawn"
    second = world.wf.submit(CITIZEN, "homestay_booking", {**form, "check_out": "2026-07-02"}, village=VILLAGE).id
    assert world.act(CITIZEN, second, "host_cancel", opinion="x").reason == "此步骤须由村级相关人员办理"
    assert world.act(OFFICER_A, second, "host_cancel", opinion="客满").state == "cancelled"
    assert world.steps(CITIZEN, second) == ["apply", "host_cancel"]


def test_village_task_sent_to_two_villages(world: World) -> None:
    """乡村大脑任务: one send to two villages; each reports; the sender returns one, then feeds both back."""
    form = {"task_title": "防汛隐患排查", "instructions": "走访沿河农户,排查隐患并上报"}
    ids = [world.wf.submit(TOWNSHIP_OP_B, "village_task", form, village=v, batch="B1").id for v in ("杰迪村", "城马村")]
    assert len(world.wf.find(TOWNSHIP_OP_B, batch="B1")) == 2
    jiedi, chengma = ids
    assert world.act(OFFICER_C, jiedi, "report", opinion="x").kind == "access"
    bad = world.act(OFFICER_B, jiedi, "report", opinion="走访", values={"visited_households": "-3"})
    assert bad.kind == "invalid" and bad.reason.startswith("已走访户数:")  # the filled data is checked like a form
    assert world.act(OFFICER_B, jiedi, "report", opinion="x", values={"task_title": "改名"}).kind == "invalid"
    report = {"visited_households": "32", "problems_found": "河堤两处渗水"}
    assert world.act(OFFICER_B, jiedi, "report", opinion="走访32户,发现2处隐患", values=report).state == "reported"
    assert world.wf.get(TOWNSHIP_OP_B, jiedi)[1].form["visited_households"] == 32
    assert world.act(OFFICER_C, chengma, "report", opinion="走访18户").state == "reported"
    assert world.act(TOWNSHIP_OP_B, chengma, "return", opinion="请补充照片").state == "issued"
    assert world.act(OFFICER_C, chengma, "report", opinion="已补充照片").state == "reported"
    assert world.act(TOWNSHIP_OP_A, jiedi, "feedback", opinion="x").kind == "access"
    for iid in ids:
        assert world.act(TOWNSHIP_OP_B, iid, "feedback", opinion="收到,做好转移预案").state == "done"
    assert world.steps(TOWNSHIP_OP_B, chengma) == ["apply", "report", "return", "report", "feedback"]
    assert {i.outcome for _, i in world.wf.find(COUNTY_OP, batch="B1")} == {"done"}
    with pytest.raises(Refused) as info:
        world.wf.submit(CITIZEN, "village_task", form, village=VILLAGE)
    assert info.value.reason == "“乡村大脑工作任务”不受理此类账号的申请"


def test_enabling_an_item_in_a_new_village_is_a_settings_change(world: World) -> None:
    """得力村 (a 60+ village) runs no item by default; adding it to `workflows.villages` opens 劳务补贴 there only."""
    officer = User(username="deli_off", name="得力村干部", level="village", duties=["officer"], township="大峪镇",
                   village="得力村")  # fmt: skip
    ls = world.wf.ledgers
    home = ls.create(officer, "household", household(5), village="得力村")
    worker = id_number(21)
    ls.create(officer, "member", _member(worker, "王五", "户主", "新疆乌鲁木齐市"), village="得力村", parent_id=home.id)
    villager = User(username="c:13909410021", name="王五", level="village", duties=[], township="大峪镇",
                    village="得力村")  # fmt: skip
    form = {"id_number": worker, "work_place": "新疆乌鲁木齐市", "employer": "某建筑公司", "months": 5, "id_photo": SHA,
            "work_proof": SHA}  # fmt: skip
    with pytest.raises(Refused) as info:
        world.wf.submit(villager, "labour_subsidy", form, village="得力村")
    assert info.value.reason == "得力村尚未开通“一次性劳务补贴申请”"
    assert [i.item for i in world.wf.items_for("得力村")] == []
    villages = {"*": WorkflowSettings().villages["*"], "labour_subsidy": [*WorkflowSettings().villages["*"], "得力村"]}
    wf = open_workflows(ls, Sealer(KEY), WorkflowSettings(villages=villages), load_items())
    assert [i.item for i in wf.items_for("得力村")] == ["labour_subsidy"]
    inst = wf.submit(villager, "labour_subsidy", form, village="得力村")
    assert (inst.township, inst.village, inst.amount) == ("大峪镇", "得力村", Decimal(600))
    with pytest.raises(Refused):  # only that item was opened there
        wf.submit(villager, "residence_certificate", {}, village="得力村")
