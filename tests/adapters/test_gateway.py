"""Ingest gateway over HTTP and websocket against a real Redis: accepted batches land in their shard stream once;
every bad request is refused with a 4xx and a reason, leaves stored data alone and the gateway keeps serving."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import msgpack
import msgspec
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from adapters import registry
from adapters.bus import shard_of, tele_stream
from adapters.ingest.gateway import Gateway
from core.events import Message, Sample, now_ms
from core.kinds import DeviceProfile
from core.kinds.beehive import BeehiveReading
from core.kinds.wristband import WristbandReading
from core.settings import IngestSettings, Settings
from core.signing import device_key, sign
from sim.fleet import build_fleet

MASTER = b"gateway-test-master-key"
MSGPACK = "application/msgpack"
JSON = "application/json"
TS = 1_700_000_000_000  # device time of the first sample
FLEET = build_fleet(3, 1, watch_share=0.0, seed=7)
BAND, OTHER_BAND = FLEET.bands[0], FLEET.bands[1]
HIVE = FLEET.hives[0]
T = TypeVar("T")


# --- clients, signing and stored data ------------------------------------------------------------------------


def make_settings(**ingest: Any) -> Settings:
    """Explicit settings (no environment or YAML file involved); `ingest` overrides the gateway limits."""
    return Settings(
        device_master_key=MASTER.decode(),
        shards={"wristband": 2, "beehive": 1},
        ingest=IngestSettings(**{"flush_ms": 2.0, **ingest}),
    )


class Device:
    """A registered device as a client: its key and strictly increasing, fresh signed timestamps."""

    def __init__(self, profile: DeviceProfile, key_version: int | None = None) -> None:
        self.id = profile.device_id
        self.kind = profile.kind
        self.key = device_key(MASTER, self.id, key_version or profile.key_version)
        self._ts = 0

    def next_ts(self) -> int:
        self._ts = max(now_ms(), self._ts + 1)
        return self._ts

    def headers(self, body: bytes, ctype: str | None = MSGPACK, ts: int | None = None) -> dict[str, str]:
        ts = self.next_ts() if ts is None else ts
        headers = {"X-Device-Id": self.id, "X-Timestamp": str(ts), "X-Signature": sign(self.key, ts, body)}
        if ctype is not None:
            headers["Content-Type"] = ctype
        return headers

    def handshake(self) -> dict[str, str]:
        """Websocket handshake headers: a signature over the timestamp and an empty body."""
        return self.headers(b"", ctype=None)


def batch(n: int, first_seq: int = 1) -> list[Sample[WristbandReading]]:
    """n wristband samples with consecutive seqs, one minute apart."""
    return [
        Sample(seq=first_seq + i, ts=TS + 60_000 * (first_seq + i), v=WristbandReading(hr=70 + i, battery=80, steps=i))
        for i in range(n)
    ]


def pack(samples: list[Any]) -> bytes:
    return msgspec.msgpack.encode(samples)


@dataclass
class Served:
    """A started gateway, its test client and the Redis it writes to."""

    client: TestClient
    gateway: Gateway
    redis: aioredis.Redis
    settings: Settings

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        async with self.client.post("/v1/telemetry", data=body, headers=headers) as resp:
            return resp.status, await resp.json(), dict(resp.headers)

    async def send(self, device: Device, samples: list[Any]) -> int:
        """Post a correctly signed msgpack batch; returns the status."""
        body = pack(samples)
        status, _, _ = await self.post(body, device.headers(body))
        return status

    async def refused(self, body: bytes, headers: dict[str, str], status: int) -> dict[str, str]:
        """Post and expect a refusal with `status` and a reason; returns the response headers."""
        got, reply, resp_headers = await self.post(body, headers)
        assert got == status, reply
        assert isinstance(reply.get("error"), str) and reply["error"]
        return resp_headers

    async def stored(self, device: Device) -> list[Message[Any]]:
        return await stored(self.redis, self.settings, device)

    async def still_serving(self, device: Device, before: list[Message[Any]]) -> None:
        """Earlier accepted data is unchanged and a new valid request of the device is accepted."""
        assert await self.stored(device) == before
        fresh = batch(1, first_seq=1000 + len(before))
        assert await self.send(device, fresh) == 200
        after = await self.stored(device)
        assert after[: len(before)] == before and [m.seq for m in after[len(before) :]] == [fresh[0].seq]
        async with self.client.get("/healthz") as resp:
            assert resp.status == 200


async def stored(redis: aioredis.Redis, settings: Settings, device: Device) -> list[Message[Any]]:
    """Every message of a device in its kind's shard stream, in stream order."""
    reading = {"wristband": WristbandReading, "beehive": BeehiveReading}[device.kind]
    decoder = msgspec.msgpack.Decoder(list[Message[reading]])  # type: ignore[valid-type]
    stream = tele_stream(device.kind, shard_of(device.id, settings.shard_count(device.kind)))
    entries = await redis.xrange(stream)
    return [m for _, fields in entries for m in decoder.decode(fields[b"m"]) if m.device_id == device.id]


def closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest_asyncio.fixture
async def serve(redis_url: str) -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    """Starts gateways (ingest settings as keyword arguments) after registering the fleet; closes them after."""
    redis = aioredis.Redis.from_url(redis_url)
    await registry.register(redis, FLEET.all)
    clients: list[TestClient] = []

    async def start(**ingest: Any) -> Served:
        settings = make_settings(**ingest)
        gateway = Gateway(redis, settings)
        client = TestClient(TestServer(gateway.app))
        await client.start_server()
        clients.append(client)
        return Served(client, gateway, redis, settings)

    try:
        yield start
    finally:
        for client in clients:
            await client.close()
        await redis.aclose()


@pytest_asyncio.fixture
async def served(serve: Callable[..., Awaitable[Served]]) -> Served:
    return await serve()


@pytest_asyncio.fixture
async def seeded(served: Served) -> tuple[Served, Device, list[Message[Any]]]:
    """A gateway with one accepted batch of BAND already stored."""
    band = Device(BAND)
    assert await served.send(band, batch(3)) == 200
    before = await served.stored(band)
    assert len(before) == 3
    return served, band, before


# --- accepted uploads -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_signed_msgpack_batch_lands_in_its_shard_stream(served: Served) -> None:
    band = Device(BAND)
    samples = batch(3)
    body = pack(samples)
    before = now_ms()
    status, reply, _ = await served.post(body, band.headers(body))
    assert (status, reply) == (200, {"accepted": 3})
    msgs = await served.stored(band)
    assert [(m.device_id, m.seq, m.ts, m.v) for m in msgs] == [(BAND.device_id, s.seq, s.ts, s.v) for s in samples]
    assert all(before <= m.rx <= now_ms() for m in msgs)
    shard = shard_of(BAND.device_id, 2)
    assert await served.redis.xlen(tele_stream("wristband", 1 - shard)) == 0  # nothing in the other shard


@pytest.mark.asyncio
async def test_devices_are_spread_over_their_kinds_shards(served: Served) -> None:
    for profile in [*FLEET.bands, HIVE]:
        device = Device(profile)
        samples = batch(1) if profile.kind == "wristband" else [Sample(seq=1, ts=TS, v=BeehiveReading(weight=31.5))]
        assert await served.send(device, samples) == 200
        assert [m.seq for m in await served.stored(device)] == [1]
    shards = {shard_of(p.device_id, 2) for p in FLEET.bands}
    lengths = [await served.redis.xlen(tele_stream("wristband", s)) for s in (0, 1)]
    assert sum(lengths) == len(FLEET.bands) and {s for s in (0, 1) if lengths[s]} == shards
    assert await served.redis.xlen(tele_stream("beehive", 0)) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("ctype", [JSON, "application/json; charset=utf-8", "text/plain"])
async def test_json_batch_is_accepted(served: Served, ctype: str) -> None:
    band = Device(BAND)
    samples = batch(2)
    body = msgspec.json.encode(samples)
    status, reply, _ = await served.post(body, band.headers(body, ctype=ctype))
    assert (status, reply) == (200, {"accepted": 2})
    assert [(m.seq, m.v) for m in await served.stored(band)] == [(s.seq, s.v) for s in samples]


@pytest.mark.asyncio
@pytest.mark.parametrize("field", ["seq", "ts", "hr"])
async def test_json_integer_beyond_64_bits_is_400_and_spares_other_devices(
    serve: Callable[..., Awaitable[Served]], field: str
) -> None:
    served = await serve(flush_ms=50.0)  # both requests share one group commit
    band, other = Device(BAND), Device(OTHER_BAND)
    sample: dict[str, Any] = {"seq": 1, "ts": TS, "v": {"hr": 70}}
    if field == "hr":
        sample["v"]["hr"] = 2**64
    else:
        sample[field] = 2**64
    body = json.dumps([sample]).encode()
    _, good = await asyncio.gather(
        served.refused(body, band.headers(body, ctype=JSON), 400), served.send(other, batch(2))
    )
    assert good == 200
    assert await served.stored(band) == []
    assert [m.seq for m in await served.stored(other)] == [1, 2]


