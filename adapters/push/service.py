"""The push service: websocket server, dispatch consumer, SMS fallback loop and responder page in one process."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from adapters.bus import connect, raise_if_cancelled
from adapters.push.page import ResponderPage
from adapters.push.server import PushServer
from adapters.push.sms import FileSmsOutbox, SmsFallback, SmsOutbox
from adapters.push.store import now_ms
from core.retention import sweep_files
from core.settings import BusSettings, PushSettings

log = logging.getLogger(__name__)
SWEEP_EVERY_S = 3_600.0  # how often old photos and SMS outbox lines are removed


class PushService:
    """Everything of the push service; all state lives in Redis, so stop + start loses nothing."""

    def __init__(
        self, settings: PushSettings, redis_url: str, bus: BusSettings | None = None, outbox: SmsOutbox | None = None
    ) -> None:
        self.settings = settings
        self.redis = connect(redis_url)
        photos = self.photos = settings.var_dir / "photos"
        self.server = PushServer(self.redis, settings, bus or BusSettings(), photos)
        self.outbox = outbox or FileSmsOutbox(settings.var_dir / "sms_outbox.jsonl")
        self.check_ms = int(settings.sms_check_s * 1000)
        self.fallback = SmsFallback(self.server.store, self.outbox, self.check_ms)
        self.page = ResponderPage(self.redis, settings, photos, self.server.store)
        self._runner = web.AppRunner(self.page.app, access_log=None)  # no access log of phones' requests
        self.page_port = settings.page_port
        self._loop: asyncio.Task[None] | None = None
        self._swept = float("-inf")  # monotonic s of the last sweep: the first check loop sweeps

    @property
    def port(self) -> int:
        """Bound port of the push websocket server."""
        return self.server.port

    async def start(self) -> None:
        """Finish interrupted SMS, start the websocket server, the consumer, the page and the check loop."""
        await self.fallback.recover()
        await self.server.start()
        self.page.push_port = self.server.port
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.page_port, reuse_address=True)
        await site.start()
        self.page_port = int(self._runner.addresses[0][1])
        self._loop = asyncio.create_task(self._check_loop(), name="push-checks")
        log.info("push service on ws port %d, responder page on port %d", self.port, self.page_port)

    async def stop(self) -> None:
        """Stop everything and close the Redis client; pending dispatches stay in Redis."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        await self.server.stop()
        await self._runner.cleanup()
        await self.redis.aclose()

    async def check(self) -> int:
        """Refresh presence of users connected here, then send due SMS; returns how many were queued."""
        users = list(self.server.connections)
        await self.server.store.mark_online(users, now_ms() + 3 * self.check_ms)
        return await self.fallback.tick()

    async def sweep(self) -> int:
        """Drop old photos, outbox lines and never-acknowledged dispatches (by their retention settings)."""
        s = self.settings
        gone = await asyncio.to_thread(sweep_files, self.photos, s.photo_retention_days)
        gone += await self.server.store.expire_pending(now_ms())
        if isinstance(self.outbox, FileSmsOutbox):
            gone += await self.outbox.prune(s.sms_retention_days)
        return gone

    async def _check_loop(self) -> None:
        while True:
            try:
                await self.check()
                if time.monotonic() - self._swept >= SWEEP_EVERY_S:
                    self._swept = time.monotonic()
                    await self.sweep()
                await self.server.recheck_every()  # expired tokens end their connections
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("push: presence/SMS check failed")
            await asyncio.sleep(self.settings.sms_check_s)
            raise_if_cancelled()


async def start_push(
    settings: PushSettings, redis_url: str, *, bus: BusSettings | None = None, outbox: SmsOutbox | None = None
) -> PushService:
    """Start the push service (ports 0 pick free ones: see `.port` and `.page_port`); call `stop()` to end it."""
    service = PushService(settings, redis_url, bus, outbox)
    await service.start()
    return service
