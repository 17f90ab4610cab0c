"""Operator broadcasts are validated before they reach the `speaker` stream; event warnings are keyed by event."""

from __future__ import annotations

import msgspec
import pytest
import redis.asyncio as aioredis

from adapters import registry
from adapters.bus import SPEAKER
from adapters.speaker.requests import (
    MAX_CHARS,
    BroadcastError,
    SpeakerRequest,
    clean_text,
    event_warnings,
    request_broadcast,
    rule_warning,
)  # fmt: skip
from core.events import DeviceEvent
from core.kinds import DeviceProfile

STATION = DeviceProfile(device_id="st-0001", kind="station", village="城关村")
CAMERA = DeviceProfile(device_id="cam-0001", kind="camera")


async def queued(r: aioredis.Redis) -> list[SpeakerRequest]:
    return [msgspec.msgpack.decode(f[b"r"], type=SpeakerRequest) for _, f in await r.xrange(SPEAKER)]


@pytest.mark.asyncio
async def test_a_typed_message_is_queued_cleaned_with_its_operator(r: aioredis.Redis) -> None:
    await registry.register(r, [STATION])
    text = "  村民请注意：\n今晚有大风\x00\x1b[31m，请关好门窗。\u200b "
    key = await request_broadcast(r, "st-0001", text, by="op-7")
    [req] = await queued(r)
    assert req.key == key and req.device_id == "st-0001" and req.by == "op-7" and req.reason == "operator"
    assert req.text == "村民请注意： 今晚有大风[31m，请关好门窗。" and req.ts > 0


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("device", "text", "by", "error"),
    [
        ("st-0001", "   \n\t ", "op-7", "语音内容为空"),
        ("st-0001", "慢" * (MAX_CHARS + 1), "op-7", f"超过上限 {MAX_CHARS} 字"),
        ("st-0001", "请减速", "  ", "未注明操作人"),
        ("st-9999", "请减速", "op-7", "设备 st-9999 未登记"),
        ("cam-0001", "请减速", "op-7", "设备 cam-0001 是 camera，不是劝导站"),
    ],
)
async def test_bad_broadcasts_are_refused_with_a_reason_naming_the_device(
    r: aioredis.Redis, device: str, text: str, by: str, error: str
) -> None:
    await registry.register(r, [STATION, CAMERA])
    with pytest.raises(BroadcastError, match=error):
        await request_broadcast(r, device, text, by)
    assert await queued(r) == []


def test_exactly_the_limit_is_allowed_and_control_characters_go() -> None:
    assert clean_text("a\tb\r\nc\x07d") == "a b cd" and len(clean_text("慢" * MAX_CHARS)) == MAX_CHARS


def test_event_and_rule_warnings_share_the_event_key_and_only_stations_speak() -> None:
    speeding = DeviceEvent(event_id="st-0001:speeding:9:3", type="speeding", kind="station", device_id="st-0001",
                           ts=1, detail={"voice": "前方劝导站提示：您已超速，请减速慢行。"})  # fmt: skip
    quiet = msgspec.structs.replace(speeding, event_id="st-0001:speeding:9:4", detail={})
    camera = msgspec.structs.replace(speeding, kind="camera", device_id="cam-0001")
    [auto] = event_warnings([speeding, quiet, camera])
    by_rule = rule_warning(speeding, "station.speeding", "请减速慢行", now=5)
    assert by_rule is not None and auto.key == by_rule.key == "st-0001:speeding:9:3"
    assert auto.by == "station" and by_rule.by == "rule:station.speeding" and by_rule.reason == "station.speeding"
    assert rule_warning(camera, "x", "请减速", now=5) is None and rule_warning(speeding, "x", None, now=5) is None
