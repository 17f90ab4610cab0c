"""Fixtures for the adapters tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
import redis.asyncio as aioredis


@pytest_asyncio.fixture
async def r(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An async client of the session's Redis (emptied for this test)."""
    client = aioredis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
