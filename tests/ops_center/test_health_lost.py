"""The health page names pending stream entries that were trimmed before they were processed."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from adapters import bus
from adapters.bus import Consumer
from core.settings import BusSettings
from ops_center import health_probe as hp


@pytest.mark.asyncio
async def test_a_pending_entry_lost_to_trimming_is_a_fault_on_the_health_page(r: aioredis.Redis) -> None:
    assert (await hp.lost_row(r)).status == hp.OK
    c = Consumer(r, bus.EVENTS, "rules", "desk-0", BusSettings())
    await c.ensure_group()
    lost = await r.xadd(bus.EVENTS, {b"e": b"x"})
    await c.read(block_ms=0)
    await r.xdel(bus.EVENTS, lost)
    await Consumer(r, bus.EVENTS, "rules", "desk-0", BusSettings()).read(block_ms=0)
    row = await hp.lost_row(r)
    assert (row.status, row.value) == (hp.FAIL, "1 条")
    assert "events|rules: 1" in row.detail
