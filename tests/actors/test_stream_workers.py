"""The one stream-worker loop (`adapters.bus.run_rounds`), checked once for every worker that runs on it: the device
shard, the ClickHouse sink, the incident desk, the speaker service and the push consumer, each on a real Redis (and
chDB, a station simulator): cancellation, an ack that fails after the apply, reclaim, dead letters and trimming."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from actors.incident_desk import IncidentDesk
from actors.shard import Shard
from adapters.bus import DEAD, INCIDENTS, LOST, STORE, Consumer
from adapters.push.server import PushServer
from adapters.push.store import pending_key
from adapters.sink import TelemetrySink
from adapters.speaker.requests import OPERATOR, SpeakerRequest, request_fields
from adapters.speaker.service import SpeakerService
from adapters.telemetry import DB, EVENTS_TABLE, SPEAKER_LOG_TABLE, ChdbBackend, event_row
from core.events import DeviceEvent, Message, now_ms
from core.incidents import Dispatch, TicketEvent
from core.kinds.wristband import WristbandReading
from core.settings import BusSettings, PushSettings, Settings, SinkSettings, SpeakerSettings, StreamRetention
from sim.station import StationScript, StationServer, provision_stations

CONSUMED = {s: StreamRetention(max_age_s=0) for s in ("tele", "store", "events", "speaker", "dispatch")}
BUS = BusSettings(block_ms=20, claim_idle_ms=100, max_deliveries=50, retention=CONSUMED)  # retries stay below
MANY = 250  # more than two of Redis's stream nodes (100 entries), so an approximate trim removes some


@dataclass
class Worker:
    """One worker under test: its input consumer, its loop, how to feed it and how to see what it committed."""

    consumer: Consumer
    run: Callable[[], Coroutine[Any, Any, None]]
    put: Callable[[list[int]], Awaitable[list[bytes]]]  # entries n, added in one pipeline
    applied: Callable[[int], Awaitable[int]]  # how many times entry n's effect was committed
    close: Callable[[], Awaitable[None]]
    trim_setting: str  # the module constant of its trim cadence


def adder(
    r: aioredis.Redis, stream: str, fields: Callable[[int], Any]
) -> Callable[[list[int]], Awaitable[list[bytes]]]:
    async def put(ns: list[int]) -> list[bytes]:
        async with r.pipeline(transaction=False) as pipe:
            for n in ns:
                pipe.xadd(stream, fields(n))
            return list(await pipe.execute())

    return put


async def nothing() -> None:
    return None


async def shard_worker(r: aioredis.Redis, var: Path) -> Worker:
    shard = Shard(r, Settings(shards={"wristband": 1}, bus=BUS), "wristband", 0)

    def fields(n: int) -> dict[bytes, bytes]:
        m = Message(device_id=f"wb-{n}", seq=1, ts=now_ms() - 500, rx=now_ms(), v=WristbandReading(hr=70))
        return {b"m": msgspec.msgpack.encode([m])}

    async def applied(n: int) -> int:
        rows = [line for _, f in await r.xrange(STORE) if f[b"t"] == b"tele_wristband" for line in f[b"r"].split(b"\n")]
        return sum(msgspec.json.decode(line)[0] == f"wb-{n}" for line in rows)

    return Worker(shard.consumer, shard.run, adder(r, shard.consumer.stream, fields), applied, nothing,
                  "actors.shard.TRIM_EVERY_S")  # fmt: skip


async def sink_worker(r: aioredis.Redis, var: Path) -> Worker:
    backend = ChdbBackend(var / "chdb")
    sink = TelemetrySink(r, backend, Settings(bus=BUS, sink=SinkSettings(flush_ms=20, ttl_days=3650)))
    await sink.setup()

    def fields(n: int) -> dict[bytes, Any]:
        e = DeviceEvent(event_id=f"ev-{n}", type="sos", kind="wristband", device_id="wb-1", ts=now_ms(), seq=n)
        return {b"t": EVENTS_TABLE, b"r": event_row(e), b"n": 1}

    async def applied(n: int) -> int:
        found = await asyncio.to_thread(
            backend.query, f"SELECT count() AS n FROM {DB}.{EVENTS_TABLE} WHERE event_id = 'ev-{n}'"
        )
        return int(found[0]["n"])

    async def close() -> None:
        backend.close()

    return Worker(sink.consumer, sink.run, adder(r, STORE, fields), applied, close, "adapters.sink.TRIM_EVERY_S")


async def desk_worker(r: aioredis.Redis, var: Path) -> Worker:
    desk = IncidentDesk(r, Settings(bus=BUS))

    def fields(n: int) -> dict[bytes, bytes]:
        ev = DeviceEvent(event_id=f"wb-{n}:sos:1", type="sos", kind="wristband", device_id=f"wb-{n}", ts=now_ms(),
                         seq=1, village="杰迪村", lat=33.8, lon=104.25)  # fmt: skip
        return {b"e": msgspec.msgpack.encode(ev)}

    async def applied(n: int) -> int:
        history = [msgspec.msgpack.decode(f[b"t"], type=TicketEvent) for _, f in await r.xrange(INCIDENTS)]
        return sum(e.action == "open" and e.ticket_id.split(":")[1] == f"wb-{n}" for e in history)

    return Worker(desk.events, desk.run, adder(r, desk.events.stream, fields), applied, nothing,
                  "actors.incident_desk.TRIM_EVERY_S")  # fmt: skip


async def speaker_worker(r: aioredis.Redis, var: Path) -> Worker:
    station = StationServer([StationScript("st-0001", 1)])
    await station.start()
    await provision_stations(r, station)
    service = SpeakerService(r, var, SpeakerSettings(backoff_s=0.01, attempts=1, post_timeout_s=3), BUS)

    def fields(n: int) -> dict[bytes, bytes]:
        req = SpeakerRequest(device_id="st-0001", text="前方路口，请减速慢行", reason=OPERATOR, key=f"k{n}",
                             by="op-1", ts=now_ms())  # fmt: skip
        return request_fields(req)

    async def applied(n: int) -> int:
        rows = [msgspec.json.decode(f[b"r"]) for _, f in await r.xrange(STORE) if f[b"t"] == SPEAKER_LOG_TABLE.encode()]
        return sum(row[0] == f"k{n}" for row in rows)

    async def close() -> None:
        await service.stop()
        await station.stop()

    return Worker(service.consumer, service.run, adder(r, service.consumer.stream, fields), applied, close,
                  "adapters.speaker.service.TRIM_EVERY_S")  # fmt: skip


async def push_worker(r: aioredis.Redis, var: Path) -> Worker:
    server = PushServer(r, PushSettings(port=0, page_port=0, var_dir=var), BUS, var / "photos")
    await server.consumer.ensure_group()

    def fields(n: int) -> dict[bytes, bytes]:
        d = Dispatch(dispatch_id=f"d{n}", ticket_id=f"t{n}", recipient="u1", role="responder", title="山体滑坡",
                     severity=2, village="立节镇北山村", ts=now_ms())  # fmt: skip
        return {b"d": msgspec.msgpack.encode(d)}

    async def applied(n: int) -> int:
        return int(await r.hexists(pending_key("u1"), f"d{n}"))

    return Worker(server.consumer, server.consume, adder(r, server.consumer.stream, fields), applied, nothing,
                  "adapters.push.server.TRIM_EVERY_S")  # fmt: skip


BUILDERS = {"shard": shard_worker, "sink": sink_worker, "desk": desk_worker, "speaker": speaker_worker,
            "push": push_worker}  # fmt: skip
Build = Callable[..., Awaitable[Worker]]


@pytest_asyncio.fixture(params=list(BUILDERS))
async def build(request: pytest.FixtureRequest, r: aioredis.Redis, var_dir: Path) -> AsyncIterator[Build]:
    """Builds the worker of this parameter on a client (the test's by default); closed at the end."""
    made: list[Worker] = []

    async def make(client: aioredis.Redis = r) -> Worker:
        made.append(await BUILDERS[request.param](client, var_dir))
        return made[-1]

    yield make
    for worker in made:
        await worker.close()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel a worker's loop; it must end by cancellation, promptly."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert task.cancelled()


async def drained(c: Consumer) -> bool:
    """Nothing of the group is pending (every entry read was acknowledged)."""
    return int((await c.redis.xpending(c.stream, c.group))["pending"]) == 0


async def deliveries(c: Consumer, entry_id: bytes) -> int:
    info = await c.redis.xpending_range(c.stream, c.group, min=entry_id, max=entry_id, count=1)
    return int(info[0]["times_delivered"]) if info else 0


@pytest.mark.asyncio
async def test_cancelling_the_loop_ends_it_after_the_work_it_committed(build: Build) -> None:
    w = await build()
    await w.put([1])
    task = asyncio.create_task(w.run())
    await eventually(lambda: w.applied(1))
    await stop(task)
    assert await w.applied(1) == 1


@pytest.mark.asyncio
async def test_an_entry_applied_whose_ack_failed_is_applied_once_after_a_restart(
    build: Build, r: aioredis.Redis, redis_url: str
) -> None:
    await r.execute_command("ACL", "SETUSER", "noack", "on", ">noack-pw", "~*", "&*", "+@all", "-xack")
    u = urlsplit(redis_url)
    crippled = aioredis.from_url(u._replace(netloc=f"noack:noack-pw@{u.hostname}:{u.port}").geturl())
    try:
        first = await build(crippled)  # applies, but every ack (and so every MULTI holding one) is refused
        await first.consumer.ensure_group()
        [entry] = await first.put([1])
        task = asyncio.create_task(first.run())

        async def retried() -> bool:  # applied, the ack refused, and read again at least once
            return await deliveries(first.consumer, entry) >= 2

        await eventually(retried)
        await stop(task)  # the crash
        await first.close()
    finally:
        await crippled.aclose()
        await r.execute_command("ACL", "DELUSER", "noack")
    restarted = await build()
    task = asyncio.create_task(restarted.run())
    await eventually(lambda: drained(restarted.consumer))
    await stop(task)
    assert await restarted.applied(1) == 1


@pytest.mark.asyncio
async def test_entries_a_dead_consumer_left_pending_are_reclaimed_and_applied(build: Build, r: aioredis.Redis) -> None:
    w = await build()
    await w.consumer.ensure_group()
    [entry] = await w.put([1])
    crashed = Consumer(r, w.consumer.stream, w.consumer.group, "crashed-twin", BUS)
    assert [e[0] for e in await crashed.read(block_ms=0)] == [entry]  # read, then never acked
    await asyncio.sleep(BUS.claim_idle_ms * 2 / 1000)
    task = asyncio.create_task(w.run())
    await eventually(lambda: drained(w.consumer))
    await stop(task)
    assert await w.applied(1) == 1


@pytest.mark.asyncio
async def test_an_entry_delivered_max_deliveries_times_is_dead_lettered_not_applied(
    build: Build, r: aioredis.Redis
) -> None:
    w = await build()
    c = w.consumer
    await c.ensure_group()
    [poison] = await w.put([1])
    await r.xreadgroup(c.group, c.name, {c.stream: ">"})
    for _ in range(BUS.max_deliveries):  # earlier incarnations failed on it every time
        await r.xreadgroup(c.group, c.name, {c.stream: "0"})
    await w.put([2])
    task = asyncio.create_task(w.run())
    await eventually(lambda: w.applied(2))
    await stop(task)
    [(_, dead)] = await r.xrange(DEAD)
    assert (dead[b"stream"], dead[b"id"]) == (c.stream.encode(), poison)
    assert f"failed {BUS.max_deliveries} deliveries".encode() in dead[b"error"]
    assert await w.applied(1) == 0


@pytest.mark.asyncio
async def test_acknowledged_entries_leave_the_stream_and_pending_ones_stay(
    build: Build, r: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await build()
    monkeypatch.setattr(w.trim_setting, 0.0)  # apply retention every round
    await w.put(list(range(MANY)))
    task = asyncio.create_task(w.run())
    await eventually(lambda: w.applied(MANY - 1))

    async def trimmed() -> bool:  # at least one whole stream node (100 entries) of acknowledged entries went
        return await r.xlen(w.consumer.stream) <= MANY - 100

    await eventually(trimmed)
    await stop(task)
    assert not await r.exists(LOST)  # nothing was trimmed before it was processed
