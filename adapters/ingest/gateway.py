"""The device ingest gateway (aiohttp): signed HTTP uploads and device websockets into Redis Streams."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
import redis.asyncio as aioredis
from aiohttp import WSMsgType, web

from adapters import registry
from adapters.ingest.auth import DeviceGate, Refused
from adapters.ingest.publisher import LAST_TS, Publisher
from core.events import Message, Sample, now_ms
from core.kinds import DeviceProfile, readings
from core.settings import Settings

log = logging.getLogger(__name__)

_MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")
_ENCODE = msgspec.msgpack.Encoder().encode


class _KindCodec:
    """Typed decoders for one kind's uploads (msgpack and JSON)."""

    def __init__(self, reading: type) -> None:
        self.msgpack = msgspec.msgpack.Decoder(list[Sample[reading]])  # type: ignore[valid-type]
        self.json = msgspec.json.Decoder(list[Sample[reading]])  # type: ignore[valid-type]


class Gateway:
    """HTTP `POST /v1/telemetry`, websocket `GET /v1/ws`, `GET /healthz`."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.gate = DeviceGate(settings.ingest, settings.device_master_key.get_secret_value().encode())
        self.publisher = Publisher(redis, settings)
        self.codecs = {kind: _KindCodec(reading) for kind, reading in readings().items()}
        self.refused: dict[int, int] = {}
        self._registry_version = -1
        self._refresher: asyncio.Task[None] | None = None
        self.app = web.Application(client_max_size=settings.ingest.max_body_bytes)
        self.app.router.add_post("/v1/telemetry", self.telemetry)
        self.app.router.add_get("/v1/ws", self.websocket)
        self.app.router.add_get("/healthz", self.health)
        self.app.on_startup.append(self._startup)
        self.app.on_cleanup.append(self._cleanup)

    async def _startup(self, _app: web.Application) -> None:
        await self.refresh_registry()
        self.gate.last_ts.update(await self.publisher.load_last_ts())
        self._refresher = asyncio.create_task(self._refresh_loop())

    async def _cleanup(self, _app: web.Application) -> None:
        if self._refresher:
            self._refresher.cancel()

    async def refresh_registry(self) -> None:
        """Reload the registry when it changed."""
        version = await registry.version(self.redis)
        if version != self._registry_version:
            self.gate.devices = await registry.load_all(self.redis)
            self._registry_version = version

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(2)
            try:
                await self.refresh_registry()
            except Exception as exc:  # Redis blip: keep the last registry
                log.warning("registry refresh failed: %s", exc)

    async def health(self, _request: web.Request) -> web.Response:
        """Liveness and counters."""
        return web.json_response({"status": "ok", "published": self.publisher.published, "refused": self.refused})

    async def telemetry(self, request: web.Request) -> web.Response:
        """Accept one device's signed batch of samples."""
        device_id = request.headers.get("X-Device-Id")
        try:
            self.gate.admit(_address(request))
            if (request.content_length or 0) > self.settings.ingest.max_body_bytes:
                raise Refused(413, f"body over {self.settings.ingest.max_body_bytes} bytes")
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise Refused(413, f"body over {self.settings.ingest.max_body_bytes} bytes") from None
            profile = self.gate.profile(device_id)
            signed_ts = self.gate.authenticate(
                profile, request.headers.get("X-Timestamp"), request.headers.get("X-Signature"), body
            )
            self.gate.accept(profile.device_id, signed_ts)
            accepted = await self._ingest(profile, body, request.content_type, signed_ts)
        except Refused as exc:
            return self._refuse(exc, device_id, request)
        return web.json_response({"accepted": accepted})

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """A device's long-lived connection: authenticated once at the handshake, then one batch per frame."""
        device_id = request.headers.get("X-Device-Id") or request.query.get("device_id")
        try:
            self.gate.admit(_address(request))
            profile = self.gate.profile(device_id)
            ts = request.headers.get("X-Timestamp") or request.query.get("ts")
            sig = request.headers.get("X-Signature") or request.query.get("sig")
            signed_ts = self.gate.authenticate(profile, ts, sig, b"")
            self.gate.accept(profile.device_id, signed_ts)
            await self.redis.hset(LAST_TS, profile.device_id, signed_ts)  # a handshake is not replayable either
        except Refused as exc:
            return self._refuse(exc, device_id, request)
        ws = web.WebSocketResponse(max_msg_size=self.settings.ingest.max_body_bytes, heartbeat=60)
        await ws.prepare(request)
        async for frame in ws:
            if frame.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                break
            body = frame.data if frame.type == WSMsgType.BINARY else frame.data.encode()
            ctype = "application/msgpack" if frame.type == WSMsgType.BINARY else "application/json"
            try:
                accepted = await self._ingest(profile, body, ctype, None)
                await ws.send_json({"accepted": accepted})
            except Refused as exc:
                self._count(exc, profile.device_id)
                await ws.send_json({"status": exc.status, "error": exc.reason})
        if ws.exception() is not None:
            log.info("device %s websocket closed: %s", profile.device_id, ws.exception())
        return ws

    async def _ingest(self, profile: DeviceProfile, body: bytes, ctype: str, signed_ts: int | None) -> int:
        codec = self.codecs.get(profile.kind)
        if codec is None:
            raise Refused(400, f"device kind {profile.kind!r} has no ingest decoder")
        samples = self._decode(codec, body, ctype)
        if not samples:
            raise Refused(400, "empty batch")
        if len(samples) > self.settings.ingest.max_messages:
            raise Refused(413, f"more than {self.settings.ingest.max_messages} messages in one batch")
        self.gate.take(profile.device_id, len(samples))
        rx = now_ms()
        did = profile.device_id
        msgs: list[Message[Any]] = [Message(device_id=did, seq=s.seq, ts=s.ts, rx=rx, v=s.v) for s in samples]
        try:
            await self.publisher.publish(profile.kind, msgs, signed_ts)
        except Exception as exc:  # storage is down: tell the device to retry, keep serving
            log.error("publish failed for device %s: %s", did, exc)
            raise Refused(503, "storage unavailable, retry later") from None
        return len(msgs)

    @staticmethod
    def _decode(codec: _KindCodec, body: bytes, ctype: str) -> list[Sample[Any]]:
        try:
            if ctype in _MSGPACK_TYPES:
                return codec.msgpack.decode(body)
            if ctype in ("application/json", "text/plain", ""):
                samples = codec.json.decode(body)
                _ENCODE(samples)  # JSON ints may exceed 64 bits; the streams' msgpack cannot carry them
                return samples
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise Refused(400, f"malformed batch: {exc}") from None
        except OverflowError:
            raise Refused(400, "malformed batch: integer outside the 64-bit range") from None
        raise Refused(415, f"unsupported content type {ctype!r}; use application/msgpack or application/json")

    def _refuse(self, exc: Refused, device_id: str | None, request: web.Request) -> web.Response:
        if exc.status == 401:
            self.gate.failed(_address(request))
        self._count(exc, device_id)
        headers = {"Retry-After": "1"} if exc.status in (429, 503) else None
        return web.json_response({"error": exc.reason}, status=exc.status, headers=headers)

    def _count(self, exc: Refused, device_id: str | None) -> None:
        self.refused[exc.status] = self.refused.get(exc.status, 0) + 1
        log.info("refused device %r: %d %s", (device_id or "-")[:64], exc.status, exc.reason)


def _address(request: web.Request) -> str:
    """The client's address (the peer of the TCP connection; no proxy header is trusted)."""
    return request.remote or "-"
