"""Phone access ends with the account: disabling it anywhere, a revoked, re-issued or expired token, and a
ticket re-dispatched to someone else all close or refuse the phone; phone actions are audited."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis
from push_kit import ORIGIN, ask, dispatch, open_ws, recv, refused, xadd
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from adapters.accounts import Accounts
from adapters.audit import recent
from adapters.push.server import CLOSE_REVOKED
from adapters.push.store import COMMANDS
from adapters.push.tokens import ACCOUNTS, add_token, user_for
from core.access import User
from core.incidents import TicketCommand
from core.settings import Settings
from ops_center import admin
from ops_center.context import OpsContext
from ops_center.session import OpsSession

RESPONDER = User(username="jd_resp", name="杰迪村处置员", level="village", duties=["responder"], township="立节镇",
                 village="杰迪村")  # fmt: skip
ROOT = User(username="root", name="县管理员", level="county", duties=["admin"])
PASSWORD = "Zhouqu-2026-ok"


async def closed_code(ws: ClientConnection, timeout: float = 5.0) -> int | None:
    """Wait for the server to close the connection; its close code."""
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    return ws.close_code


async def accounts(r: aioredis.Redis) -> Accounts:
    made = Accounts(r, Settings().ops)
    for user in (RESPONDER, ROOT):
        await made.create(user, PASSWORD)
    return made


@pytest.mark.asyncio
async def test_disabling_from_the_command_line_closes_the_phone_and_refuses_its_token(
    push: Any, r: aioredis.Redis, redis_url: str
) -> None:
    service = await push()
    await accounts(r)
    token = await add_token(r, "jd_resp")
    async with open_ws(service, token) as ws:
        assert await ask(ws, {"type": "ping"}) == {"type": "pong"}
        env = {**os.environ, "REDIS_URL": redis_url}
        cli = [sys.executable, "-m", "adapters.accounts_cli", "disable", "jd_resp"]
        await asyncio.to_thread(subprocess.run, cli, env=env, check=True, capture_output=True, timeout=120)
        assert await closed_code(ws) == CLOSE_REVOKED  # closed by the push process, told over Redis
    assert await user_for(r, token) is None
    assert await refused(service, origin=ORIGIN, additional_headers={"Authorization": f"Bearer {token}"}) == 401


@pytest.mark.asyncio
async def test_disabling_on_the_admin_page_closes_the_phone_and_reissue_replaces_the_token(
    push: Any, r: aioredis.Redis, var_dir: Path
) -> None:
    service = await push()
    await accounts(r)
    ctx = OpsContext(Settings(var_dir=var_dir), r, lambda sql: asyncio.sleep(0, []))  # type: ignore[arg-type]
    root = OpsSession(ctx, ROOT, "sid", "10.1.1.1")
    first = await admin.issue_phone_token(root, "jd_resp")
    async with open_ws(service, first) as ws:
        second = await admin.issue_phone_token(root, "jd_resp")  # re-issued: the first stops at once
        assert await closed_code(ws) == CLOSE_REVOKED
    assert await user_for(r, first) is None and await user_for(r, second) == "jd_resp"
    async with open_ws(service, second) as ws:
        await admin.set_disabled(root, "jd_resp", True)
        assert await closed_code(ws) == CLOSE_REVOKED
    assert await user_for(r, second) is None
    with pytest.raises(admin.AccessDenied, match="停用"):
        await admin.issue_phone_token(root, "jd_resp")
    with pytest.raises(ValueError, match="disabled"):
        await add_token(r, "jd_resp")  # the token CLI's path refuses too


@pytest.mark.asyncio
async def test_a_disabled_account_is_refused_at_the_handshake_and_on_every_message(
    push: Any, r: aioredis.Redis
) -> None:
    service = await push()
    made = await accounts(r)
    token = await add_token(r, "jd_resp")
    async with open_ws(service, token) as ws:
        user = await made.get("jd_resp")
        assert user is not None  # disabled behind the revocation's back: the status itself is checked
        await r.hset(ACCOUNTS, "jd_resp", msgspec.msgpack.encode(msgspec.structs.replace(user, disabled=True)))
        await ws.send(json.dumps({"type": "action", "ticket_id": "t1", "action": "start"}))
        assert await closed_code(ws) == CLOSE_REVOKED
    assert await refused(service, origin=ORIGIN, additional_headers={"Authorization": f"Bearer {token}"}) == 401
    assert await r.xlen(COMMANDS) == 0


@pytest.mark.asyncio
async def test_a_token_expires_and_its_open_connection_ends(push: Any, r: aioredis.Redis) -> None:
    service = await push()
    token = await add_token(r, "u1", ttl_s=1)
    async with open_ws(service, token) as ws:
        assert await ask(ws, {"type": "ping"}) == {"type": "pong"}
        await asyncio.sleep(1.3)
        assert await service.server.recheck() == 1  # what the periodic check does
        assert await closed_code(ws) == CLOSE_REVOKED
    assert await refused(service, origin=ORIGIN, additional_headers={"Authorization": f"Bearer {token}"}) == 401


@pytest.mark.asyncio
async def test_only_the_current_assignee_acts_and_phone_actions_are_audited(push: Any, r: aioredis.Redis) -> None:
    service = await push()
    t1, t2 = await add_token(r, "u1"), await add_token(r, "u2")
    await xadd(r, dispatch(1, user="u1", ticket="T-1"))
    await xadd(r, dispatch(2, user="u2", ticket="T-1"))  # re-dispatched from u1 to u2
    await xadd(r, dispatch(3, user="u1", ticket="T-1", role="escalation"))  # a notification is not an assignment
    async with open_ws(service, t1) as past, open_ws(service, t2) as current:
        assert {(await recv(past))["dispatch_id"], (await recv(past))["dispatch_id"]} == {"d1", "d3"}
        assert (await recv(current))["dispatch_id"] == "d2"
        refused_reply = await ask(past, {"type": "action", "ticket_id": "T-1", "action": "start", "key": "k-1"})
        assert refused_reply["type"] == "error" and "not currently dispatched" in refused_reply["error"]
        reply = await ask(current, {"type": "action", "ticket_id": "T-1", "action": "start", "key": "k-2"})
        assert reply["type"] == "accepted"
    cmds = [msgspec.msgpack.decode(f[b"c"], type=TicketCommand) for _, f in await r.xrange(COMMANDS)]
    assert [(c.actor, c.key) for c in cmds] == [("u2", "k-2")]
    audit = [(a["user"], a["action"], a["target"], a["ok"]) for a in await recent(r) if a["action"] == "phone_start"]
    assert sorted(audit) == [("u1", "phone_start", "T-1", False), ("u2", "phone_start", "T-1", True)]
    assert all(a["ip"] == "127.0.0.1" for a in await recent(r))

