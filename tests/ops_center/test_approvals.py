"""The staff side of the workflows without a browser (real SQLite stores, real Redis, real Panel models): the officer's
inbox and approving from the detail, what a township user sees and may do, the ID number masked for a township
operator, a task sent to two villages and its progress, the phone end's tabs."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from ledger_testkit import KEY, OFFICER_A, TOWNSHIP_OP_A, AuditLog, household, id_number

from core.access import User
from core.personal import Sealer
from core.settings.workflows import WorkflowSettings
from ops_center.context import OpsContext
from ops_center.layout import page_modules
from ops_center.pages.mobile import Mobile
from ops_center.pages.tasks import TaskSender
from ops_center.session import OpsSession
from ops_center.workflow_views.detail import ApplicationDetail
from ops_center.workflow_views.inbox import Inbox
from workflows.engine import Instance
from workflows.loader import load_items
from workflows.store import WorkflowStore, open_workflows

VILLAGE_2 = "大川镇演示村01"  # a second village of 大川镇
CITIZEN = User(username="c:13909410001", name="张三", level="village", duties=[], township="大川镇",
               village="狼岔坝村")  # fmt: skip
TOWNSHIP_OFFICER = User(username="t_off", name="大川镇审批", level="township", duties=["officer"], township="大川镇")


@pytest_asyncio.fixture
async def wf_ctx(ledger_ctx: tuple[OpsContext, AuditLog]) -> AsyncIterator[OpsContext]:
    """The ledger pages' context with a workflow store beside its ledger store (the default items)."""
    ctx, _ = ledger_ctx
    assert ctx.ledgers is not None
    settings = WorkflowSettings(villages={"*": ["狼岔坝村", VILLAGE_2]})
    ctx.workflows = open_workflows(ctx.ledgers, Sealer(KEY), settings, load_items())
    yield ctx


def session(ctx: OpsContext, user: User) -> OpsSession:
    """A browser session of the account."""
    return OpsSession(ctx, user, "sid-" + user.username, "10.0.0.9")


def store(ctx: OpsContext) -> WorkflowStore:
    """The context's workflow store."""
    assert ctx.workflows is not None
    return ctx.workflows


def apply(ctx: OpsContext) -> Instance:
    """A villager's labour-subsidy application in 狼岔坝村 (their household and work record registered)."""
    assert ctx.ledgers is not None
    hh = ctx.ledgers.create(OFFICER_A, "household", household(1), village="狼岔坝村")
    member = {"name": "张三", "id_number": id_number(7), "relation": "户主", "sex": "男", "birth_date": "1980-01-01",
              "work_status": "省外务工", "work_place": "江苏省苏州市", "work_months": 6}  # fmt: skip
    ctx.ledgers.create(OFFICER_A, "member", member, village="狼岔坝村", parent_id=hh.id)
    sha = hashlib.sha256(b"x").hexdigest()
    form = {"id_number": id_number(7), "work_place": "江苏省苏州市", "employer": "苏州某厂", "months": 6,
            "id_photo": sha, "work_proof": sha}  # fmt: skip
    return store(ctx).submit(CITIZEN, "labour_subsidy", form, village="狼岔坝村")


def html_of(detail: ApplicationDetail) -> str:
    """The detail's HTML panes, joined."""
    return "".join(str(getattr(o, "object", "")) for o in detail.body.objects)


def test_the_pages_are_found() -> None:
    """The three pages are in the navigation, acting users only."""
    found = {m.SLUG: m for m in page_modules()}
    assert {"approvals", "tasks", "m"} <= set(found)
    assert {found[s].PERMISSION for s in ("approvals", "tasks", "m")} == {"act"}


@pytest.mark.asyncio
async def test_officer_approves_from_the_inbox_detail(wf_ctx: OpsContext) -> None:
    """The officer's inbox lists the new application; approving from the detail moves it to 村内公示."""
    inst = apply(wf_ctx)
    inbox = Inbox(session(wf_ctx, OFFICER_A), store(wf_ctx))
    await inbox.load()
    frame = inbox.table.value
    assert list(frame["编号"]) == [inst.id]
    assert frame.iloc[0]["事项"] == "一次性劳务补贴申请" and frame.iloc[0]["申请人"] == "张三"
    assert frame.iloc[0]["当前环节"] == "村委会审核" and frame.iloc[0]["超时"] == ""
    await inbox.open(inst.id)
    detail = inbox.detail
    assert set(detail.buttons) == {"approve", "reject"}
    page = html_of(detail)
    assert id_number(7) in page and "600" in page and "其他省份务工" in page  # whole for the village's officer
    detail.opinion.value = ""
    refused = await detail.act("approve")
    assert refused is not None and not refused.ok and "请填写意见" in str(detail.message.object)
    other = ApplicationDetail(session(wf_ctx, OFFICER_A), store(wf_ctx))  # the same application in a second tab
    await other.load(inst.id)
    detail.opinion.value = "材料齐全,同意公示"
    done = await detail.act("approve")
    assert done is not None and done.ok and done.state == "village_posting"
    assert "村内公示" in str(detail.message.object)
    _, moved = store(wf_ctx).get(OFFICER_A, inst.id)
    assert moved.state == "village_posting"
    assert "材料齐全,同意公示" in html_of(detail) and "10.0.0.9" in html_of(detail)  # the full staff timeline
    assert list(inbox.table.value["编号"]) == []  # acted on: gone from the inbox
    other.opinion.value = "不同意"
    stale = await other.act("reject")  # drawn before the approval: refused, and redrawn as it now stands
    assert stale is not None and not stale.ok and "已被他人办理" in str(other.message.object)
    assert other.buttons == {} and store(wf_ctx).get(OFFICER_A, inst.id)[1].state == "village_posting"


