"""Per-account session bookkeeping in Redis does not outlive the sessions it lists."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from adapters.accounts import USER_SESSIONS, Accounts
from core.access import User
from core.settings import OpsSettings


@pytest.mark.asyncio
async def test_the_set_of_an_accounts_sessions_expires_when_its_newest_session_must_have_ended(
    r: aioredis.Redis,
) -> None:
    accounts = Accounts(r, OpsSettings(idle_timeout_s=300, max_session_s=3_600))
    user = User(username="lijie_op", name="立节镇值班员", level="township", duties=["operator"], township="立节镇")
    await accounts.create(user, "Lijie-2024-pass!")
    await accounts.login("lijie_op", "Lijie-2024-pass!")  # never logged out: its session just times out
    ttl = await r.ttl(USER_SESSIONS + "lijie_op")
    assert 0 < ttl <= 3_600
