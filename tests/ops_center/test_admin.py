"""Account and roster administration on a real Redis: who may manage whom, rosters the desk reads, audit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters import bus
from adapters.accounts import AccountError
from adapters.audit import recent
from adapters.push.tokens import user_for
from adapters.rosters import COUNTY_DUTY, OFFICERS
from core.access import AccessDenied, User
from core.settings import Settings
from ops_center import admin
from ops_center.context import OpsContext
from ops_center.pages.audit import audit_frame
from ops_center.session import OpsSession

COUNTY_ADMIN = User(username="root", name="县管理员", level="county", duties=["admin"])
LIJIE_ADMIN = User(username="lj_admin", name="立节镇管理员", level="township", duties=["admin"], township="立节镇")
OFFICER = User(username="jd_officer", name="杰迪村干部", level="village", duties=["officer"], township="立节镇",
               village="杰迪村")  # fmt: skip
FENGDIE_OP = User(username="fd_op", name="峰迭镇值班员", level="township", duties=["operator"], township="峰迭镇")
PASSWORD = "Zhouqu-2026-ok"


@pytest_asyncio.fixture
async def ctx(redis_url: str, var_dir: Path) -> AsyncIterator[OpsContext]:
    async def no_query(sql: str) -> list[dict[str, Any]]:
        return []

    context = OpsContext(Settings(var_dir=var_dir), bus.connect(redis_url), no_query)
    for user in (COUNTY_ADMIN, LIJIE_ADMIN, OFFICER, FENGDIE_OP):
        await context.accounts.create(user, PASSWORD)
    yield context
    await context.redis.aclose()


def as_user(ctx: OpsContext, user: User) -> OpsSession:
    return OpsSession(ctx, user, "sid", "10.1.1.1")


@pytest.mark.asyncio
async def test_a_township_admin_manages_only_their_township(ctx: OpsContext) -> None:
    lj = as_user(ctx, LIJIE_ADMIN)
    assert {u.username for u in await admin.visible_users(lj)} == {"lj_admin", "jd_officer"}
    with pytest.raises(AccessDenied):
        await admin.reset_password(lj, "fd_op")
    with pytest.raises(AccessDenied):
        await admin.reset_password(lj, "root")  # a county account is not a township admin's
    with pytest.raises(AccessDenied, match="管辖"):
        await admin.create_user(lj, User(username="x1", name="x", level="township", duties=["operator"],
                                         township="峰迭镇"))  # fmt: skip
    password = await admin.create_user(lj, User(username="lj_resp", name="处置员", level="village",
                                                duties=["responder"], township="立节镇", village="城马村"))  # fmt: skip
    user, _ = await ctx.accounts.login("lj_resp", password)  # the generated password meets the policy and works
    assert user.village == "城马村"


@pytest.mark.asyncio
async def test_a_bad_account_is_refused_with_the_reason_and_audited(ctx: OpsContext) -> None:
    with pytest.raises(AccountError, match="必须指定村"):
        await admin.create_user(as_user(ctx, COUNTY_ADMIN), User(username="v1", name="v", level="village",
                                                                 duties=["officer"], township="立节镇"))  # fmt: skip
    [rec] = [r for r in await recent(ctx.redis) if r["action"] == "user_create"]
    assert rec["ok"] is False and "必须指定村" in rec["detail"] and rec["ip"] == "10.1.1.1"


@pytest.mark.asyncio
async def test_disabling_ends_sessions_and_phone_tokens_and_reset_ends_sessions(ctx: OpsContext) -> None:
    root = as_user(ctx, COUNTY_ADMIN)
    _, sid = await ctx.accounts.login("jd_officer", PASSWORD)
    token = await admin.issue_phone_token(root, "jd_officer")
    assert await user_for(ctx.redis, token) == "jd_officer"
    await admin.set_disabled(root, "jd_officer", True)
    assert await ctx.accounts.session_user(sid) is None
    assert await user_for(ctx.redis, token) is None
    with pytest.raises(AccountError):
        await ctx.accounts.login("jd_officer", PASSWORD)
    await admin.set_disabled(root, "jd_officer", False)
    _, sid = await ctx.accounts.login("jd_officer", PASSWORD)
    new = await admin.reset_password(root, "jd_officer")
    assert await ctx.accounts.session_user(sid) is None
    assert (await ctx.accounts.login("jd_officer", new))[0].username == "jd_officer"
    with pytest.raises(AccessDenied, match="自己"):
        await admin.set_disabled(root, "root", True)


@pytest.mark.asyncio
async def test_rosters_need_the_right_duty_and_area_and_are_what_the_desk_reads(ctx: OpsContext) -> None:
    lj = as_user(ctx, LIJIE_ADMIN)
    await admin.set_roster(lj, "village", "杰迪村", "jd_officer")
    assert await ctx.redis.hget(OFFICERS, "杰迪村") == b"jd_officer"
    with pytest.raises(AccessDenied, match="村干部"):
        await admin.set_roster(lj, "village", "杰迪村", "lj_admin")
    with pytest.raises(AccessDenied):
        await admin.set_roster(lj, "village", "土桥子村", "jd_officer")  # a 峰迭镇 village
    with pytest.raises(AccessDenied):
        await admin.set_roster(lj, "county", "", "lj_admin")
    await admin.set_roster(as_user(ctx, COUNTY_ADMIN), "county", "", "root")
    assert await ctx.redis.hget(COUNTY_DUTY, "duty") == b"root"
    assert ("村值班干部", "杰迪村", "jd_officer") in await admin.rosters(lj)
    assert all(r[0] != "县级值班" for r in await admin.rosters(lj))


@pytest.mark.asyncio
async def test_without_the_admin_duty_nothing_is_managed(ctx: OpsContext) -> None:
    with pytest.raises(AccessDenied, match="无此权限"):
        await admin.visible_users(as_user(ctx, FENGDIE_OP))


def test_the_audit_table_shows_chinese_actions_and_filters() -> None:
    records = [{"ts": "1790000000000", "user": "lijie_op", "action": "accept", "target": "t1", "ok": True,
                "ip": "10.0.0.1", "detail": "{}"},
               {"ts": "1790000001000", "user": "root", "action": "login", "target": "", "ok": False,
                "ip": "10.0.0.2", "detail": "{}"}]  # fmt: skip
    frame = audit_frame(records)
    assert list(frame["操作"]) == ["受理", "登录"]
    assert list(frame["结果"]) == ["成功", "拒绝/失败"]
    assert list(audit_frame(records, what="受理")["用户"]) == ["lijie_op"]
    assert list(audit_frame(records, who="root")["操作"]) == ["登录"]


@pytest.mark.asyncio
async def test_a_user_changes_their_own_password_only_with_the_current_one(ctx: OpsContext) -> None:
    from ops_center.pages.account import change_password

    _, sid = await ctx.accounts.login("fd_op", PASSWORD)
    me = OpsSession(ctx, FENGDIE_OP, sid, "10.1.1.2")
    with pytest.raises(AccountError, match="不一致"):
        await change_password(me, PASSWORD, "New-Passw0rd-1", "New-Passw0rd-2")
    with pytest.raises(AccountError, match="当前密码不正确"):
        await change_password(me, "wrong", "New-Passw0rd-1", "New-Passw0rd-1")
    with pytest.raises(AccountError, match="三类"):
        await change_password(me, PASSWORD, "newpassword1", "newpassword1")
    assert "重新登录" in await change_password(me, PASSWORD, "New-Passw0rd-1", "New-Passw0rd-1")
    assert await ctx.accounts.session_user(sid) is None  # every session ended, this one too
    assert (await ctx.accounts.login("fd_op", "New-Passw0rd-1"))[0].username == "fd_op"
    results = [r["ok"] for r in await recent(ctx.redis) if r["action"] == "password_change"]
    assert results == [True, False, False]  # newest first; the mismatch never reached the account
