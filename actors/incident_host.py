"""The Ray actor that runs the incident desk (rules engine + ticket actors), restarting from Redis snapshots."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import ray

from actors.incident_desk import IncidentDesk
from adapters import bus
from core.settings import Settings


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class IncidentHost:
    """Device events in, tickets and dispatches out; one per deployment."""

    async def __init__(self, settings: Settings, redis_url: str) -> None:  # type: ignore[misc]  # Ray allows async
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        self.desk = IncidentDesk(bus.connect(redis_url), settings)
        self.task = asyncio.get_running_loop().create_task(self.desk.run())

    async def stats(self) -> dict[str, Any]:
        """Counters, open tickets, pid."""
        return {**self.desk.stats, "tickets": len(self.desk.tickets), "pid": os.getpid(), "alive": not self.task.done()}

    async def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        """Live view of one ticket."""
        t = self.desk.tickets.get(ticket_id)
        return t.live() if t else None
