"""Running async simulators: on a loop thread for synchronous drivers (demo, benchmarks), or until a signal."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import redis.asyncio as aioredis

T = TypeVar("T")


class LoopThread:
    """Runs coroutines on its own event loop thread; `run` waits for one's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="sim-loop")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop thread and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        """Stop the loop and join its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


async def serve_until_signal(
    server: Any, redis_url: str, provision: Callable[[Any], Awaitable[object]], banner: str
) -> None:
    """Run a started simulator server until SIGINT/SIGTERM; with a Redis URL, `provision(redis)` registers it first."""
    if redis_url:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await provision(client)
        finally:
            await client.aclose()
    print(banner, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
