"""Voice warning requests on the `speaker` stream: operator broadcasts, rule-triggered and immediate warnings."""

from __future__ import annotations

import re
import unicodedata
import uuid

import msgspec
import redis.asyncio as aioredis

from adapters import registry
from adapters.bus import SPEAKER
from core.events import DeviceEvent, now_ms

MAX_CHARS = 200  # longest text a station plays (about 40 s of speech)
STATION_KIND = "station"
AUTO_BY = "station"  # `by` of warnings a station raises itself (warn_on)
OPERATOR = "operator"  # `reason` of an operator's typed broadcast
_SPACES = re.compile(r"\s+")


class SpeakerRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One voice warning for one station's loudspeaker; `key` makes it idempotent end to end."""

    device_id: str
    text: str
    reason: str  # rule id, violation type or "operator"
    key: str  # event id for warnings about an event, a fresh id for operator broadcasts
    by: str  # "rule:<id>", "station" or the operator's user id
    ts: int = 0  # when it was requested (for a warning about an event: the event's time), ms


class BroadcastError(ValueError):
    """A broadcast that cannot be sent; the message (Chinese, for operators) says why and names the device."""


_ENCODE = msgspec.msgpack.Encoder().encode
DECODE = msgspec.msgpack.Decoder(SpeakerRequest).decode


def request_fields(req: SpeakerRequest) -> dict[bytes, bytes]:
    """The stream entry of a request."""
    return {b"r": _ENCODE(req)}


def clean_text(text: str) -> str:
    """Text with control and format characters removed and runs of whitespace made one space."""
    kept = "".join(" " if ch.isspace() else ch for ch in text if unicodedata.category(ch)[0] != "C" or ch.isspace())
    return _SPACES.sub(" ", kept).strip()


def check_text(device_id: str, text: str) -> str:
    """Cleaned text of a warning; BroadcastError when it is empty or longer than MAX_CHARS."""
    cleaned = clean_text(text)
    if not cleaned:
        raise BroadcastError(f"劝导站 {device_id}: 语音内容为空")
    if len(cleaned) > MAX_CHARS:
        raise BroadcastError(f"劝导站 {device_id}: 语音内容 {len(cleaned)} 字，超过上限 {MAX_CHARS} 字")
    return cleaned


async def request_broadcast(redis: aioredis.Redis, device_id: str, text: str, by: str) -> str:
    """Queue an operator's typed message for a station's loudspeaker; returns the request key.

    BroadcastError when the text is empty or too long, the operator is not named, or the device is unknown or
    not a station.
    """
    cleaned = check_text(device_id, text)
    who = clean_text(by)
    if not who:
        raise BroadcastError(f"劝导站 {device_id}: 未注明操作人")
    found = await registry.load_some(redis, [device_id])
    profile = found.get(device_id)
    if profile is None:
        raise BroadcastError(f"设备 {device_id} 未登记，无法播放语音")
    if profile.kind != STATION_KIND:
        raise BroadcastError(f"设备 {device_id} 是 {profile.kind}，不是劝导站，无法播放语音")
    key = f"op:{uuid.uuid4().hex}"
    req = SpeakerRequest(device_id=device_id, text=cleaned, reason=OPERATOR, key=key, by=who, ts=now_ms())
    await redis.xadd(SPEAKER, request_fields(req))  # type: ignore[arg-type]
    return key


def event_warnings(events: list[DeviceEvent]) -> list[SpeakerRequest]:
    """Immediate warnings for station events that carry `detail.voice` (the station's warn_on list).

    The key is the event id, the same key a rule's `voice` uses, so the speaker plays the warning once.
    """
    out = []
    for e in events:
        voice = e.detail.get("voice")
        if e.kind == STATION_KIND and isinstance(voice, str) and clean_text(voice):
            text = clean_text(voice)[:MAX_CHARS]
            out.append(SpeakerRequest(device_id=e.device_id, text=text, reason=e.type, key=e.event_id, by=AUTO_BY,
                                      ts=e.ts))  # fmt: skip
    return out


def rule_warning(event: DeviceEvent, rule_id: str, voice: str | None, now: int) -> SpeakerRequest | None:
    """The warning a rule with `voice` plays for a station event that opened or updated its incident."""
    if not voice or event.kind != STATION_KIND:
        return None
    text = clean_text(voice)[:MAX_CHARS]
    if not text:
        return None
    return SpeakerRequest(device_id=event.device_id, text=text, reason=rule_id, key=event.event_id,
                          by=f"rule:{rule_id}", ts=event.ts or now)  # fmt: skip


def queue(pipe: aioredis.client.Pipeline, requests: list[SpeakerRequest]) -> None:
    """Add requests to a pipeline (e.g. inside the MULTI that commits the events they are about)."""
    for req in requests:
        pipe.xadd(SPEAKER, request_fields(req))  # type: ignore[arg-type]
