"""The speaker service as a Ray actor, supervised like the rest of the platform."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import ray

from adapters.speaker.service import SpeakerService, start_speaker
from core.settings import Settings


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class SpeakerActor:
    """Consumes the `speaker` stream and plays warnings on station loudspeakers; state lives in Redis."""

    async def __init__(self, settings: Settings, redis_url: str) -> None:  # type: ignore[misc]  # Ray allows async
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        self.service: SpeakerService
        self.task: asyncio.Task[None]
        self.service, self.task = await start_speaker(redis_url, settings.var_dir, settings.speaker, settings.bus)

    async def stats(self) -> dict[str, Any]:
        """Delivery counters and pid."""
        return {**self.service.stats, "running": not self.task.done(), "pid": os.getpid()}
