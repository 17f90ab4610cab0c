"""The citizen service (phone H5 pages, Open311, document verification) as a Ray actor, supervised like the rest."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import ray

from adapters.bus import connect
from adapters.citizen.context import CitizenContext
from adapters.citizen.server import serve
from core.settings import Settings
from ledgers.startup import open_store
from workflows.startup import open_workflow_store

log = logging.getLogger(__name__)


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class CitizenActor:
    """One aiohttp server on `workflows.citizen_port`; sessions and codes live in Redis, records in the store."""

    async def __init__(self, settings: Settings, redis_url: str) -> None:  # type: ignore[misc]  # Ray allows async
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        ledgers = await asyncio.to_thread(open_store, settings)
        workflows = await asyncio.to_thread(open_workflow_store, settings, ledgers)
        base = settings.var_dir / "citizen"
        base.mkdir(parents=True, exist_ok=True)
        self.ctx = CitizenContext(settings=settings, redis=connect(redis_url), ledgers=ledgers, workflows=workflows,
                                  attachments_dir=base / "attachments", sms_path=base / "sms_outbox.jsonl")  # fmt: skip
        self.port = settings.workflows.citizen_port
        self.runner = await serve(self.ctx, settings.workflows.citizen_host, self.port)
        log.info("citizen service on port %d", self.port)

    async def stats(self) -> dict[str, Any]:
        """Port and pid."""
        return {"port": self.port, "pid": os.getpid()}
