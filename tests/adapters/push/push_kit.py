"""Helpers of the push tests: settings, dispatches, websocket clients and waiting."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from adapters.push.service import PushService
from adapters.push.store import DISPATCH
from core.incidents import Dispatch
from core.settings import BusSettings, PushSettings

ORIGIN = "http://responder.test"
BUS = BusSettings(block_ms=50, claim_idle_ms=1000)


def make_settings(var: Path, **kw: Any) -> PushSettings:
    """Test push settings: free ports, the test origin, fast checks; kw overrides."""
    base: dict[str, Any] = {
        "port": 0, "page_port": 0, "allowed_origins": [ORIGIN], "sms_after_s": 60, "sms_check_s": 0.1,
        "var_dir": var,
    }  # fmt: skip
    return PushSettings(**{**base, **kw})


def dispatch(n: int, user: str = "u1", ts: int | None = None, ticket: str = "", **kw: Any) -> Dispatch:
    """Dispatch d<n> of ticket t<n> (or `ticket`) to a responder."""
    fields: dict[str, Any] = dict(
        dispatch_id=f"d{n}", ticket_id=ticket or f"t{n}", recipient=user, role="responder",
        title=f"<b>山体滑坡</b> #{n}", severity=2, village="立节镇北山村", ts=ts or int(time.time() * 1000),
    )  # fmt: skip
    return Dispatch(**(fields | kw))


def url(service: PushService, query: str = "") -> str:
    """The service's websocket URL."""
    return f"ws://127.0.0.1:{service.port}/push{query}"


def open_ws(service: PushService, token: str, origin: str | None = ORIGIN) -> connect:
    """A phone connection with a bearer header."""
    return connect(url(service), additional_headers={"Authorization": f"Bearer {token}"}, origin=origin)  # type: ignore[arg-type]


async def recv(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next JSON message."""
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def ask(ws: ClientConnection, msg: Any) -> dict[str, Any]:
    """Send one message and return the reply."""
    await ws.send(msg if isinstance(msg, str | bytes) else json.dumps(msg))
    return await recv(ws)


async def xadd(r: aioredis.Redis, d: Dispatch) -> None:
    """Put a dispatch on the `dispatch` stream as the desk does."""
    await r.xadd(DISPATCH, {b"d": msgspec.msgpack.encode(d)})


async def refused(service: PushService, **kw: Any) -> int:
    """The HTTP status of a refused handshake."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(url(service, kw.pop("query", "")), **kw):
            pass
    return info.value.response.status_code


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Wait until the check holds."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def true(value: Any) -> bool:
    """An awaitable truth test, for `eventually`."""
    return bool(value)