# --- refusals: each one leaves the stored data alone, and the gateway keeps serving ------------------------------

MALFORMED = {
    "garbage": b"\xc1\xff not msgpack at all",
    "not a list": msgpack.packb({"seq": 1, "ts": TS, "v": {}}),
    "seq as text": msgpack.packb([{"seq": "one", "ts": TS, "v": {"hr": 70}}]),
    "hr as text": msgpack.packb([{"seq": 1, "ts": TS, "v": {"hr": "seventy"}}]),
    "missing ts": msgpack.packb([{"seq": 1, "v": {}}]),
    "unknown sample field": msgpack.packb([{"seq": 1, "ts": TS, "v": {}, "extra": 1}]),
    "unknown reading field": msgpack.packb([{"seq": 1, "ts": TS, "v": {"pulse": 70}}]),
    "empty list": msgpack.packb([]),
    "empty body": b"",
}


@pytest.mark.asyncio
@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_body_is_400(seeded: tuple[Served, Device, list[Message[Any]]], body: bytes) -> None:
    served, band, before = seeded
    await served.refused(body, band.headers(body), 400)
    await served.still_serving(band, before)


@pytest.mark.asyncio
async def test_malformed_json_is_400(seeded: tuple[Served, Device, list[Message[Any]]]) -> None:
    served, band, before = seeded
    body = b'[{"seq": 1, "ts": 1700000000000, "v": {"hr": 70}'
    await served.refused(body, band.headers(body, ctype=JSON), 400)
    await served.still_serving(band, before)


@pytest.mark.asyncio
async def test_missing_device_id_is_400(seeded: tuple[Served, Device, list[Message[Any]]]) -> None:
    served, band, before = seeded
    body = pack(batch(1, first_seq=50))
    headers = band.headers(body)
    del headers["X-Device-Id"]
    await served.refused(body, headers, 400)
    await served.still_serving(band, before)


@pytest.mark.asyncio
async def test_non_integer_timestamp_is_400(seeded: tuple[Served, Device, list[Message[Any]]]) -> None:
    served, band, before = seeded
    body = pack(batch(1, first_seq=50))
    await served.refused(body, {**band.headers(body), "X-Timestamp": "yesterday"}, 400)
    await served.still_serving(band, before)


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["other device's key", "old key version", "tampered body", "hex garbage"])
async def test_bad_signature_is_401(seeded: tuple[Served, Device, list[Message[Any]]], how: str) -> None:
    served, band, before = seeded
    body = pack(batch(2, first_seq=50))
    headers = band.headers(body)
    ts = int(headers["X-Timestamp"])
    if how == "other device's key":
        headers["X-Signature"] = sign(Device(OTHER_BAND).key, ts, body)
    elif how == "old key version":
        headers["X-Signature"] = sign(device_key(MASTER, band.id, 0), ts, body)
    elif how == "tampered body":
        body = pack(batch(2, first_seq=60))
    else:
        headers["X-Signature"] = "0" * 64
    await served.refused(body, headers, 401)
    await served.still_serving(band, before)


@pytest.mark.asyncio
@pytest.mark.parametrize("header", ["X-Signature", "X-Timestamp"])
async def test_missing_signature_or_timestamp_is_401(
    seeded: tuple[Served, Device, list[Message[Any]]], header: str
) -> None:
    served, band, before = seeded
    body = pack(batch(1, first_seq=50))
    headers = band.headers(body)
    del headers[header]
    await served.refused(body, headers, 401)
    await served.still_serving(band, before)


@pytest.mark.asyncio
@pytest.mark.parametrize("offset_s", [-301, 301, -86_400])
async def test_stale_timestamp_is_401(seeded: tuple[Served, Device, list[Message[Any]]], offset_s: int) -> None:
    served, band, before = seeded
    assert served.settings.ingest.clock_skew_s == 300
    body = pack(batch(1, first_seq=50))
    await served.refused(body, band.headers(body, ts=now_ms() + offset_s * 1000), 401)
    await served.still_serving(band, before)


