"""Helpers for end-to-end tests: the whole platform on the session's Ray and Redis, and device-side calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import ray

from adapters import registry
from adapters.redis_server import free_port
from core.events import Sample
from core.kinds import DeviceProfile
from core.kinds.wristband import WristbandReading
from core.settings import Settings
from core.signing import device_key, sign
from runtime.platform import Platform


def platform_settings(redis_url: str, var_dir: Path, **sections: Any) -> Settings:
    """A test platform's settings: its own free ports, a quick sink, no models, no ops center (unless given)."""
    page = free_port()
    base: dict[str, Any] = {
        "ingest": {"port": free_port()}, "watch": {"port": free_port()}, "sink": {"flush_ms": 200},
        "serve": {"enabled": False}, "ops": {"enabled": False},
        "push": {"port": free_port(), "page_port": page, "allowed_origins": [f"http://127.0.0.1:{page}"]},
        "workflows": {"citizen_port": free_port()},
    }  # fmt: skip
    return Settings(redis_url=redis_url, var_dir=var_dir, **{**base, **sections})


@pytest.fixture
def platform(ray_session: None, redis_url: str, var_dir: Path) -> Iterator[Platform]:
    """The platform without video (no Serve models) on the session's Ray and Redis, with its own chDB and ports."""
    p = Platform(platform_settings(redis_url, var_dir)).start()
    yield p
    p.stop()


@pytest.fixture
def video_platform(ray_session: None, redis_url: str, var_dir: Path) -> Iterator[Platform]:
    """The platform with its models on Serve (the scene detector and the plate reader) and the video hosts."""
    p = Platform(platform_settings(redis_url, var_dir, serve={"enabled": True, "detectors": {"scene": {}}})).start()
    yield p
    p.stop()


def register(p: Platform, profiles: list[DeviceProfile]) -> None:
    async def go() -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(p.redis_url)
        await registry.register(client, profiles)
        await client.aclose()

    asyncio.run(go())
    ray.get(p.ingest.refresh_registry.remote())


def post(p: Platform, device_id: str, samples: list[Sample[WristbandReading]]) -> int:
    body = msgspec.msgpack.encode(samples)
    key = device_key(p.settings.device_master_key.get_secret_value().encode(), device_id)

    async def go() -> int:
        ts = int(time.time() * 1000)
        headers = {"X-Device-Id": device_id, "X-Timestamp": str(ts), "X-Signature": sign(key, ts, body),
                   "Content-Type": "application/msgpack"}  # fmt: skip
        url = f"http://127.0.0.1:{p.settings.ingest.port}/v1/telemetry"
        async with aiohttp.ClientSession() as s, s.post(url, data=body, headers=headers) as r:
            return r.status

    return asyncio.run(go())


def wait(what: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def count(p: Platform, table: str, where: str = "1") -> int:
    """Rows of a ClickHouse table matching a condition."""
    return int(p.query(f"SELECT count() AS n FROM zq.{table} WHERE {where}")[0]["n"])
