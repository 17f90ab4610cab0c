"""Asyncio TCP server for the 3G/4G watch text protocol: frames in, wristband messages published, acks after durable.

The protocol has no signature: anyone who knows a watch's id can speak for it. The server therefore admits only
`watch.allowed_networks`, caps open connections, limits each watch through the gateway's DeviceGate (the same
bucket as its HTTP uploads) and marks every message with the unauthenticated channel it came over."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable

from adapters.ingest.auth import DeviceGate, Refused
from adapters.protocols.watch import WatchProtocolError, decode, split_frames
from core.events import WATCH_TCP, Message, now_ms
from core.kinds.wristband import WristbandReading
from core.settings import WatchSettings

log = logging.getLogger(__name__)

STREAM_KIND = "wristband"
READ_CHUNK = 65536

Publish = Callable[[str, list[Message]], Awaitable[None]]


class WatchServer:
    """Accepts watch connections, publishes their readings and writes each reply only after its publish returned."""

    def __init__(self, settings: WatchSettings, gate: DeviceGate, publish: Publish) -> None:
        self.settings = settings
        self._gate = gate
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

    def _admitted(self, writer: asyncio.StreamWriter, peer: str) -> bool:
        """Whether a new connection may stay: an allowed address and room under the connection cap."""
        if self.settings.allowed_networks:
            info = writer.get_extra_info("peername")
            try:
                address = ipaddress.ip_address(info[0] if isinstance(info, tuple) else "")
            except ValueError:
                address = None
            if address is None or not any(address in net for net in self.settings.allowed_networks):
                log.warning("watch connection from %s refused: address not in watch.allowed_networks", peer)
                return False
        if len(self._handlers) >= self.settings.max_connections:
            log.warning("watch connection from %s refused: %d connections open", peer, len(self._handlers))
            return False
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer)
        task = asyncio.current_task()
        if task is None or not self._admitted(writer, peer):
            writer.close()
            return
        self._handlers.add(task)
        try:
            await self._serve(reader, writer, peer)
        except (ConnectionError, OSError) as exc:
            log.info("watch connection from %s dropped: %s", peer, type(exc).__name__)
        except Exception as exc:  # a failing lookup must not take the server down; values are never logged
            log.error("watch connection from %s failed: %s", peer, type(exc).__name__)
        finally:
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
            taken = 0
            for raw in frames:
                try:
                    frame = decode(raw, rx)
                except WatchProtocolError as exc:
                    failure = exc.reason
                    break
                if watch_id is None:
                    profile = self._gate.devices.get(frame.watch_id)
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
                    messages.append(
                        Message(
                            device_id=watch_id, seq=seq, ts=frame.device_ts, rx=rx, v=frame.reading, channel=WATCH_TCP
                        )
                    )
                if frame.reply is not None:
                    replies.append(frame.reply)
                taken += 1
            if watch_id is not None and taken:
                try:
                    self._gate.take(watch_id, taken)  # each frame spends from the watch's bucket, heartbeats too
                except Refused:  # nothing published or acknowledged: a real watch resends later
                    log.warning("watch %s at %s over its rate, closing", watch_id, peer)
                    return
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
