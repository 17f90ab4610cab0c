"""Fixtures of the ledger pages and API tests: a real SQLite store over the default ledgers plus a test ledger with
every field type, an ops context on the session's Redis with an account of each role logged in, and the API served
by tornado on a free port."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from ledger_testkit import (
    COUNTY_ADMIN,
    COUNTY_OP,
    OFFICER_A,
    OFFICER_B,
    TOWNSHIP_OP_A,
    TOWNSHIP_OP_B,
    AuditLog,
    open_store,
    sqlite_url,
)
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from adapters import audit, bus
from core.access import User
from core.settings import Settings
from ledgers.loader import DEFAULT_DIR
from ops_center.context import OpsContext
from ops_center.ledger_routes import patterns
from ops_center.ledger_views.common import audits_written

PASSWORD = "Zhouqu-2026-ok"
AUDITOR = User(username="auditor", name="县审计员", level="county", duties=["auditor"])
KIOSK = User(username="screen_a", name="狼岔坝村大屏", level="village", duties=["kiosk"], township="大川镇",
             village="狼岔坝村")  # fmt: skip
USERS = (OFFICER_A, OFFICER_B, TOWNSHIP_OP_A, TOWNSHIP_OP_B, COUNTY_OP, COUNTY_ADMIN, AUDITOR, KIOSK)
# a ledger with one field of every type (and a personal, looked-up phone), beside the default ones
FACILITY = """
ledger: facility
title: 测试设施
group: 测试
prefix: FC
help: 各类字段的测试台账。
fields:
  - {key: name, label: 名称, type: text, required: true, column: true, search: true, max_length: 60}
  - {key: rooms, label: 房间数, type: integer, unit: 间, min: 0, max: 500, column: true, sort: true, filter: true}
  - {key: floor_area, label: 面积, type: decimal, unit: 平方米, scale: 1, min: 0, filter: true}
  - {key: opened, label: 开业日期, type: date, not_future: true, sort: true, filter: true}
  - {key: grade, label: 等级, type: enum, options: [甲, 乙, 丙], filter: true, column: true}
  - {key: open_now, label: 营业中, type: bool, filter: true}
  - {key: owner, label: 所属户, type: ref, ledger: household, filter: true}
  - {key: served, label: 服务村, type: place, filter: true}
  - {key: position, label: 位置, type: geo}
  - {key: photo, label: 照片, type: attachment}
  - {key: phone, label: 电话, type: text, format: phone, personal: phone, lookup: true}
stats:
  - {key: facilities, label: 设施数}
  - {key: rooms, label: 房间数, sum: rooms}
map: {field: position, label: 测试设施, title: name}
"""
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def decl_dir(tmp_path: Path) -> Path:
    """The default declarations plus the facility test ledger."""
    target = tmp_path / "decl"
    shutil.copytree(DEFAULT_DIR, target)
    (target / "facility.yaml").write_text(FACILITY, encoding="utf-8")
    return target


@pytest_asyncio.fixture
async def ledger_ctx(redis_url: str, var_dir: Path, decl_dir: Path, tmp_path: Path
                     ) -> AsyncIterator[tuple[OpsContext, AuditLog]]:  # fmt: skip
    """An ops context with a real SQLite ledger store (page size 10) and an account of each role."""
    store, log = open_store(sqlite_url(tmp_path), decl_dir)

    async def query(sql: str) -> list[dict[str, Any]]:
        return []

    settings = Settings(var_dir=var_dir, records={"page_size": 10, "attachment_max_mb": 1})
    ctx = OpsContext(settings, bus.connect(redis_url), query, ledgers=store)
    for user in USERS:
        await ctx.accounts.create(user, PASSWORD)
    try:
        yield ctx, log
    finally:
        await audits_written()
        await ctx.redis.aclose()
        store.engine.dispose()


async def audits(ctx: OpsContext, action: str) -> list[dict[str, Any]]:
    """The audit records of one action written so far (newest first), once the store's writes have landed."""
    await audits_written()
    for _ in range(50):
        found = [r for r in await audit.recent(ctx.redis, 1000) if r["action"] == action]
        if found:
            return found
        await asyncio.sleep(0.02)
    return []


@dataclass
class Api:
    """A client of the ledger API served on a free port, logged in as any of the test accounts."""

    ctx: OpsContext
    http: aiohttp.ClientSession
    base: str
    sids: dict[str, str] = field(default_factory=dict)

    async def sid(self, user: User) -> str:
        """A login session of the account."""
        if user.username not in self.sids:
            _, self.sids[user.username] = await self.ctx.accounts.login(user.username, PASSWORD)
        return self.sids[user.username]

    async def call(self, method: str, path: str, user: User | None = None, *, body: Any = None,
                   data: bytes | None = None, xhr: bool = True, params: dict[str, str] | None = None
                   ) -> tuple[int, Any, Any]:  # fmt: skip
        """(status, JSON body or bytes, headers) of one request."""
        headers = {"X-Requested-With": "XMLHttpRequest"} if xhr else {}
        if user is not None:
            headers["Cookie"] = f"zq_ops={await self.sid(user)}"
        payload = json.dumps(body).encode() if body is not None else data
        async with self.http.request(method, self.base + path, data=payload, headers=headers, params=params) as resp:
            raw = await resp.read()
            kind = resp.headers.get("Content-Type", "")
            return resp.status, json.loads(raw) if kind.startswith("application/json") else raw, resp.headers


@pytest_asyncio.fixture
async def api(ledger_ctx: tuple[OpsContext, AuditLog]) -> AsyncIterator[Api]:
    """The ledger API (ops_center.ledger_api's routes) on a free port of this test's event loop."""
    ctx, _ = ledger_ctx
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(Application(patterns(ctx)), max_body_size=200 * 2**20)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    async with aiohttp.ClientSession() as http:
        yield Api(ctx, http, f"http://127.0.0.1:{port}")
    server.stop()
    await server.close_all_connections()
