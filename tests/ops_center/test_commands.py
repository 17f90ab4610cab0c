"""Ticket actions from the ops center against the real incident desk (in-process) on a real Redis: area, duty and
action checks happen before anything reaches `commands`; applied and refused commands are audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from actors.incident_desk import IncidentDesk
from adapters import bus
from adapters.audit import recent
from adapters.bus import COMMANDS
from adapters.reports import submit_report
from core.access import AccessDenied, User
from core.settings import Settings
from ops_center import commands
from ops_center.context import OpsContext
from ops_center.live import LiveState
from ops_center.responders import candidates
from ops_center.session import OpsSession
from ops_center.ticket_panel import TicketPanel

LIJIE_OP = User(username="lijie_op", name="立节镇值班员", level="township", duties=["operator"], township="立节镇")
FENGDIE_OP = User(username="fengdie_op", name="峰迭镇值班员", level="township", duties=["operator"], township="峰迭镇")
AUDITOR = User(username="auditor", name="审计员", level="county", duties=["auditor"])


@pytest_asyncio.fixture
async def ctx(redis_url: str, var_dir: Path) -> AsyncIterator[OpsContext]:
    async def no_query(sql: str) -> list[dict[str, Any]]:
        return []

    context = OpsContext(Settings(var_dir=var_dir), bus.connect(redis_url), no_query)
    yield context
    await context.redis.aclose()


async def logged_in(ctx: OpsContext, user: User) -> OpsSession:
    await ctx.accounts.create(user, "Zhouqu-2026-ok")
    _, sid = await ctx.accounts.login(user.username, "Zhouqu-2026-ok")
    return OpsSession(ctx, user, sid, "10.0.0.7")


async def desk_running(ctx: OpsContext) -> tuple[IncidentDesk, asyncio.Task[None]]:
    desk = IncidentDesk(ctx.redis, ctx.settings)
    await desk.start()

    async def loop() -> None:
        while True:
            await desk.round()
            await asyncio.sleep(0.02)

    return desk, asyncio.get_running_loop().create_task(loop())


async def opened(ctx: OpsContext, desk: IncidentDesk, text: str, village: str, category: str) -> str:
    """A citizen report, once the running desk has opened its ticket."""
    tid = await submit_report(ctx.redis, text=text, village=village, category=category, reporter="citizen-1")
    while tid not in desk.tickets:
        await asyncio.sleep(0.02)
    return tid


@pytest.mark.asyncio
async def test_an_operator_accepts_a_ticket_of_their_township_and_it_is_audited(ctx: OpsContext) -> None:
    desk, task = await desk_running(ctx)
    try:
        tid = await opened(ctx, desk, "村道塌方", "杰迪村", "基础设施")
        session = await logged_in(ctx, LIJIE_OP)
        result = await commands.send(session, tid, "accept")
        assert result.ok is True
        assert desk.tickets[tid].status == "受理"
        again = await commands.send(session, tid, "accept")
        assert again.ok is False and "不允许受理" in again.error  # the desk's reason reaches the operator
        [last, first] = [r for r in await recent(ctx.redis) if r["action"] == "accept"][:2]
        assert (first["user"], first["target"], first["ok"], first["ip"]) == ("lijie_op", tid, True, "10.0.0.7")
        assert last["ok"] is False
    finally:
        task.cancel()


@pytest.mark.asyncio
async def test_a_double_click_sends_one_key_and_the_desk_applies_the_action_once(ctx: OpsContext) -> None:
    desk, task = await desk_running(ctx)
    try:
        tid = await opened(ctx, desk, "村道塌方", "杰迪村", "基础设施")
        ctx.live = LiveState(ctx)
        await ctx.live.refresh()
        session = await logged_in(ctx, LIJIE_OP)
        panel = TicketPanel(session)
        panel.ticket_id = tid
        await panel.view()  # draws the ticket's buttons: each intended action gets its key here
        click = panel._handler("escalate")  # what the 升级 button runs
        level = desk.tickets[tid].state.escalation_level
        await asyncio.gather(click(None), click(None))  # a double click: two handlers at once
        mine = [e for e in desk.tickets[tid].history if e.action == "escalate" and e.actor == "lijie_op"]
        assert len(mine) == 1 and desk.tickets[tid].state.escalation_level == level + 1
        sent = [r for r in await recent(ctx.redis) if r["action"] == "escalate"]
        assert len(sent) == 2 and len({r["detail"] for r in sent}) == 1  # both clicks carried the same key
        await click(None)  # after the answer, a new click is a new intent with a new key
        assert len([e for e in desk.tickets[tid].history if e.action == "escalate" and e.actor == "lijie_op"]) == 2
    finally:
        task.cancel()


@pytest.mark.asyncio
async def test_another_townships_ticket_is_refused_before_the_commands_stream(ctx: OpsContext) -> None:
    desk, task = await desk_running(ctx)
    try:
        tid = await opened(ctx, desk, "垃圾堆积", "土桥子村", "环境卫生")
        sent_before = await ctx.redis.xlen(COMMANDS)
        with pytest.raises(AccessDenied, match="不在"):
            await commands.send(await logged_in(ctx, LIJIE_OP), tid, "accept")
        with pytest.raises(AccessDenied, match="不存在或不在"):
            await commands.send(await logged_in(ctx, FENGDIE_OP), "report:nosuchticket", "accept")
        assert await ctx.redis.xlen(COMMANDS) == sent_before
        assert desk.tickets[tid].status == "上报"
        denied = [r for r in await recent(ctx.redis) if r["action"] == "accept"]
        assert {r["user"] for r in denied} == {"lijie_op", "fengdie_op"} and not any(r["ok"] for r in denied)
    finally:
        task.cancel()


@pytest.mark.asyncio
async def test_duties_and_actions_outside_the_desk_set_are_refused(ctx: OpsContext) -> None:
    tid = await submit_report(ctx.redis, text="路灯不亮", village="杰迪村", category="基础设施", reporter="c3")
    with pytest.raises(AccessDenied, match="无此权限"):
        await commands.send(await logged_in(ctx, AUDITOR), tid, "accept")
    with pytest.raises(AccessDenied, match="不能执行"):
        await commands.send(await logged_in(ctx, LIJIE_OP), tid, "resolve")  # responders resolve from the phone
    assert await ctx.redis.xlen(COMMANDS) == 0


@pytest.mark.asyncio
async def test_a_logged_out_session_cannot_act(ctx: OpsContext) -> None:
    session = await logged_in(ctx, LIJIE_OP)
    await ctx.accounts.logout(session.sid)
    desk, task = await desk_running(ctx)
    try:
        tid = await opened(ctx, desk, "井盖缺失", "杰迪村", "基础设施")
        with pytest.raises(AccessDenied, match="登录"):
            await commands.send(session, tid, "accept")
        assert await ctx.redis.xlen(COMMANDS) == 0
    finally:
        task.cancel()


def test_the_nearest_free_responder_of_the_area_comes_first(ctx: OpsContext) -> None:
    def responder(name: str, village: str, township: str = "立节镇") -> User:
        return User(username=name, name=name, level="village", duties=["responder"], township=township,
                    village=village)  # fmt: skip

    ticket = {"ticket_id": "t1", "township": "立节镇", "village": "杰迪村", "lat": 33.86328, "lon": 103.94652}
    users = [responder("far", "城马村"), responder("near", "杰迪村"), responder("busy", "杰迪村"),
             responder("other", "土桥子村", "峰迭镇")]  # fmt: skip
    open_tickets = [{"responder": "busy", "state": "处置中"}]
    got = candidates(ticket, users, open_tickets, ctx.gazetteer)
    assert [c.username for c in got] == ["near", "far", "busy"]  # free first, nearest first; 峰迭镇 left out
    assert got[0].distance_m is not None and got[0].distance_m < 1.0
    assert got[1].distance_m is not None and 1_000 < got[1].distance_m < 10_000  # 城马村 is a few km away
    assert not got[2].available
