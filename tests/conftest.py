"""Shared fixtures: one real redis-server and one local Ray instance for the whole test session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis
import redis.asyncio as aioredis

from adapters.redis_server import RedisServer

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server (AOF on) under a temporary directory, stopped by pid at the end."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session's Redis, emptied for this test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest_asyncio.fixture
async def r(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An async client of the session's Redis (emptied for this test)."""
    client = aioredis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray instance shared by every test that needs Ray (a worker costs ~150-200 MB)."""
    import ray

    ray.init(
        num_cpus=2, include_dashboard=False, logging_level="WARNING", object_store_memory=80 * 1024 * 1024,
        namespace="zhouqu-tests",
    )  # fmt: skip
    yield
    ray.shutdown()


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    """A fresh var/ directory for embedded stores."""
    path = tmp_path / "var"
    path.mkdir()
    return path
