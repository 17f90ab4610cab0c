"""Ray host actors: each runs one shard of device actors of one kind, restarting from Redis snapshots."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import ray

from actors.shard import Shard
from adapters import bus
from core.settings import Settings


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class DeviceHost:
    """A process hosting many device actors; on restart it restores snapshots and replays pending entries."""

    async def __init__(self, kind: str, shard: int, settings: Settings, redis_url: str) -> None:  # type: ignore[misc]  # Ray allows async actor constructors
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        self.redis = bus.connect(redis_url)
        self.shard = Shard(self.redis, settings, kind, shard)
        self.task = asyncio.get_running_loop().create_task(self.shard.run())

    async def stats(self) -> dict[str, Any]:
        """Counters, pid and whether the loop is alive."""
        alive = not self.task.done()
        return {**self.shard.stats, "pid": os.getpid(), "alive": alive, "devices": len(self.shard.actors)}

    async def device(self, device_id: str) -> dict[str, Any] | None:
        """Live state of one hosted device."""
        actor = self.shard.actors.get(device_id)
        return actor.live() if actor else None
