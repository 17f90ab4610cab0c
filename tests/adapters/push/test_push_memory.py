"""A long-lived phone connection remembers only the dispatches it has not had acknowledged."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from push_kit import ask, dispatch, eventually, open_ws, recv, xadd
from push_kit import true as _true

from adapters.push.tokens import add_token


@pytest.mark.asyncio
async def test_a_connection_forgets_dispatches_once_they_are_acknowledged(push: Any, r: aioredis.Redis) -> None:
    service = await push()
    token = await add_token(r, "u1")
    async with open_ws(service, token) as ws:
        await eventually(lambda: _true(service.server.connections.get("u1")))
        for n in range(20):
            await xadd(r, dispatch(n))
            assert (await recv(ws))["dispatch_id"] == f"d{n}"
            assert (await ask(ws, {"type": "ack", "dispatch_id": f"d{n}"}))["type"] == "acked"
        await xadd(r, dispatch(99))
        assert (await recv(ws))["dispatch_id"] == "d99"
        [sent] = service.server.connections["u1"].values()
        assert sent == {"d99"}  # not every dispatch ever sent on this connection