@pytest.mark.asyncio
async def test_replayed_request_is_401_and_stored_once(served: Served) -> None:
    band = Device(BAND)
    body = pack(batch(2))
    headers = band.headers(body)
    status, _, _ = await served.post(body, headers)
    assert status == 200
    before = await served.stored(band)
    await served.refused(body, headers, 401)  # the very same request again
    older = band.headers(body, ts=int(headers["X-Timestamp"]) - 1)  # signed correctly, but not newer
    await served.refused(body, older, 401)
    assert [m.seq for m in await served.stored(band)] == [1, 2]
    await served.still_serving(band, before)


@pytest.mark.asyncio
async def test_replay_defence_survives_a_gateway_restart(serve: Callable[..., Awaitable[Served]]) -> None:
    first = await serve()
    band = Device(BAND)
    body = pack(batch(1))
    headers = band.headers(body)
    assert (await first.post(body, headers))[0] == 200
    second = await serve()  # a fresh gateway loads the accepted timestamps from Redis
    await second.refused(body, headers, 401)
    assert [m.seq for m in await second.stored(band)] == [1]


@pytest.mark.asyncio
@pytest.mark.parametrize("offset_s", [0, -3600], ids=["fresh", "stale"])
async def test_unknown_device_is_answered_like_a_bad_signature(
    seeded: tuple[Served, Device, list[Message[Any]]], offset_s: int
) -> None:
    served, band, before = seeded
    stranger = Device(DeviceProfile(device_id="wb-99999", kind="wristband"))
    body = pack(batch(1))
    unknown = await served.post(body, stranger.headers(body, ts=now_ms() + offset_s * 1000))
    forged = {**band.headers(body, ts=now_ms() + offset_s * 1000), "X-Signature": sign(stranger.key, 1, body)}
    known = await served.post(body, forged)
    assert unknown[0] == known[0] == 401
    assert unknown[1] == known[1]  # the same reason: a refusal does not tell whether the id is registered
    assert await served.stored(stranger) == []
    await served.still_serving(band, before)


@pytest.mark.asyncio
async def test_failed_authentications_of_an_address_are_limited(serve: Callable[..., Awaitable[Served]]) -> None:
    served = await serve(auth_failures_burst=3.0, auth_failures_per_s=2.0)
    band = Device(BAND)
    assert await served.send(band, batch(1)) == 200
    before = await served.stored(band)
    body = pack(batch(1, first_seq=10))
    for _ in range(3):
        await served.refused(body, {**band.headers(body), "X-Signature": "0" * 64}, 401)
    headers = await served.refused(body, band.headers(body), 429)  # even a valid request, before any work for it
    assert int(headers["Retry-After"]) >= 1
    with pytest.raises(WSServerHandshakeError) as info:
        await served.client.ws_connect("/v1/ws", headers=band.handshake())
    assert info.value.status == 429
    assert await served.stored(band) == before
    await asyncio.sleep(0.6)  # one failure forgiven at 2/s
    await served.still_serving(band, before)


@pytest.mark.asyncio
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_body_over_the_limit_is_413(serve: Callable[..., Awaitable[Served]], chunked: bool) -> None:
    served = await serve(max_body_bytes=2048)
    band = Device(BAND)
    assert await served.send(band, batch(2)) == 200
    before = await served.stored(band)
    body = pack(batch(200, first_seq=10))
    assert len(body) > 2048
    headers = band.headers(body)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 512):
            yield body[i : i + 512]

    async with served.client.post("/v1/telemetry", data=chunks() if chunked else body, headers=headers) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]
    await served.still_serving(band, before)


@pytest.mark.asyncio
async def test_too_many_messages_is_413(serve: Callable[..., Awaitable[Served]]) -> None:
    served = await serve(max_messages=5)
    band = Device(BAND)
    assert await served.send(band, batch(5)) == 200
    before = await served.stored(band)
    body = pack(batch(6, first_seq=10))
    await served.refused(body, band.headers(body), 413)
    await served.still_serving(band, before)


@pytest.mark.asyncio
@pytest.mark.parametrize("ctype", ["application/xml", "application/octet-stream", "multipart/form-data", None])
async def test_unsupported_content_type_is_415(
    seeded: tuple[Served, Device, list[Message[Any]]], ctype: str | None
) -> None:
    served, band, before = seeded
    body = pack(batch(1, first_seq=50))
    await served.refused(body, band.headers(body, ctype=ctype), 415)
    await served.still_serving(band, before)


