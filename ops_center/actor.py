"""The operations center as a Ray actor: the Panel server runs on the actor's event loop; ClickHouse via the store."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import ray

from adapters import bus
from core.settings import Settings
from ledgers.startup import open_store
from ops_center.context import OpsContext
from ops_center.ledger_views.common import audit_sink
from ops_center.server import OpsServer
from workflows.startup import open_workflow_store


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class OpsCenter:
    """Serves every operator's browser session; all state lives in Redis and ClickHouse."""

    async def __init__(self, settings: Settings, redis_url: str, store: Any, probes: dict[str, Any]) -> None:  # type: ignore[misc]
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

        async def query(sql: str) -> list[dict[str, Any]]:
            return list(await store.query.remote(sql))

        self.ctx = OpsContext(settings, bus.connect(redis_url), query, probes=probes)
        # the ledger store of this process (the platform checked its schema at start); sessions audit with their IP
        sink = audit_sink(self.ctx.redis, "")
        self.ctx.ledgers = await asyncio.to_thread(open_store, settings, sink, self.ctx.gazetteer)
        self.ctx.workflows = await asyncio.to_thread(open_workflow_store, settings, self.ctx.ledgers)
        self.server = OpsServer(self.ctx)
        self.port = await self.server.start()

    async def stats(self) -> dict[str, Any]:
        """Port, pid, open browser sessions and the live state's version."""
        live = self.ctx.live
        sessions = self.server.server.get_sessions() if self.server.server else []
        return {"port": self.port, "pid": os.getpid(), "sessions": len(sessions),
                "connections": sum(s.connection_count for s in sessions), "version": live.version,
                "devices": len(live.devices), "tickets": len(live.tickets), "errors": live.errors}  # fmt: skip
