"""A self-refreshing page keeps only a kiosk account's session alive. Real Redis, real accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from adapters.accounts import SESSIONS, Accounts
from core.access import DUTY_ZH, User, can
from core.settings import OpsSettings, Settings
from ops_center.context import OpsContext
from ops_center.session import OpsSession

GOOD = "Quiet-river-42"


@pytest.mark.asyncio
async def test_only_a_kiosk_accounts_session_is_kept_alive_by_a_self_refreshing_page(
    r: aioredis.Redis, var_dir: Path
) -> None:  # fmt: skip
    async def no_query(sql: str) -> list[dict[str, Any]]:
        return []

    accounts = Accounts(r, OpsSettings(idle_timeout_s=300))
    ctx = OpsContext(Settings(var_dir=var_dir), accounts.redis, no_query)
    ctx.accounts = accounts
    kiosk = User(username="screen1", name="狼岔坝村大屏", level="village", duties=["kiosk"], township="大川镇",
                 village="狼岔坝村")  # fmt: skip
    operator = User(username="lijie_op", name="立节镇值班员", level="township", duties=["operator"], township="立节镇")
    assert can(kiosk, "screen") and not can(kiosk, "view") and DUTY_ZH["kiosk"] == "大屏展示"
    for user in (kiosk, operator):
        await accounts.create(user, GOOD)
        _, sid = await accounts.login(user.username, GOOD)
        await accounts.redis.expire(SESSIONS + sid, 20)
        session = OpsSession(ctx, user, sid, "127.0.0.1")
        assert await session.check(refreshes=True)
        refreshed = await accounts.redis.ttl(SESSIONS + sid) > 20
        assert refreshed == (user is kiosk), user.username  # an operator's big screen does not keep them logged in