@pytest.mark.asyncio
async def test_over_the_rate_is_429_with_retry_after(serve: Callable[..., Awaitable[Served]]) -> None:
    served = await serve(rate_msgs_per_s=2.0, rate_burst=4.0, max_messages=4)
    band, other = Device(BAND), Device(OTHER_BAND)
    assert await served.send(band, batch(4)) == 200  # the whole burst
    before = await served.stored(band)
    body = pack(batch(1, first_seq=10))
    headers = await served.refused(body, band.headers(body), 429)
    assert int(headers["Retry-After"]) >= 1
    assert await served.send(other, batch(1)) == 200  # the limit is per device
    await asyncio.sleep(0.6)  # the bucket refills at 2 messages/s
    await served.still_serving(band, before)


@pytest.mark.asyncio
async def test_refusals_are_counted_in_health(seeded: tuple[Served, Device, list[Message[Any]]]) -> None:
    served, band, _ = seeded
    body = pack(batch(1, first_seq=50))
    await served.refused(body, {**band.headers(body), "X-Signature": "00"}, 401)
    await served.refused(b"junk", band.headers(b"junk"), 400)
    async with served.client.get("/healthz") as resp:
        assert resp.status == 200
        health = await resp.json()
    assert health["status"] == "ok" and health["published"] == 3
    assert health["refused"] == {"400": 1, "401": 1}


# --- websocket --------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["bad signature", "missing signature", "unknown device"])
async def test_websocket_bad_handshake_is_refused_before_upgrade(served: Served, how: str) -> None:
    band = Device(BAND)
    headers = band.handshake()
    if how == "bad signature":
        headers["X-Signature"] = sign(band.key, int(headers["X-Timestamp"]), b"not empty")
    elif how == "missing signature":
        del headers["X-Signature"]
    else:
        headers["X-Device-Id"] = "wb-99999"  # answered like a bad signature: the fleet cannot be listed
    with pytest.raises(WSServerHandshakeError) as info:
        await served.client.ws_connect("/v1/ws", headers=headers)
    assert info.value.status == 401
    assert await served.stored(band) == []


@pytest.mark.asyncio
async def test_websocket_frames_are_accepted_and_a_bad_frame_keeps_the_connection(served: Served) -> None:
    band = Device(BAND)
    ws = await served.client.ws_connect("/v1/ws", headers=band.handshake())
    try:
        await ws.send_bytes(pack(batch(2)))
        assert await ws.receive_json(timeout=5) == {"accepted": 2}
        await ws.send_bytes(b"\xc1 garbage")
        reply = await ws.receive_json(timeout=5)
        assert reply["status"] == 400 and isinstance(reply["error"], str) and reply["error"]
        await ws.send_bytes(msgpack.packb([{"seq": "x", "ts": TS, "v": {}}]))
        assert (await ws.receive_json(timeout=5))["status"] == 400
        await ws.send_str(json.dumps([{"seq": 2**64, "ts": TS, "v": {}}]))  # JSON int the streams cannot carry
        assert (await ws.receive_json(timeout=5))["status"] == 400
        await ws.send_str(msgspec.json.encode(batch(1, first_seq=3)).decode())  # text frames are JSON
        assert await ws.receive_json(timeout=5) == {"accepted": 1}
    finally:
        await ws.close()
    assert [m.seq for m in await served.stored(band)] == [1, 2, 3]


@pytest.mark.asyncio
async def test_websocket_handshake_in_query_and_replay_refused(served: Served) -> None:
    band = Device(BAND)
    h = band.handshake()
    query = {"device_id": h["X-Device-Id"], "ts": h["X-Timestamp"], "sig": h["X-Signature"]}
    ws = await served.client.ws_connect("/v1/ws", params=query)
    await ws.send_bytes(pack(batch(1)))
    assert await ws.receive_json(timeout=5) == {"accepted": 1}
    await ws.close()
    with pytest.raises(WSServerHandshakeError) as info:  # the same handshake again is a replay
        await served.client.ws_connect("/v1/ws", params=query)
    assert info.value.status == 401


# --- key rotation, storage outage, header edge cases --------------------------------------------------------


