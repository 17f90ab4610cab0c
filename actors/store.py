"""The store actor: the one process that owns chDB; runs the sink and answers queries for everyone else."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import ray

from adapters import bus
from adapters.sink import TelemetrySink
from adapters.telemetry import open_backend
from core.settings import Settings


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class TelemetryStore:
    """Owns the ClickHouse backend (chDB directory lock or a server connection)."""

    async def __init__(self, settings: Settings, redis_url: str) -> None:  # type: ignore[misc]  # Ray allows async actor constructors
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        self.backend = open_backend(settings.clickhouse_url, settings.var_dir)
        self.sink = TelemetrySink(bus.connect(redis_url), self.backend, settings)
        await self.sink.setup()
        self.task = asyncio.get_running_loop().create_task(self.sink.run())

    async def query(self, sql: str) -> list[dict[str, Any]]:
        """Run a read query (the only way other processes reach chDB)."""
        return await asyncio.to_thread(self.backend.query, sql)

    async def execute(self, sql: str) -> None:
        """Run a statement (DDL or a small insert), e.g. for benchmarks and maintenance."""
        await asyncio.to_thread(self.backend.command, sql)

    async def stats(self) -> dict[str, Any]:
        """Sink counters and pid."""
        s = self.sink
        return {
            "rows_written": s.rows_written, "batches": s.batches, "last_error": s.last_error,
            "pid": os.getpid(), "alive": not self.task.done(),
        }  # fmt: skip
