"""Push websocket against a real Redis: handshake checks, delivery, acks, redelivery after reconnect and restart,
the SMS fallback, responder actions to `commands`, and errors that leave the connection usable."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis
from push_kit import ORIGIN, ask, dispatch, eventually, open_ws, recv, refused, url, xadd
from push_kit import true as _true
from websockets.asyncio.client import connect

from adapters.push.sms import FileSmsOutbox
from adapters.push.store import COMMANDS, DISPATCH, DUE, GROUP, pending_key
from adapters.push.tokens import TOKEN, add_token, token_hash
from core.incidents import TicketCommand


@pytest.mark.asyncio
async def test_wrong_token_is_refused_with_401(push: Any, r: aioredis.Redis) -> None:
    service = await push()
    token = await add_token(r, "u1")
    assert await refused(service, origin=ORIGIN) == 401
    assert await refused(service, origin=ORIGIN, additional_headers={"Authorization": "Bearer nope"}) == 401
    assert await refused(service, origin=ORIGIN, query=f"?token={token}") == 401  # never in the URL
    assert await refused(service, origin=ORIGIN, additional_headers={"Authorization": f"Basic {token}"}) == 401
    assert await refused(service, origin=ORIGIN, subprotocols=["zq-push", "zq-token.nope"]) == 401
    offer = ["zq-push", f"zq-token.{token}"]  # how the browser page sends it
    async with connect(url(service), origin=ORIGIN, subprotocols=offer) as ws:  # type: ignore[arg-type,list-item]
        assert ws.subprotocol == "zq-push"  # the token is not echoed back
        assert await ask(ws, {"type": "ping"}) == {"type": "pong"}
    assert [k async for k in r.scan_iter("push:token:*")] == [TOKEN.encode() + token_hash(token).encode()]
    assert await r.get(TOKEN + token_hash(token)) == b"u1"  # only the hash is kept


@pytest.mark.asyncio
async def test_wrong_or_missing_origin_is_refused_with_403(push: Any, r: aioredis.Redis) -> None:
    service = await push()
    token = await add_token(r, "u1")
    auth = {"Authorization": f"Bearer {token}"}
    assert await refused(service, origin="http://evil.test", additional_headers=auth) == 403
    assert await refused(service, additional_headers=auth) == 403  # missing Origin: not allowed by default
    assert await refused(service, origin="http://evil.test") == 403  # origin checked before the token
    native = await push(allow_missing_origin=True)
    async with open_ws(native, token, origin=None) as ws:
        assert await ask(ws, {"type": "ping"}) == {"type": "pong"}
    assert await refused(native, origin="http://evil.test", additional_headers=auth) == 403


@pytest.mark.asyncio
async def test_dispatch_reaches_responder_and_ack_removes_it(push: Any, r: aioredis.Redis) -> None:
    service = await push()
    token = await add_token(r, "u1")
    async with open_ws(service, token) as ws:
        await eventually(lambda: _true(service.server.connections.get("u1")))
        await xadd(r, dispatch(1))
        got = await recv(ws)
        assert got["type"] == "dispatch" and got["dispatch_id"] == "d1" and got["title"] == "<b>山体滑坡</b> #1"
        assert got["village"] == "立节镇北山村" and got["severity"] == 2 and got["recipient"] == "u1"
        assert await r.hexists(pending_key("u1"), "d1")  # stored before the stream entry was acked
        assert (await r.xpending(DISPATCH, GROUP))["pending"] == 0
        assert await ask(ws, {"type": "ack", "dispatch_id": "d1"}) == {"type": "acked", "dispatch_id": "d1"}
        assert await ask(ws, {"type": "ack", "dispatch_id": "d1"}) == {"type": "acked", "dispatch_id": "d1"}
    assert not await r.hexists(pending_key("u1"), "d1")
    assert await r.zcard(DUE) == 0
    acked = await service.server.store.acked_at("d1")
    assert acked is not None and abs(acked - time.time() * 1000) < 10_000
    async with open_ws(service, token) as ws:  # acknowledged: not sent again
        assert await ask(ws, {"type": "ping"}) == {"type": "pong"}


@pytest.mark.asyncio
async def test_other_users_ack_and_dispatch_stay_separate(push: Any, r: aioredis.Redis) -> None:
    service = await push()
    t1, t2 = await add_token(r, "u1"), await add_token(r, "u2")
    await xadd(r, dispatch(1, user="u1"))
    await eventually(lambda: r.hexists(pending_key("u1"), "d1"))
    async with open_ws(service, t2) as ws:
        assert (await ask(ws, {"type": "ack", "dispatch_id": "d1"}))["type"] == "error"
    async with open_ws(service, t1) as ws:
        assert (await recv(ws))["dispatch_id"] == "d1"


@pytest.mark.asyncio
async def test_a_dispatch_is_sent_once_per_connection_when_the_resend_and_the_live_feed_meet(
    push: Any, r: aioredis.Redis
) -> None:
    service = await push()
    token = await add_token(r, "u1")
    await xadd(r, dispatch(1))
    await eventually(lambda: r.hexists(pending_key("u1"), "d1"))
    async with open_ws(service, token) as ws:
        assert (await recv(ws))["dispatch_id"] == "d1"  # the resend on connect
        stored = await service.server.store.get("u1", "d1")
        assert stored is not None
        await service.server.deliver(stored)  # the live feed delivering the same stored dispatch late
        assert await ask(ws, {"type": "ping"}) == {"type": "pong"}
        async with open_ws(service, token) as second:  # another phone of the same user still gets it
            assert (await recv(second))["dispatch_id"] == "d1"


@pytest.mark.asyncio
async def test_unacked_dispatch_is_sent_again_on_reconnect_in_creation_order(push: Any, r: aioredis.Redis) -> None:
    service = await push()
    token = await add_token(r, "u1")
    now = int(time.time() * 1000)
    await xadd(r, dispatch(2, ts=now))  # created later, arrives first
    await xadd(r, dispatch(1, ts=now - 1000))
    async with open_ws(service, token) as ws:
        got = {(await recv(ws))["dispatch_id"], (await recv(ws))["dispatch_id"]}
        assert got == {"d1", "d2"}
    for _ in range(2):
        async with open_ws(service, token) as ws:
            assert [(await recv(ws))["dispatch_id"] for _ in range(2)] == ["d1", "d2"]
    async with open_ws(service, token) as ws:
        assert [(await recv(ws))["dispatch_id"] for _ in range(2)] == ["d1", "d2"]
        await ask(ws, {"type": "ack", "dispatch_id": "d1"})
    async with open_ws(service, token) as ws:
        assert (await recv(ws))["dispatch_id"] == "d2"
        assert await ask(ws, {"type": "ping"}) == {"type": "pong"}  # nothing else queued


@pytest.mark.asyncio
async def test_unacked_dispatch_survives_a_push_service_restart(push: Any, r: aioredis.Redis) -> None:
    first = await push()
    token = await add_token(r, "u1")
    async with open_ws(first, token) as ws:
        await xadd(r, dispatch(1))
        assert (await recv(ws))["dispatch_id"] == "d1"
    await first.stop()
    await xadd(r, dispatch(2))  # arrives while no push service runs
    second = await push()
    async with open_ws(second, token) as ws:
        assert [(await recv(ws))["dispatch_id"] for _ in range(2)] == ["d1", "d2"]


@pytest.mark.asyncio
async def test_offline_user_gets_exactly_one_sms_with_masked_phone(
    push: Any, r: aioredis.Redis, tmp_path: Path
) -> None:
    service = await push(sms_after_s=0.3)
    outbox = FileSmsOutbox(tmp_path / "var" / "sms_outbox.jsonl")
    await r.hset("push:phones", mapping={"u1": "13812345678", "u2": "13900001111"})
    token2 = await add_token(r, "u2")
    async with open_ws(service, token2) as ws:  # u2 stays online: no SMS, only the push
        await eventually(lambda: _true(service.server.connections.get("u2")))
        await xadd(r, dispatch(1, user="u1"))
        await xadd(r, dispatch(2, user="u2"))
        assert (await recv(ws))["dispatch_id"] == "d2"
        await eventually(lambda: _true(outbox.lines()))
        await asyncio.sleep(0.6)  # several more checks: still exactly one
    await service.stop()
    again = await push(sms_after_s=0.3)  # a restart sends no second SMS either
    await asyncio.sleep(0.5)
    lines = outbox.lines()
    assert [line["dispatch_id"] for line in lines if line["recipient"] == "u1"] == ["d1"]
    line = lines[0]
    assert line["phone"] == "138****5678" and "13812345678" not in outbox.path.read_text(encoding="utf-8")
    assert "山体滑坡" in str(line["text"]) and "立节镇北山村" in str(line["text"]) and isinstance(line["ts"], int)
    await again.stop()
    # u2 went offline after the deadline with d2 unacknowledged: one SMS for d2 once the checks notice
    third = await push(sms_after_s=0.3)
    await eventually(lambda: _true([x for x in outbox.lines() if x["recipient"] == "u2"]))
    await asyncio.sleep(0.3)
    assert sorted(x["dispatch_id"] for x in outbox.lines()) == ["d1", "d2"]
    assert third.port


@pytest.mark.asyncio
async def test_acked_dispatch_gets_no_sms(push: Any, r: aioredis.Redis, tmp_path: Path) -> None:
    service = await push(sms_after_s=0.3)
    await r.hset("push:phones", "u1", "13812345678")
    token = await add_token(r, "u1")
    async with open_ws(service, token) as ws:
        await xadd(r, dispatch(1))
        assert (await recv(ws))["dispatch_id"] == "d1"
        await ask(ws, {"type": "ack", "dispatch_id": "d1"})
    await asyncio.sleep(0.7)
    assert FileSmsOutbox(tmp_path / "var" / "sms_outbox.jsonl").lines() == []


@pytest.mark.asyncio
async def test_action_becomes_ticket_command_with_user_as_actor(push: Any, r: aioredis.Redis) -> None:
    service = await push()
    token = await add_token(r, "u1")
    async with open_ws(service, token) as ws:
        await xadd(r, dispatch(1, ticket="T-100"))
        assert (await recv(ws))["ticket_id"] == "T-100"
        reply = await ask(ws, {"type": "action", "ticket_id": "T-100", "action": "start", "key": "k-1"})
        assert reply == {"type": "accepted", "ticket_id": "T-100", "action": "start", "key": "k-1"}
        reply = await ask(ws, {"type": "action", "ticket_id": "T-100", "action": "arrive", "note": "已到达现场"})
        assert reply["type"] == "accepted" and reply["key"]
        refused = await ask(ws, {"type": "action", "ticket_id": "T-999", "action": "resolve"})
        assert refused["type"] == "error"  # not dispatched to this user
    entries = await r.xrange(COMMANDS)
    cmds = [msgspec.msgpack.decode(f[b"c"], type=TicketCommand) for _, f in entries]
    assert [(c.ticket_id, c.action, c.actor) for c in cmds] == [("T-100", "start", "u1"), ("T-100", "arrive", "u1")]
    assert cmds[0].key == "k-1" and cmds[1].key not in ("", "k-1") and cmds[1].note == "已到达现场"
    assert abs(cmds[0].ts - time.time() * 1000) < 10_000


@pytest.mark.asyncio
async def test_malformed_messages_get_errors_and_connection_stays_usable(push: Any, r: aioredis.Redis) -> None:
    service = await push()
    token = await add_token(r, "u1")
    async with open_ws(service, token) as ws:
        for bad in ["not json {", "[1, 2]", json.dumps({"type": "bogus"}), json.dumps({"no": "type"}), b"\x00\x01",
                    json.dumps({"type": "action", "ticket_id": "t1", "action": "explode"}),
                    json.dumps({"type": "action", "ticket_id": 5, "action": "start"}),
                    json.dumps({"type": "action", "ticket_id": "t1", "action": "resolve", "photo": "/etc/passwd"}),
                    json.dumps({"type": "ack"}), json.dumps({"type": "ack", "dispatch_id": "nope"})]:  # fmt: skip
            reply = await ask(ws, bad)
            assert reply["type"] == "error" and reply["error"], bad
        await xadd(r, dispatch(1))
        assert (await recv(ws))["dispatch_id"] == "d1"
        assert (await ask(ws, {"type": "ack", "dispatch_id": "d1"}))["type"] == "acked"


@pytest.mark.asyncio
async def test_malformed_stream_entry_goes_to_dead_letter(push: Any, r: aioredis.Redis) -> None:
    service = await push()
    token = await add_token(r, "u1")
    await r.xadd(DISPATCH, {b"d": b"\xc1garbage"})
    await xadd(r, dispatch(1))
    async with open_ws(service, token) as ws:
        assert (await recv(ws))["dispatch_id"] == "d1"
    await eventually(lambda: r.xlen("dead"))
    assert (await r.xpending(DISPATCH, GROUP))["pending"] == 0


@pytest.mark.asyncio
async def test_tokens_never_reach_the_logs(push: Any, r: aioredis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    service = await push()
    token = await add_token(r, "u1")
    offer = ["zq-push", f"zq-token.{token}"]
    async with connect(url(service), origin=ORIGIN, subprotocols=offer) as ws:  # type: ignore[arg-type,list-item]
        await ask(ws, {"type": "ping"})
    async with open_ws(service, token) as ws:
        await ask(ws, {"type": "ping"})
    await refused(service, origin=ORIGIN, subprotocols=["zq-push", "zq-token.wrong-secret"])
    ours = "\n".join(rec.getMessage() for rec in caplog.records if rec.name.startswith("adapters"))  # not the client's
    assert "zq-token.***" in ours and "Bearer ***" in ours and token not in ours and "wrong-secret" not in ours
