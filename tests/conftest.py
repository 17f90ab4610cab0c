"""Shared fixtures: one real redis-server and one local Ray instance for the whole test session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio as aioredis

from adapters.postgres_server import PostgresServer
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (Debian's package) for the whole session, started on first use, removed at the end."""
    import tempfile

    server = PostgresServer(Path(tempfile.mkdtemp(prefix="zq-pg-")))  # outside pytest's 0700 tree: postgres reads it
    server.start()
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty relational store for one test, on each backend in turn: a SQLite file, then a PostgreSQL database."""
    from ledger_testkit import fresh_database, sqlite_url

    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return fresh_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def ledger_store(ledger_url: str) -> Iterator[Any]:
    """(store, audit log) on the default ledgers, on each backend in turn."""
    from ledger_testkit import open_store

    store, log = open_store(ledger_url)
    yield store, log
    store.engine.dispose()
