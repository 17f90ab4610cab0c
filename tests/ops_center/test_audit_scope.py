"""The audit page is scoped like every other page: a township sees the records of its own accounts, the county all.
Real Redis, real accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters import audit, bus
from core.access import User
from core.settings import Settings
from ops_center.context import OpsContext
from ops_center.pages.audit import visible_records
from ops_center.session import OpsSession

USERS = [
    User(username="lijie_admin", name="立节镇管理员", level="township", duties=["admin"], township="立节镇"),
    User(username="lijie_op", name="立节镇值班员", level="township", duties=["operator"], township="立节镇"),
    User(username="jiedi_officer", name="杰迪村干部", level="village", duties=["officer"], township="立节镇",
         village="杰迪村"),
    User(username="fengdie_op", name="峰迭镇值班员", level="township", duties=["operator"], township="峰迭镇"),
    User(username="county_op", name="县值班员", level="county", duties=["operator"]),
    User(username="auditor", name="县审计员", level="county", duties=["auditor"]),
]  # fmt: skip


@pytest_asyncio.fixture
async def ctx(redis_url: str, var_dir: Path) -> AsyncIterator[OpsContext]:
    async def no_query(sql: str) -> list[dict[str, Any]]:
        return []

    context = OpsContext(Settings(var_dir=var_dir), bus.connect(redis_url), no_query)
    for user in USERS:
        await context.accounts.create(user, "Zhouqu-2026-ok")
    yield context
    await context.redis.aclose()


@pytest.mark.asyncio
async def test_a_township_admin_sees_only_its_townships_records_and_the_county_sees_all(ctx: OpsContext) -> None:
    for user in ("lijie_op", "jiedi_officer", "fengdie_op", "county_op", "nobody"):  # "nobody": a failed login
        await audit.record(ctx.redis, user, "accept" if user != "nobody" else "login", f"t-{user}", ok=True)
    by = {u.username: u for u in USERS}
    township = {r["user"] for r in await visible_records(OpsSession(ctx, by["lijie_admin"], "s", "10.0.0.1"))}
    assert township == {"lijie_op", "jiedi_officer"}
    county = {r["user"] for r in await visible_records(OpsSession(ctx, by["auditor"], "s", "10.0.0.1"))}
    assert county == {"lijie_op", "jiedi_officer", "fengdie_op", "county_op", "nobody"}