@pytest.mark.asyncio
async def test_key_version_bump_retires_the_old_key(served: Served) -> None:
    old, new = Device(BAND), Device(BAND, key_version=2)
    assert await served.send(old, batch(1)) == 200
    await registry.register(served.redis, [msgspec.structs.replace(BAND, key_version=2)])
    await served.gateway.refresh_registry()
    body = pack(batch(1, first_seq=2))
    await served.refused(body, old.headers(body), 401)
    status, reply, _ = await served.post(body, new.headers(body, ts=old.next_ts()))
    assert (status, reply) == (200, {"accepted": 1})
    assert [m.seq for m in await served.stored(old)] == [1, 2]


@pytest.mark.asyncio
async def test_redis_down_is_503_with_retry_after_and_recovers(
    seeded: tuple[Served, Device, list[Message[Any]]],
) -> None:
    served, band, before = seeded
    publisher = served.gateway.publisher
    healthy, down = publisher.redis, aioredis.Redis.from_url(f"redis://127.0.0.1:{closed_port()}")
    publisher.redis = down
    try:
        body = pack(batch(2, first_seq=50))
        headers = await served.refused(body, band.headers(body), 503)
        assert headers["Retry-After"] == "1"
        async with served.client.get("/healthz") as resp:
            assert resp.status == 200
    finally:
        publisher.redis = healthy
        await down.aclose()
    assert await served.stored(band) == before  # the refused batch was not stored, the earlier one is intact
    assert await served.send(band, batch(2, first_seq=50)) == 200  # the device's retry, signed anew
    after = await served.stored(band)
    assert after[:3] == before and [m.seq for m in after[3:]] == [50, 51]
    await served.still_serving(band, after)


@pytest.mark.asyncio
async def test_non_ascii_signature_is_401_not_500(seeded: tuple[Served, Device, list[Message[Any]]]) -> None:
    served, band, before = seeded
    body = pack(batch(1, first_seq=50))
    headers = band.headers(body)
    raw = headers["X-Signature"][:-1].encode() + b"\xe9"  # a latin-1 byte on the wire
    headers["X-Signature"] = raw.decode("latin-1")
    await served.refused(body, headers, 401)
    await served.still_serving(band, before)


# --- fuzz: any request gets a 4xx (or 200 when genuinely valid), never a 5xx -----------------------------------


