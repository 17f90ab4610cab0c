"""A simulated 3G/4G watch: wristband readings as watch protocol frames, and a small TCP client that sends them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from datetime import UTC, datetime

from adapters.protocols.watch import FALL_BITS, REMOVED_BIT, SOS_BIT, decode, encode
from core.kinds.wristband import WristbandReading

FALL_BIT = FALL_BITS & -FALL_BITS  # the lower of the two fall bits (bit 21)
Timed = tuple[int, WristbandReading]


def frames_for(vendor: str, watch_id: str, ts_ms: int, reading: WristbandReading) -> list[bytes]:
    """The frames a watch sends for one reading: AL (alarm or taken off) or UD, then heart and btemp2.

    A watch always reports battery and steps in AL/UD, so missing ones go out as 100 and 0; spo2 has no frame here.
    """
    status = 0
    if reading.alarm == "sos":
        status |= SOS_BIT
    elif reading.alarm == "fall":
        status |= FALL_BIT
    if reading.worn is False:
        status |= REMOVED_BIT
    frames: list[bytes] = []
    located = reading.lat is not None and reading.lon is not None
    if status or located or reading.battery is not None or reading.steps is not None:
        kind = "AL" if status else "UD"
        frames.append(encode(vendor, watch_id, _position(kind, ts_ms, reading, status)))
    if reading.hr is not None:
        frames.append(encode(vendor, watch_id, f"heart,{reading.hr}"))
    if reading.temp is not None:
        frames.append(encode(vendor, watch_id, f"btemp2,1,{reading.temp:.2f}"))
    return frames


def _position(kind: str, ts_ms: int, r: WristbandReading, status: int) -> str:
    t = datetime.fromtimestamp(ts_ms // 1000, UTC)
    located = r.lat is not None and r.lon is not None
    lat = r.lat if located and r.lat is not None else 0.0
    lon = r.lon if located and r.lon is not None else 0.0
    battery = 100 if r.battery is None else r.battery
    steps = 0 if r.steps is None else r.steps
    when = t.strftime("%d%m%y,%H%M%S")
    fix = f"{'A' if located else 'V'},{abs(lat):.6f},{'S' if lat < 0 else 'N'},{abs(lon):.7f},{'W' if lon < 0 else 'E'}"
    motion = "0.0,0.0,2000.0"  # speed km/h, course, altitude (Zhouqu lies high)
    counts = f"{7 if located else 0},100,{battery},{steps},0,{status:08X}"  # satellites, signal, ..., status
    cells = "1,1,460,0,9360,4082,131"  # one China Mobile cell tower
    return f"{kind},{when},{fix},{motion},{counts},{cells}"


async def run_watch(
    host: str,
    port: int,
    watch_id: str,
    readings: Iterable[Timed] | AsyncIterable[Timed],
    *,
    vendor: str = "3G",
    timeout_s: float = 10.0,
) -> list[bytes]:
    """Connect, send LK, then each reading's frames, waiting for every expected reply; returns the replies."""
    reader, writer = await asyncio.open_connection(host, port)
    replies: list[bytes] = []
    try:
        replies.append(await _exchange(reader, writer, encode(vendor, watch_id, "LK"), timeout_s))
        async for ts_ms, reading in _each(readings):
            for frame in frames_for(vendor, watch_id, ts_ms, reading):
                replies.append(await _exchange(reader, writer, frame, timeout_s))
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return [r for r in replies if r]


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, frame: bytes, timeout_s: float
) -> bytes:
    """Send one frame; when the server must acknowledge it (LK, AL ...), wait for exactly that reply."""
    writer.write(frame)
    await writer.drain()
    expected = decode(frame, 0).reply
    if expected is None:
        return b""
    try:
        reply = await asyncio.wait_for(reader.readuntil(b"]"), timeout_s)
    except asyncio.IncompleteReadError:
        raise ConnectionError("server closed the connection") from None
    if reply != expected:
        raise ConnectionError("unexpected reply from the server")
    return reply


async def _each(readings: Iterable[Timed] | AsyncIterable[Timed]) -> AsyncIterator[Timed]:
    if isinstance(readings, AsyncIterable):
        async for item in readings:
            yield item
    else:
        for item in readings:
            yield item
