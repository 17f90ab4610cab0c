"""WatchServer over TCP on an ephemeral port: publish then ack; unknown watches and garbage closed; server lives;
addresses outside the allow-list, connections over the cap and watches over their rate are refused."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from adapters.ingest.auth import DeviceGate
from adapters.ingest.watch_server import WatchServer
from adapters.protocols.watch import encode
from core.events import WATCH_TCP, Message, now_ms
from core.kinds import DeviceProfile
from core.kinds.wristband import WristbandReading
from core.settings import IngestSettings, WatchSettings
from sim.watch import frames_for, run_watch

WATCH = "8800000015"
HOME = (33.7868, 104.3712)
TS = 1_700_000_000_000


class Sink:
    """The gateway's device gate (registry and rates) and an in-memory stream: what the server published."""

    def __init__(self, ingest: IngestSettings | None = None) -> None:
        self.devices = {WATCH: DeviceProfile(device_id=WATCH, kind="wristband", lat=HOME[0], lon=HOME[1])}
        self.lookup = DeviceGate(ingest or IngestSettings(), b"watch-test-master", devices=self.devices)
        self.calls: list[tuple[str, list[Message]]] = []
        self.gate: asyncio.Event | None = None  # when set, publish waits for it

    async def publish(self, kind: str, messages: list[Message]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.calls.append((kind, list(messages)))

    @property
    def messages(self) -> list[Message]:
        return [m for _, batch in self.calls for m in batch]


@pytest_asyncio.fixture
async def served() -> AsyncIterator[tuple[WatchServer, Sink]]:
    sink = Sink()
    server = WatchServer(WatchSettings(host="127.0.0.1", port=0, idle_timeout_s=5), sink.lookup, sink.publish)
    await server.start()
    try:
        yield server, sink
    finally:
        await server.stop()


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True when the server closes the connection (EOF) within 2 s."""
    try:
        return await asyncio.wait_for(reader.read(), 2.0) == b""
    except (ConnectionResetError, TimeoutError):
        return False


@pytest.mark.asyncio
async def test_lk_ud_sos_published_and_acknowledged(served: tuple[WatchServer, Sink]) -> None:
    server, sink = served
    assert server.port > 0
    before = now_ms()
    walk = WristbandReading(lat=HOME[0], lon=HOME[1], battery=80, steps=1200)
    sos = WristbandReading(alarm="sos", lat=HOME[0], lon=HOME[1], battery=79, steps=1210)
    replies = await run_watch("127.0.0.1", server.port, WATCH, [(TS, walk), (TS + 60_000, sos)])
    assert replies == [b"[3G*8800000015*0002*LK]", b"[3G*8800000015*0002*AL]"]
    assert {kind for kind, _ in sink.calls} == {"wristband"}
    msgs = sink.messages
    assert [m.v for m in msgs] == [walk, sos]
    assert [m.ts for m in msgs] == [TS, TS + 60_000]
    assert all(m.device_id == WATCH and m.rx >= before for m in msgs)
    assert msgs[0].seq < msgs[1].seq
    assert all(m.seq >= m.rx * 1000 for m in msgs)
    assert all(m.channel == WATCH_TCP for m in msgs)  # marked: the protocol is unauthenticated


@pytest.mark.asyncio
async def test_frames_of_one_read_share_one_publish_and_split_frames_join(served: tuple[WatchServer, Sink]) -> None:
    server, sink = served
    reading = WristbandReading(lat=HOME[0], lon=HOME[1], battery=70, steps=5, hr=75, temp=36.6)
    frames = frames_for("3G", WATCH, TS, reading)
    assert len(frames) == 3
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"".join(frames) + frames[0][:15])  # three whole frames and the head of a fourth
    await writer.drain()
    await asyncio.sleep(0.2)
    assert len(sink.calls) == 1 and len(sink.calls[0][1]) == 3
    writer.write(frames[0][15:])
    await writer.drain()
    await asyncio.sleep(0.2)
    assert len(sink.calls) == 2 and sink.calls[1][1][0].v == sink.calls[0][1][0].v
    seqs = [m.seq for m in sink.messages]
    assert seqs == sorted(set(seqs))
    writer.close()


@pytest.mark.asyncio
async def test_reply_only_after_publish_returned(served: tuple[WatchServer, Sink]) -> None:
    server, sink = served
    sink.gate = asyncio.Event()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(frames_for("3G", WATCH, TS, WristbandReading(alarm="fall", battery=50, steps=0))[0])
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readuntil(b"]"), 0.3)
    assert sink.calls == []
    sink.gate.set()
    assert await asyncio.wait_for(reader.readuntil(b"]"), 2.0) == b"[3G*8800000015*0002*AL]"
    assert sink.messages[0].v.alarm == "fall"
    writer.close()


@pytest.mark.asyncio
async def test_unknown_watch_is_closed(served: tuple[WatchServer, Sink], caplog: pytest.LogCaptureFixture) -> None:
    server, sink = served
    caplog.set_level(logging.INFO, logger="adapters.ingest.watch_server")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(encode("3G", "1234567890", "LK"))
    writer.write(frames_for("3G", "1234567890", TS, WristbandReading(lat=HOME[0], lon=HOME[1], battery=9))[0])
    await writer.drain()
    assert await closed_by_server(reader)
    assert sink.calls == []
    assert "1234567890" in caplog.text
    assert str(HOME[0]) not in caplog.text  # positions are never logged
    writer.close()


@pytest.mark.asyncio
async def test_watch_registered_as_another_kind_is_closed(
    served: tuple[WatchServer, Sink], caplog: pytest.LogCaptureFixture
) -> None:
    server, sink = served
    hive = "8800000099"
    sink.devices[hive] = DeviceProfile(device_id=hive, kind="beehive", lat=HOME[0], lon=HOME[1])
    caplog.set_level(logging.INFO, logger="adapters.ingest.watch_server")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(frames_for("3G", hive, TS, WristbandReading(alarm="sos", lat=HOME[0], lon=HOME[1], battery=9))[0])
    await writer.drain()
    assert await closed_by_server(reader)  # no ack: the frame was not taken as a wristband's
    assert sink.calls == []
    assert hive in caplog.text and "beehive" in caplog.text
    assert str(HOME[0]) not in caplog.text
    writer.close()
    replies = await run_watch("127.0.0.1", server.port, WATCH, [(TS, WristbandReading(alarm="sos"))])
    assert replies[-1] == b"[3G*8800000015*0002*AL]"  # real wristbands are still served


@pytest.mark.asyncio
async def test_garbage_closes_connection_but_server_keeps_serving(served: tuple[WatchServer, Sink]) -> None:
    server, sink = served
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    assert await closed_by_server(reader)
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(encode("3G", WATCH, "LK") + b"[3G*8800000015*0005*heart,x]")  # LK is still acknowledged
    await writer.drain()
    assert await asyncio.wait_for(reader.readuntil(b"]"), 2.0) == b"[3G*8800000015*0002*LK]"
    assert await closed_by_server(reader)
    writer.close()
    replies = await run_watch("127.0.0.1", server.port, WATCH, [(TS, WristbandReading(alarm="sos"))])
    assert replies[-1] == b"[3G*8800000015*0002*AL]"
    assert sink.messages[-1].v.alarm == "sos"


@pytest.mark.asyncio
async def test_idle_and_oversized_connections_are_closed() -> None:
    sink = Sink()
    settings = WatchSettings(host="127.0.0.1", port=0, idle_timeout_s=1, max_frame_bytes=256)
    server = WatchServer(settings, sink.lookup, sink.publish)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await closed_by_server(reader)  # silent for 1 s
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"[3G*8800000015*0100*" + b"x" * 300)
        await writer.drain()
        assert await closed_by_server(reader)
        writer.close()
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_stop_closes_open_connections() -> None:
    sink = Sink()
    server = WatchServer(WatchSettings(host="127.0.0.1", port=0), sink.lookup, sink.publish)
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(encode("3G", WATCH, "LK"))
    await writer.drain()
    await asyncio.wait_for(reader.readuntil(b"]"), 2.0)
    await asyncio.wait_for(server.stop(), 2.0)
    assert await closed_by_server(reader)
    writer.close()


def test_seq_is_monotone_and_time_based() -> None:
    sink = Sink()
    server = WatchServer(WatchSettings(port=0), sink.lookup, sink.publish)
    assert server.next_seq("a", 5) == 5000
    assert server.next_seq("a", 5) == 5001
    assert server.next_seq("a", 4) == 5002  # a clock step back never reuses a seq
    assert server.next_seq("a", 9) == 9000
    assert server.next_seq("b", 4) == 4000


async def served_with(sink: Sink, **watch: object) -> WatchServer:
    server = WatchServer(WatchSettings(host="127.0.0.1", port=0, **watch), sink.lookup, sink.publish)  # type: ignore[arg-type]
    await server.start()
    return server


async def acknowledged(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """A connection whose LK heartbeat was answered, or None when the server closed it instead."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(encode("3G", WATCH, "LK"))
        await writer.drain()
        reply = await asyncio.wait_for(reader.readuntil(b"]"), 2.0)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
        return None
    assert reply == b"[3G*8800000015*0002*LK]"
    return reader, writer


@pytest.mark.asyncio
async def test_address_outside_the_allowed_networks_is_closed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="adapters.ingest.watch_server")
    sink = Sink()
    elsewhere = await served_with(sink, allowed_networks=["10.20.0.0/16", "fd00::/8"])
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", elsewhere.port)
        assert await closed_by_server(reader)  # at connect, before the watch says anything
        writer.close()
        assert await acknowledged(elsewhere.port) is None
        assert sink.calls == [] and "allowed_networks" in caplog.text
    finally:
        await elsewhere.stop()
    loopback = await served_with(sink, allowed_networks=["127.0.0.0/8"])
    try:
        replies = await run_watch("127.0.0.1", loopback.port, WATCH, [(TS, WristbandReading(alarm="sos"))])
        assert replies[-1] == b"[3G*8800000015*0002*AL]" and sink.messages[-1].v.alarm == "sos"
    finally:
        await loopback.stop()


