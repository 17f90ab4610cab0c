"""The speaker service: consumes the `speaker` stream, synthesises, POSTs the WAV to the station, logs, acks."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import aiohttp
import msgspec
import redis.asyncio as aioredis

from adapters import registry
from adapters.bus import DEAD, SPEAKER, STORE, Consumer, Fields, connect, run_rounds
from adapters.speaker.requests import DECODE, OPERATOR, STATION_KIND, SpeakerRequest
from adapters.speaker.synth import ClipCache, SynthesisError, standard_warnings
from adapters.telemetry import SPEAKER_LOG_TABLE
from core.events import now_ms
from core.settings import BusSettings, SpeakerSettings

log = logging.getLogger(__name__)
GROUP = "speakers"
TRIM_EVERY_S = 60.0  # how often the service applies bus.retention to the speaker stream
DONE = "speaker:done:"  # + request key: delivered (or given up), so a repeat is not played again
_JSON = msgspec.json.Encoder()


class DeliveryError(RuntimeError):
    """A warning that cannot be delivered; the message names the device."""


@dataclass
class Outcome:
    """What happened to one request."""

    ok: bool
    bytes: int = 0
    attempts: int = 0
    error: str = ""
    stale: bool = False  # too old to play: logged, not dead-lettered


class SpeakerService:
    """Plays voice warnings on station loudspeakers; requests of one station in order, stations in parallel."""

    def __init__(
        self, redis: aioredis.Redis, var_dir: Path, settings: SpeakerSettings | None = None,
        bus: BusSettings | None = None,
    ) -> None:  # fmt: skip
        self.redis = redis
        self.settings = settings or SpeakerSettings()
        s = self.settings
        self.clips = ClipCache(var_dir / "speaker" / "clips", s.voice, s.words_per_min, s.synth_timeout_s)
        self.consumer = Consumer(redis, SPEAKER, GROUP, s.consumer, bus or BusSettings())
        self.stats = {"delivered": 0, "failed": 0, "duplicates": 0, "malformed": 0, "stale": 0}
        self._queues: dict[str, deque[tuple[bytes, SpeakerRequest]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._inflight: set[bytes] = set()
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Create the consumer group and synthesise the standard warnings once."""
        await self.consumer.ensure_group()
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.post_timeout_s))
        texts = list(standard_warnings().values())
        try:
            ready = await self.clips.prepare(texts)
            log.info("speaker service started: %d standard warnings synthesised", ready)
        except SynthesisError as exc:  # the service still plays; each clip is retried when it is asked for
            log.error("speaker service: synthesising the standard warnings failed: %s", exc)

    async def stop(self) -> None:
        """Finish in-flight deliveries, then close the HTTP session."""
        await self.drain()
        if self._http is not None:
            await self._http.close()

    async def round(self, block_ms: int | None = None) -> int:
        """Read one batch and hand each request to its station's worker; returns how many were queued."""
        if self.consumer.recovering and self._workers:
            await self.drain()  # re-reading our pending list must not count in-flight entries as failed deliveries
        entries = await self.consumer.read(block_ms)
        queued = 0
        for entry_id, fields in entries:
            if entry_id in self._inflight:
                continue
            try:
                req = DECODE(fields[b"r"])
            except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                self.stats["malformed"] += 1
                await self.consumer.dead_letter([(entry_id, fields)], f"malformed speaker request: {exc}")
                continue
            self._inflight.add(entry_id)
            self._queues.setdefault(req.device_id, deque()).append((entry_id, req))
            if req.device_id not in self._workers:
                self._workers[req.device_id] = asyncio.create_task(self._worker(req.device_id))
            queued += 1
        return queued

    async def drain(self) -> None:
        """Wait until every queued request has been delivered or given up."""
        while self._workers:
            tasks = list(self._workers.values())
            await asyncio.gather(*tasks, return_exceptions=True)
            for device_id in [d for d, t in self._workers.items() if t in tasks]:  # one cancelled before it ran
                del self._workers[device_id]

    async def run(self) -> None:
        """Consume until cancelled; a failed read is retried from the pending list."""
        await self.start()
        await run_rounds("speaker service", self.round, [self.consumer], trim_every_s=TRIM_EVERY_S)

    # --- one station's queue ---------------------------------------------------------------------

    async def _worker(self, device_id: str) -> None:
        queue = self._queues[device_id]
        try:
            while queue:
                entry_id, req = queue.popleft()
                try:
                    await self._handle(entry_id, req)
                except Exception as exc:  # Redis trouble while committing: leave it pending for a retry
                    log.warning("speaker request %s (station %s) not committed, retried: %s", req.key, device_id, exc)
                    self.consumer.retry_pending()
                finally:
                    self._inflight.discard(entry_id)
        finally:
            self._workers.pop(device_id, None)
            if not queue:
                self._queues.pop(device_id, None)

    async def _handle(self, entry_id: bytes, req: SpeakerRequest) -> None:
        if await self.redis.exists(DONE + req.key):
            self.stats["duplicates"] += 1
            await self.consumer.ack([entry_id])
            return
        outcome = await self._deliver(req)
        await self._commit(entry_id, req, outcome)

    async def _deliver(self, req: SpeakerRequest) -> Outcome:
        """Synthesise (or take the cached clip) and POST it, retrying; never raises."""
        age_s = (now_ms() - req.ts) / 1000 if req.ts else 0.0
        if req.reason != OPERATOR and age_s > self.settings.stale_s:
            why = f"劝导站 {req.device_id}: 提示已过期 ({age_s:.0f} 秒前的事件)，未播放"
            return Outcome(ok=False, stale=True, error=why)
        try:
            url = await self._speaker_url(req.device_id)
            clip = await self.clips.clip(req.text)
        except (DeliveryError, SynthesisError) as exc:
            return Outcome(ok=False, error=str(exc))
        s, error = self.settings, ""
        for attempt in range(1, s.attempts + 1):
            try:
                await self._post(url, clip, req)
                return Outcome(ok=True, bytes=len(clip), attempts=attempt)
            except (aiohttp.ClientError, TimeoutError, DeliveryError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("station %s: speaker delivery attempt %d failed: %s", req.device_id, attempt, error)
            if attempt < s.attempts:
                await asyncio.sleep(s.backoff_s * 2 ** (attempt - 1))
        return Outcome(ok=False, bytes=len(clip), attempts=s.attempts, error=f"劝导站 {req.device_id}: {error}")

    async def _speaker_url(self, device_id: str) -> str:
        profile = (await registry.load_some(self.redis, [device_id])).get(device_id)
        if profile is None:
            raise DeliveryError(f"劝导站 {device_id}: 设备未登记")
        if profile.kind != STATION_KIND:
            raise DeliveryError(f"设备 {device_id}: 类型 {profile.kind} 不是劝导站")
        url = profile.params.get("speaker_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise DeliveryError(f"劝导站 {device_id}: 未配置 speaker_url")
        return url

    async def _post(self, url: str, clip: bytes, req: SpeakerRequest) -> None:
        assert self._http is not None, "start() first"
        headers = {"Content-Type": "audio/wav", "X-Request-Key": req.key}
        async with self._http.post(url, data=clip, headers=headers) as resp:
            if resp.status >= 300:
                raise DeliveryError(f"HTTP {resp.status}")

    async def _commit(self, entry_id: bytes, req: SpeakerRequest, out: Outcome) -> None:
        """The ClickHouse row, the dedup mark, a dead letter on failure and the ack, in one MULTI."""
        done_at = now_ms()
        ms = max(0, done_at - req.ts) if req.ts else 0
        row = _JSON.encode([req.key, req.device_id, done_at / 1000, req.text, req.by, req.reason, out.ok, out.bytes,
                            min(ms, 2**32 - 1), out.attempts, out.error])  # fmt: skip
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(STORE, {b"t": SPEAKER_LOG_TABLE, b"r": row, b"n": 1})
            pipe.set(DONE + req.key, b"1" if out.ok else b"0", ex=self.settings.done_ttl_s)
            if not (out.ok or out.stale):
                record = {b"r": msgspec.msgpack.encode(req), b"stream": SPEAKER, b"group": GROUP, b"id": entry_id,
                          b"error": out.error.encode()[:500]}  # fmt: skip
                pipe.xadd(DEAD, cast(Fields, record))
            self.consumer.ack_in(pipe, [entry_id])
            await pipe.execute()
        if out.ok:
            self.stats["delivered"] += 1
            log.info("station %s played a warning (%s, %d bytes, %d attempts, %d ms)", req.device_id, req.by, out.bytes,
                     out.attempts, ms)  # fmt: skip
        elif out.stale:
            self.stats["stale"] += 1
            log.warning("%s", out.error)
        else:
            self.stats["failed"] += 1
            log.error("station %s: speaker delivery failed, dead-lettered: %s", req.device_id, out.error)


async def start_speaker(
    redis_url: str, var_dir: Path, settings: SpeakerSettings | None = None, bus: BusSettings | None = None
) -> tuple[SpeakerService, asyncio.Task[None]]:
    """Start the service's consume loop as a task; cancel the task and call `stop()` to end it."""
    service = SpeakerService(connect(redis_url), var_dir, settings, bus)
    task = asyncio.create_task(service.run(), name="speaker")
    return service, task
