"""The shared event model: device messages and derived device events, msgpack on the wire."""

from __future__ import annotations

import time
from typing import Any, Generic, TypeVar

import msgspec

R = TypeVar("R")


class Sample(msgspec.Struct, Generic[R], forbid_unknown_fields=True):
    """One reading as a device uploads it: its own sequence number, device time and values."""

    seq: int
    ts: int  # device time, ms since the Unix epoch (UTC)
    v: R


WATCH_TCP = "watch-tcp"  # channel of the watch text protocol: unsigned, anyone who knows a watch id can speak for it


class Message(msgspec.Struct, Generic[R], kw_only=True, omit_defaults=True):
    """One device message on the streams: the upload plus identity and receive time."""

    device_id: str
    seq: int
    ts: int  # device time, ms
    rx: int  # receive time at the edge, ms
    v: R
    channel: str = ""  # "" for a signed upload; WATCH_TCP for an unauthenticated one


class DeviceEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Something a device actor concluded from its messages (SOS, swarm, no data ...)."""

    event_id: str  # deterministic: device_id:type:seq (or :tick time for timers), so replays dedup
    type: str
    kind: str
    device_id: str
    ts: int  # when it happened, ms
    seq: int = 0  # the message that triggered it; 0 for timer events
    village: str = ""
    lat: float | None = None
    lon: float | None = None
    detail: dict[str, Any] = {}
    channel: str = ""  # the channel of the message that raised it ("" signed, WATCH_TCP unauthenticated)


def now_ms() -> int:
    """Wall-clock time in ms since the epoch."""
    return time.time_ns() // 1_000_000


def event_id(device_id: str, type_: str, at: int) -> str:
    """Deterministic event id, so a replayed message raises the same event id again."""
    return f"{device_id}:{type_}:{at}"


_ENC = msgspec.msgpack.Encoder()
encode = _ENC.encode
EVENT_DECODER = msgspec.msgpack.Decoder(DeviceEvent)