@pytest.mark.asyncio
async def test_connections_over_the_cap_are_closed_until_one_leaves() -> None:
    server = await served_with(Sink(), max_connections=2)
    try:
        first, second = await acknowledged(server.port), await acknowledged(server.port)
        assert first is not None and second is not None
        assert await acknowledged(server.port) is None  # a third is closed at once
        first[1].close()
        await first[1].wait_closed()
        await asyncio.sleep(0.1)
        third = await acknowledged(server.port)
        assert third is not None
        for _, writer in (second, third):
            writer.close()
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_rate_is_spent_from_the_same_bucket_as_the_watchs_http_uploads() -> None:
    sink = Sink(IngestSettings(rate_msgs_per_s=1.0, rate_burst=3.0, max_messages=3))
    server = await served_with(sink)
    try:
        sink.lookup.take(WATCH, 3)  # an HTTP upload of the same device spent its bucket
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"".join(frames_for("3G", WATCH, TS, WristbandReading(battery=70, hr=75, steps=5))[:2]))
        await writer.drain()
        assert await closed_by_server(reader)  # two frames, no tokens: nothing published, nothing acknowledged
        writer.close()
        assert sink.calls == []
        await asyncio.sleep(2.2)  # the bucket refills at 1 frame/s
        replies = await run_watch("127.0.0.1", server.port, WATCH, [(TS, WristbandReading(alarm="sos"))])
        assert replies == [b"[3G*8800000015*0002*LK]", b"[3G*8800000015*0002*AL]"]
    finally:
        await server.stop()
