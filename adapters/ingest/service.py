"""The ingest process: the HTTP/websocket gateway and the watch TCP server, as one Ray actor."""

from __future__ import annotations

import logging
import os
from typing import Any

import ray
from aiohttp import web

from adapters import bus
from adapters.ingest.gateway import Gateway
from adapters.ingest.watch_server import WatchServer
from core.settings import Settings


async def start_ingest(settings: Settings, redis_url: str) -> tuple[Gateway, web.AppRunner, WatchServer]:
    """Start the gateway and the watch server on their configured ports."""
    gateway = Gateway(bus.connect(redis_url), settings)
    runner = web.AppRunner(gateway.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.ingest.host, settings.ingest.port, reuse_address=True).start()
    watch = WatchServer(settings.watch, gateway.gate, gateway.publisher.publish)  # one gate: one rate per device
    await watch.start()
    return gateway, runner, watch


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class IngestService:
    """Device-facing edge; restarts keep accepted data because it acks only after Redis has it."""

    async def __init__(self, settings: Settings, redis_url: str) -> None:  # type: ignore[misc]  # Ray allows async actor constructors
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        self.gateway, self.runner, self.watch = await start_ingest(settings, redis_url)

    async def stats(self) -> dict[str, Any]:
        """Published and refused counts, pid."""
        return {
            "published": self.gateway.publisher.published, "refused": self.gateway.refused,
            "devices": len(self.gateway.gate.devices), "pid": os.getpid(), "watch_port": self.watch.port,
        }  # fmt: skip

    async def refresh_registry(self) -> int:
        """Reload the device registry now (after provisioning); returns the device count."""
        await self.gateway.refresh_registry()
        return len(self.gateway.gate.devices)
