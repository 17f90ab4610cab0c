"""Asyncio TCP server for the 3G/4G watch text protocol: frames in, wristband messages published, acks after durable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from actors.base import DeviceProfile
from actors.wristband import WristbandReading
from adapters.protocols.watch import WatchProtocolError, decode, split_frames
from core.events import Message, now_ms
from core.settings import WatchSettings

log = logging.getLogger(__name__)

STREAM_KIND = "wristband"
READ_CHUNK = 65536

Lookup = Callable[[str], DeviceProfile | None]
Publish = Callable[[str, list[Message]], Awaitable[None]]


class WatchServer:
    """Accepts watch connections, publishes their readings and writes each reply only after its publish returned."""

    def __init__(self, settings: WatchSettings, lookup: Lookup, publish: Publish) -> None:
        self.settings = settings
        self._lookup = lookup
        self._publish = publish
        self._server: asyncio.Server | None = None
        self._last_seq: dict[str, int] = {}
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound TCP port (the ephemeral one when settings asked for port 0)."""
        if self._server is None or not self._server.sockets:
            return self.settings.port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Bind and start accepting connections."""
        self._server = await asyncio.start_server(self._handle, self.settings.host, self.settings.port)
        log.info("watch server listening on %s:%d", self.settings.host, self.port)

    async def stop(self) -> None:
        """Stop accepting, close every open connection and wait until they are gone."""
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def next_seq(self, device_id: str, rx_ms: int) -> int:
        """Server-assigned sequence: monotone per device and, being time-based, across restarts."""
        seq = max(self._last_seq.get(device_id, 0) + 1, rx_ms * 1000)
        self._last_seq[device_id] = seq
        return seq

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        peer = _peer(writer)
        try:
            await self._serve(reader, writer, peer)
        except (ConnectionError, OSError) as exc:
            log.info("watch connection from %s dropped: %s", peer, type(exc).__name__)
        except Exception as exc:  # a failing lookup must not take the server down; values are never logged
            log.error("watch connection from %s failed: %s", peer, type(exc).__name__)
        finally:
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        buffer = b""
        watch_id: str | None = None  # a connection belongs to the first watch that spoke on it
        while True:
            try:
                data = await asyncio.wait_for(reader.read(READ_CHUNK), self.settings.idle_timeout_s)
            except TimeoutError:
                log.info("watch %s at %s idle for %ds, closing", watch_id or "-", peer, self.settings.idle_timeout_s)
                return
            if not data:
                return
            rx = now_ms()
            try:
                frames, buffer = split_frames(buffer + data, self.settings.max_frame_bytes)
            except WatchProtocolError as exc:
                log.warning("watch %s at %s: %s, closing", watch_id or "-", peer, exc.reason)
                return
            messages: list[Message[WristbandReading]] = []
            replies: list[bytes] = []
            failure: str | None = None
            for raw in frames:
                try:
                    frame = decode(raw, rx)
                except WatchProtocolError as exc:
                    failure = exc.reason
                    break
                if watch_id is None:
                    profile = self._lookup(frame.watch_id)
                    if profile is None:
                        failure = f"unregistered watch {frame.watch_id}"
                        break
                    if profile.kind != STREAM_KIND:
                        failure = f"watch {frame.watch_id} is registered as a {profile.kind!r}, not a {STREAM_KIND}"
                        break
                    watch_id = frame.watch_id
                elif frame.watch_id != watch_id:
                    failure = f"frame from another watch {frame.watch_id}"
                    break
                if frame.reading is not None:
                    seq = self.next_seq(watch_id, rx)
                    messages.append(Message(device_id=watch_id, seq=seq, ts=frame.device_ts, rx=rx, v=frame.reading))
                if frame.reply is not None:
                    replies.append(frame.reply)
            # frames before a bad one are still published and acknowledged, in order
            if messages:
                try:
                    await self._publish(STREAM_KIND, messages)
                except Exception as exc:  # not durable: no ack, the watch resends its alarms
                    log.error("watch %s at %s: publish failed (%s), closing", watch_id, peer, type(exc).__name__)
                    return
            if replies:
                writer.write(b"".join(replies))
                await writer.drain()
            if failure is not None:
                log.warning("watch %s at %s: %s, closing", watch_id or "-", peer, failure)
                return


def _peer(writer: asyncio.StreamWriter) -> str:
    info = writer.get_extra_info("peername")
    if isinstance(info, tuple) and len(info) >= 2:
        return f"{info[0]}:{info[1]}"
    return str(info)
