"""Starts and stops the whole platform on one machine: Redis, local Ray, the store, models, device hosts and ingest."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import psutil
import ray

from actors.host import DeviceHost
from actors.incident_host import IncidentHost
from actors.kinds import device_kinds
from actors.store import TelemetryStore
from actors.video_host import VideoHost
from actors.workflow_host import WorkflowHost
from adapters.citizen.actor import CitizenActor
from adapters.ingest.service import IngestService
from adapters.push.actor import PushActor
from adapters.redis_server import RedisServer, redacted
from adapters.speaker.actor import SpeakerActor
from core.settings import Settings, load_settings
from ledgers.migrate import MigrationNeeded
from ledgers.startup import open_store
from ledgers.store import LedgerStore
from ops_center.actor import OpsCenter
from serve.app import deploy, shutdown_serve

log = logging.getLogger(__name__)


class Platform:
    """Everything the platform runs, started in dependency order and stopped by what started it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis_server: RedisServer | None = None
        self.redis_url = settings.redis_url or ""
        self.started_ray = False
        self.store: Any = None
        self.hosts: dict[tuple[str, int], Any] = {}
        self.ingest: Any = None
        self.desk: Any = None
        self.workflows: Any = None  # the workflow host (applications' commands, timers, notices)
        self.citizen: Any = None  # the citizens' phone end, document verification, Open311
        self.push: Any = None
        self.speaker: Any = None
        self.ops: Any = None
        self.records: LedgerStore | None = None  # the ledger store, as the platform's own tools use it
        self.serving = False

    def start(self) -> Platform:
        """Start every part and wait until each answers; if one fails, stop what started and raise."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Platform:
        self.settings.var_dir.mkdir(parents=True, exist_ok=True)
        self.records = open_store(self.settings)  # first: a declaration that needs a migration stops the start here
        if not self.redis_url:
            self.redis_server = RedisServer(self.settings.var_dir / "redis")
            self.redis_url = self.redis_server.start()
        if not ray.is_initialized():
            ray.init(
                num_cpus=os.cpu_count() or 2, include_dashboard=False, logging_level=logging.WARNING,
                object_store_memory=80 * 1024 * 1024, namespace="zhouqu", log_to_driver=True,
            )  # fmt: skip
            self.started_ray = True
        s, url = self.settings, self.redis_url
        self.store = TelemetryStore.remote(s, url)  # type: ignore[attr-defined]
        ray.get(self.store.stats.remote())
        if s.serve.enabled:
            deploy(s)  # the models the camera and station hosts await
            self.serving = True
        for kind, cls in sorted(device_kinds().items()):
            if cls.hosted == "video" and not s.serve.enabled:
                continue  # cameras and stations need the models
            host: Any = VideoHost if cls.hosted == "video" else DeviceHost
            for shard in range(s.shard_count(kind)):
                self.hosts[(kind, shard)] = host.remote(kind, shard, s, url)  # type: ignore[attr-defined]
        self.ingest = IngestService.remote(s, url)  # type: ignore[attr-defined]
        self.desk = IncidentHost.remote(s, url)  # type: ignore[attr-defined]
        self.workflows = WorkflowHost.remote(s, url)  # type: ignore[attr-defined]
        self.push = PushActor.remote(s, url)  # type: ignore[attr-defined]
        self.citizen = CitizenActor.remote(s, url)  # type: ignore[attr-defined]
        if s.serve.enabled:
            self.speaker = SpeakerActor.remote(s, url)  # type: ignore[attr-defined]
        if s.ops.enabled:
            self.ops = OpsCenter.remote(s, url, self.store, self.probes())  # type: ignore[attr-defined]
        self.stats()
        return self

    def probes(self) -> dict[str, Any]:
        """Every part that answers `stats`, by name, for the operations center's health page."""
        parts = {"store": self.store, "ingest": self.ingest, "desk": self.desk, "workflows": self.workflows,
                 "citizen": self.citizen, "push": self.push, "speaker": self.speaker,
                 **{f"host:{k}.{n}": h for (k, n), h in self.hosts.items()}}  # fmt: skip
        return {name: actor for name, actor in parts.items() if actor is not None}

    def stats(self) -> dict[str, Any]:
        """Counters of every part (blocks until each answers)."""
        hosts = {f"{k}.{n}": h.stats.remote() for (k, n), h in self.hosts.items()}
        return {
            "store": ray.get(self.store.stats.remote()),
            "ingest": ray.get(self.ingest.stats.remote()),
            "hosts": {name: ray.get(ref) for name, ref in hosts.items()},
            "desk": ray.get(self.desk.stats.remote()),
            "workflows": ray.get(self.workflows.stats.remote()),
            "citizen": ray.get(self.citizen.stats.remote()),
            "push": ray.get(self.push.stats.remote()),
            "speaker": ray.get(self.speaker.stats.remote()) if self.speaker else None,
            "ops": ray.get(self.ops.stats.remote()) if self.ops else None,
        }

    def query(self, sql: str) -> list[dict[str, Any]]:
        """A ClickHouse query through the store actor."""
        return list(ray.get(self.store.query.remote(sql)))

    def pids(self) -> list[int]:
        """This process, its children (Redis, Ray's processes and workers)."""
        me = psutil.Process()
        return [me.pid, *(p.pid for p in me.children(recursive=True))]

    def rss_mb(self) -> float:
        """Resident memory of the whole platform, MB."""
        total = 0
        for pid in self.pids():
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total / 2**20

    def describe(self) -> str:
        """What runs where, for people."""
        s, w = self.settings, self.settings.workflows
        records = redacted(s.database_url) if s.database_url else f"SQLite at {s.var_dir / 'records' / 'ledgers.db'}"
        declared = len(self.records.ledgers.ledgers) if self.records else 0
        lines = [
            f"Redis            {redacted(self.redis_url)} ({'own redis-server, AOF on, password in ' + str(s.var_dir / 'redis' / 'password') if self.redis_server else 'external'})",  # noqa: E501
            f"ClickHouse       {s.clickhouse_url or 'chDB embedded at ' + str(s.var_dir / 'chdb')}",
            f"Ingest HTTP/WS   http://{s.ingest.host}:{s.ingest.port}/v1/telemetry  ws://{s.ingest.host}:{s.ingest.port}/v1/ws",
            f"Watch protocol   tcp://{s.watch.host}:{s.watch.port}",
            f"Device hosts     {', '.join(f'{k}#{n}' for k, n in self.hosts)} (Ray actors)",
            f"Models (Serve)   {', '.join(s.serve.detectors) + ', plate reader' if self.serving else 'off'}",
            "Incident desk    rules engine + ticket actors (Ray actor)",
            "Workflow host    applications: wf.commands -> records store -> wf.results, timers, notices (Ray actor)",
            f"Responder push   ws://{s.push.host}:{s.push.port}/push  page http://{s.push.host}:{s.push.page_port}/responder",
            f"Ops center       {f'http://{s.ops.host}:{s.ops.port}/' if self.ops else 'off'}",
            f"Citizen service  http://{w.citizen_host}:{w.citizen_port}/h5  verify /verify  Open311 /open311/v2/",
            f"Ledger records   {records} ({declared} ledgers; pages /ledgers, API /api/ledgers)",
        ]
        return "\n".join(lines)

    def stop(self) -> None:
        """Stop what this platform started."""
        parts = [self.ops, self.ingest, self.push, self.speaker, self.desk, self.workflows, self.citizen,
                 *self.hosts.values(), self.store]  # fmt: skip
        actors = [a for a in parts if a is not None]
        for actor in actors:
            ray.kill(actor, no_restart=True)
        for actor in actors:  # wait until each is gone, so nothing of ours touches Redis afterwards
            with contextlib.suppress(ray.exceptions.RayError):
                ray.get(actor.stats.remote(), timeout=30)
        self.hosts.clear()
        self.ingest = self.store = self.desk = self.workflows = self.citizen = None
        self.push = self.speaker = self.ops = None
        if self.serving:
            with contextlib.suppress(Exception):
                shutdown_serve()
            self.serving = False
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False
        if self.redis_server:
            self.redis_server.stop()
            self.redis_server = None
        if self.records is not None:
            self.records.engine.dispose()
            self.records = None


def on_stop_signal() -> Callable[[], bool]:
    """Catch Ctrl-C and SIGTERM; the returned function says whether one arrived (so shutdown runs in order)."""
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    return lambda: stop


def main() -> None:
    """Run the platform until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Run the Zhouqu platform (embedded defaults).")
    parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        platform = Platform(load_settings()).start()
    except MigrationNeeded as exc:
        raise SystemExit(f"not started: {exc}") from None
    print(platform.describe(), flush=True)
    stopped = on_stop_signal()
    try:
        while not stopped():
            time.sleep(0.5)
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