class LoopThread:
    """An event loop running in a background thread, so a synchronous hypothesis test can drive a live server."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gateway-fuzz-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class Threaded:
    """One gateway served from a background loop for the whole fuzz run; requests go over plain http.client."""

    loop: LoopThread
    server: TestServer
    redis: aioredis.Redis
    settings: Settings

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type") or "", resp.read()
        finally:
            conn.close()

    def stored(self, device: Device) -> list[Message[Any]]:
        return self.loop.run(stored(self.redis, self.settings, device))


@pytest.fixture
def threaded(redis_url: str) -> Iterator[Threaded]:
    loop = LoopThread()
    settings = make_settings(rate_msgs_per_s=10_000.0, rate_burst=10_000.0, auth_failures_burst=10_000.0)

    async def up() -> tuple[TestServer, aioredis.Redis]:
        redis = aioredis.Redis.from_url(redis_url)
        await registry.register(redis, FLEET.all)
        server = TestServer(Gateway(redis, settings).app)
        await server.start_server()
        return server, redis

    server, redis = loop.run(up())
    try:
        yield Threaded(loop, server, redis, settings)
    finally:
        loop.run(server.close())
        loop.run(redis.aclose())
        loop.close()


HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
MSGPACK_INT = st.integers(-(2**63), 2**64 - 1)
LEAVES = st.none() | st.booleans() | MSGPACK_INT | st.floats() | st.text(max_size=12)
MSGPACK_ANY = st.recursive(
    LEAVES | st.binary(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
JSON_ANY = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
WRONG = st.text(max_size=4) | st.floats() | st.booleans() | st.none() | st.lists(MSGPACK_INT, max_size=2)
READING = st.fixed_dictionaries(
    {},
    optional={
        "hr": st.integers(0, 250) | WRONG, "spo2": st.integers(50, 100) | WRONG, "temp": st.floats(30, 43) | WRONG,
        "steps": st.integers(0, 50_000) | WRONG, "battery": st.integers(0, 100) | WRONG, "worn": st.booleans() | WRONG,
        "alarm": st.sampled_from(["sos", "fall"]) | WRONG, "weight": st.floats(0, 80) | WRONG, "pulse": MSGPACK_INT,
    },
)  # fmt: skip


def near_valid_samples(ints: st.SearchStrategy[int]) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Sample-shaped maps with some wrong types; `ints` adds integers the encoding can carry (JSON: any size)."""
    sample = st.fixed_dictionaries(
        {"seq": st.integers(0, 2**40) | ints | WRONG, "ts": st.integers(TS, TS + 10**9) | WRONG, "v": READING | WRONG},
        optional={"extra": ints},
    )
    return st.lists(sample, max_size=4)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """A request body and a content type that mostly, but not always, matches it."""
    form = draw(st.sampled_from(["binary", "msgpack", "json", "near-valid msgpack", "near-valid json"]))
    if form == "binary":
        body = draw(st.binary(max_size=600))
    elif form == "msgpack":
        body = msgpack.packb(draw(MSGPACK_ANY))
    elif form == "json":
        body = json.dumps(draw(JSON_ANY)).encode()
    elif form == "near-valid msgpack":
        body = msgpack.packb(draw(near_valid_samples(MSGPACK_INT)))
    else:
        body = json.dumps(draw(near_valid_samples(st.integers(-(10**30), 10**30)))).encode()
    fitting = JSON if "json" in form else MSGPACK
    ctype = draw(st.sampled_from([fitting] * 4 + [MSGPACK, JSON, "text/plain", "application/xml", None, "random"]))
    return body, draw(HEADER_TEXT) if ctype == "random" else ctype


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly a registered device (so the body gets decoded), sometimes an unknown, missing or random id."""
    body, ctype = draw(bodies())
    device = draw(st.sampled_from([BAND.device_id] * 6 + [HIVE.device_id] * 2 + ["wb-99999", None, "random"]))
    device = draw(HEADER_TEXT) if device == "random" else device
    signing = draw(st.sampled_from(["valid", "valid", "stale", "wrong key", "none", "random ts", "random signature"]))
    return {
        "body": body, "ctype": ctype, "device": device, "signing": signing,
        "random_ts": draw(HEADER_TEXT), "random_sig": draw(HEADER_TEXT),
    }  # fmt: skip


def test_fuzzed_requests_never_get_a_5xx(threaded: Threaded) -> None:
    band = Device(BAND)
    devices = {p.device_id: Device(p) for p in FLEET.all}
    seed_body = pack(batch(3))
    status, _, _ = threaded.request("POST", "/v1/telemetry", seed_body, band.headers(seed_body))
    assert status == 200
    before = threaded.stored(band)
    statuses: dict[int, int] = {}
    accepted = {p.device_id: 0 for p in FLEET.all}

    @hyp_settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(case=requests())
    def one_request(case: dict[str, Any]) -> None:
        body, device_id = case["body"], case["device"]
        signer = devices.get(device_id) or Device(DeviceProfile(device_id=device_id or "-", kind="wristband"))
        headers = signer.headers(body, ctype=case["ctype"])
        if device_id is None:
            del headers["X-Device-Id"]
        ts = int(headers["X-Timestamp"])
        match case["signing"]:
            case "stale":
                headers["X-Timestamp"] = str(ts - 3_600_000)
                headers["X-Signature"] = sign(signer.key, ts - 3_600_000, body)
            case "wrong key":
                headers["X-Signature"] = sign(device_key(b"another master", signer.id), ts, body)
            case "none":
                del headers["X-Timestamp"], headers["X-Signature"]
            case "random ts":
                headers["X-Timestamp"] = case["random_ts"]
            case "random signature":
                headers["X-Signature"] = case["random_sig"]
        status, ctype, raw = threaded.request("POST", "/v1/telemetry", body, headers)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:  # only a genuinely valid, correctly signed batch of a registered device
            assert case["signing"] == "valid" and device_id in devices
            accepted[device_id] += json.loads(raw)["accepted"]
            return
        assert 400 <= status < 500, (status, raw[:300])
        if ctype.startswith(JSON):
            assert json.loads(raw)["error"]

    one_request()
    assert sum(statuses.values()) >= 100 and all(s < 500 for s in statuses)
    status, _, raw = threaded.request("GET", "/healthz")
    assert status == 200 and json.loads(raw)["status"] == "ok"
    after = threaded.stored(band)
    assert after[: len(before)] == before  # earlier data intact
    assert len(after) == len(before) + accepted[BAND.device_id]  # every accepted message stored, nothing else
    assert len(threaded.stored(Device(HIVE))) == accepted[HIVE.device_id]
