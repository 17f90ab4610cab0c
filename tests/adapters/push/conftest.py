"""The `push` fixture: push services on a real Redis, stopped at the end of the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
from push_kit import BUS, make_settings

from adapters.push.service import PushService, start_push


@pytest_asyncio.fixture
async def push(redis_url: str, tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[PushService]]]:
    """Starts push services (stopped at the end); keyword arguments override settings."""
    started: list[PushService] = []

    async def start(**kw: Any) -> PushService:
        service = await start_push(make_settings(tmp_path / "var", **kw), redis_url, bus=BUS)
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop()
