"""End to end: a simulated SOS becomes a ticket, reaches the duty officer's phone, is accepted and resolved."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

import msgspec
import pytest
import ray
import redis
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from adapters.bus import RESULTS
from adapters.push.tokens import add_token
from adapters.rosters import OFFICERS
from core.events import Sample
from core.incidents import TicketCommand
from core.kinds import DeviceProfile
from core.kinds.wristband import WristbandReading
from runtime.platform import Platform
from tests.runtime.platform_kit import count, post, register, wait

pytestmark = pytest.mark.slow

ELDER = DeviceProfile(
    device_id="wb-sos01", kind="wristband", village="杰迪村", township="立节镇", lat=33.8, lon=104.25,
    params={"family": "family-wb-sos01"},
)  # fmt: skip
OFFICER = "officer-jiedi"


async def _token(p: Platform, user: str) -> str:
    client = aioredis.Redis.from_url(p.redis_url)
    await client.hset(OFFICERS, "杰迪村", OFFICER)
    token = await add_token(client, user)
    await client.aclose()
    return token


async def _phone(p: Platform, token: str) -> Any:
    s = p.settings.push
    return await connect(
        f"ws://127.0.0.1:{s.port}/push", additional_headers={"Authorization": f"Bearer {token}"},
        origin=f"http://127.0.0.1:{s.page_port}",  # type: ignore[arg-type]
    )  # fmt: skip


async def _next(ws: Any, type_: str) -> dict[str, Any]:
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if msg.get("type") == type_:
            return msg


def test_sos_reaches_the_officer_who_accepts_and_resolves_it_with_history_in_clickhouse(platform: Platform) -> None:
    register(platform, [ELDER])

    async def go() -> dict[str, Any]:
        ws = await _phone(platform, await _token(platform, OFFICER))
        now = int(time.time() * 1000)
        sos = [Sample(seq=1, ts=now, v=WristbandReading(alarm="sos", lat=33.8, lon=104.25))]
        assert await asyncio.to_thread(post, platform, ELDER.device_id, sos) == 200
        dispatch = await _next(ws, "dispatch")
        await ws.send(json.dumps({"type": "ack", "dispatch_id": dispatch["dispatch_id"]}))
        for action, extra in (("start", {}), ("arrive", {}), ("resolve", {"note": "已送医，家属已到场"})):
            await ws.send(json.dumps({"type": "action", "ticket_id": dispatch["ticket_id"], "action": action,
                                      "key": f"k-{action}", **extra}))  # fmt: skip
            await _next(ws, "accepted")
        await ws.close()
        return dispatch

    dispatch = asyncio.run(go())
    assert dispatch["role"] == "responder"
    assert dispatch["village"] == "杰迪村"
    tid = dispatch["ticket_id"]
    where = f"ticket_id = '{tid}'"
    assert wait(lambda: count(platform, "ticket_events", f"{where} AND action = 'resolve'") == 1, timeout=30)
    history = platform.query(f"SELECT seq, action, actor, to_state FROM zq.ticket_events WHERE {where} ORDER BY seq")
    assert [h["action"] for h in history] == ["open", "accept", "dispatch", "start", "arrive", "resolve"]
    assert [h["seq"] for h in history] == list(range(1, 7))
    assert history[-1]["actor"] == OFFICER
    assert history[-1]["to_state"] == "办结"


def test_command_for_a_closed_or_unknown_ticket_is_refused_with_a_reason(platform: Platform) -> None:
    client = redis.Redis.from_url(platform.redis_url)
    cmd = TicketCommand(key="bad-1", ticket_id="no-such-ticket", action="accept", actor="op-1", ts=1)
    client.xadd("commands", {b"c": msgspec.msgpack.encode(cmd)})
    client.xadd("commands", {b"c": b"\xc1 not msgpack"})

    def results() -> list[dict[bytes, bytes]]:
        return [f for _, f in client.xrange(RESULTS)]

    got = wait(lambda: len(results()) >= 2 and results())
    client.close()
    by_key = {r[b"key"]: r for r in got}
    assert by_key[b"bad-1"][b"ok"] == b"0"
    assert "no such ticket" in by_key[b"bad-1"][b"error"].decode()
    assert by_key[b""][b"error"].startswith(b"malformed command")


def test_desk_killed_mid_run_loses_no_dispatch_and_repeats_no_transition(platform: Platform) -> None:
    elders = [msgspec.structs.replace(ELDER, device_id=f"wb-sos1{i}") for i in range(6)]
    register(platform, elders)

    async def go() -> set[str]:
        ws = await _phone(platform, await _token(platform, OFFICER))
        got: set[str] = set()

        async def alarm(e: DeviceProfile) -> None:
            sample = [Sample(seq=1, ts=int(time.time() * 1000), v=WristbandReading(alarm="sos"))]
            assert await asyncio.to_thread(post, platform, e.device_id, sample) == 200

        async def receive(n: int) -> None:
            while len(got) < n:
                msg = await _next(ws, "dispatch")
                got.add(msg["ticket_id"])
                await ws.send(json.dumps({"type": "ack", "dispatch_id": msg["dispatch_id"]}))

        for e in elders[:3]:
            await alarm(e)
        await receive(3)
        await asyncio.to_thread(_kill9, platform.desk)
        for e in elders[3:]:
            await alarm(e)
        await receive(6)
        await ws.close()
        return got

    got = asyncio.run(go())
    assert {t.split(":")[1] for t in got} == {e.device_id for e in elders}
    assert wait(lambda: count(platform, "ticket_events", "action = 'dispatch'") == 6, timeout=30)
    rows = platform.query("SELECT count() AS n, uniqExact(ticket_id, seq) AS u FROM zq.ticket_events")[0]
    assert int(rows["n"]) == int(rows["u"])


def _kill9(actor: Any) -> None:
    pid = int(ray.get(actor.stats.remote())["pid"])
    os.kill(pid, signal.SIGKILL)