@pytest.mark.asyncio
async def test_township_user_sees_no_village_action_and_a_masked_id_number(wf_ctx: OpsContext) -> None:
    """A township user opens the application in review but gets no village action; the ID number is masked."""
    inst = apply(wf_ctx)
    for user in (TOWNSHIP_OP_A, TOWNSHIP_OFFICER):
        inbox = Inbox(session(wf_ctx, user), store(wf_ctx))
        await inbox.load()
        assert list(inbox.table.value["编号"]) == []
        await inbox.open(inst.id)
        assert inbox.detail.buttons == {}
        page = html_of(inbox.detail)
        assert "当前环节无需您办理" in page
        if user is TOWNSHIP_OP_A:  # an operator has no need of personal values (a township officer sees them)
            assert id_number(7) not in page and id_number(7)[:6] + "*" * 10 + id_number(7)[-2:] in page
            assert "张*" in page and "张三" not in page
        assert await inbox.detail.act("approve") is None  # no drawn button: nothing is sent
    _, unchanged = store(wf_ctx).get(OFFICER_A, inst.id)
    assert unchanged.state == "village_review" and unchanged.version == 1


@pytest.mark.asyncio
async def test_task_sent_to_two_villages_shows_both_in_progress(wf_ctx: OpsContext) -> None:
    """A township user sends a task to two villages; the progress lists both; the village reports from its phone."""
    sender = TaskSender(session(wf_ctx, TOWNSHIP_OP_A), store(wf_ctx))
    assert list(sender.items) == ["乡村大脑工作任务"]
    assert set(sender.fields) == {"task_title", "instructions", "deadline"}  # the rest is the village's report
    assert set(sender.villages.options) == {"狼岔坝村", VILLAGE_2}
    sender.villages.value = ["狼岔坝村", VILLAGE_2]
    assert await sender.submit() == []  # the task's required fields are empty: refused, nothing sent
    assert "任务名称" in str(sender.message.object)
    assert store(wf_ctx).find(TOWNSHIP_OP_A, item="village_task") == []
    sender.fields["task_title"].value, sender.fields["instructions"].value = "防汛排查", "本周内走访排查河道沿岸住户"
    sent = await sender.submit()
    assert len(sent) == 2 and "已向 2 个村下发任务" in str(sender.message.object)
    progress = sender.progress.value
    assert set(progress["所在村"]) == {"大川镇 狼岔坝村", f"大川镇 {VILLAGE_2}"}
    assert set(progress["当前环节"]) == {"待上报"}
    mobile = Mobile(session(wf_ctx, OFFICER_A))
    await mobile.load()
    assert mobile.tasks is not None and mobile.approvals is not None
    assert len(mobile.tasks.table.value) == 1 and len(mobile.approvals.table.value) == 0
    mine = str(mobile.tasks.table.value["编号"].iloc[0])
    assert mine in sent
    await mobile.tasks.open(mine)
    mobile.tasks.detail.opinion.value = "已走访沿岸住户12户,未发现险情"
    assert set(mobile.tasks.detail.fills) == {"visited_households", "problems_found"}  # the photo comes by phone
    mobile.tasks.detail.fills["visited_households"].value = "12"
    done = await mobile.tasks.detail.act("report")
    assert done is not None and done.ok and done.state == "reported"
    assert wf_ctx.workflows is not None
    assert wf_ctx.workflows.get(OFFICER_A, mine)[1].form["visited_households"] == 12
    await sender.show_progress()
    assert sorted(sender.progress.value["当前环节"]) == ["待上报", "待反馈"]
    await sender.detail.load(mine)  # the township gives its feedback from the progress
    assert set(sender.detail.buttons) == {"feedback", "return"}


@pytest.mark.asyncio
async def test_the_village_hands_a_villager_a_login_code(wf_ctx: OpsContext) -> None:
    """Only a member of the officer's own village gets a code; it opens the phone end's login like an SMS code."""
    from adapters.citizen.login import _digest, _otp_key
    from ops_center.workflow_views.village_code import VillageCode

    assert wf_ctx.ledgers is not None
    hh = wf_ctx.ledgers.create(OFFICER_A, "household", household(2), village="狼岔坝村")
    member = {"name": "李四", "id_number": id_number(8), "relation": "户主", "sex": "男", "birth_date": "1970-01-01",
              "phone": "13909410002"}  # fmt: skip
    wf_ctx.ledgers.create(OFFICER_A, "member", member, village="狼岔坝村", parent_id=hh.id)
    panel = VillageCode(session(wf_ctx, OFFICER_A))
    panel.phone.value = "13900000000"
    assert await panel.issue() is None and "没有该手机号" in panel.result.object
    panel.phone.value = "12345"
    assert await panel.issue() is None and "11位手机号" in panel.result.object
    panel.phone.value = "13909410002"
    code = await panel.issue()
    assert code is not None and code in panel.result.object and "139****0002" in panel.result.object
    held = await wf_ctx.redis.hgetall(_otp_key("13909410002"))
    assert held[b"code"] == _digest(code).encode() and 0 < await wf_ctx.redis.ttl(_otp_key("13909410002")) <= 3 * 86400
    township = VillageCode(session(wf_ctx, TOWNSHIP_OFFICER))
    township.phone.value = "13909410002"
    assert await township.issue() is None and "只有村干部" in township.result.object
