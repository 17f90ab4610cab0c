"""The push service as a Ray actor, supervised like the rest of the platform."""

from __future__ import annotations

import logging
import os
from typing import Any

import ray

from adapters.push.service import start_push
from core.settings import Settings


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class PushActor:
    """Responder websockets, the responder page and the SMS fallback; state lives in Redis."""

    async def __init__(self, settings: Settings, redis_url: str) -> None:  # type: ignore[misc]  # Ray allows async
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        push = settings.push.model_copy(update={"var_dir": settings.var_dir})
        self.service = await start_push(push, redis_url, bus=settings.bus)

    async def stats(self) -> dict[str, Any]:
        """Ports and pid."""
        return {"port": self.service.port, "page_port": self.service.page_port, "pid": os.getpid()}
