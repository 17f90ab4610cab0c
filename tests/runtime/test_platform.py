"""End to end on real Redis, local Ray and chDB: devices -> ingest -> streams -> hosts -> ClickHouse, and failures."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import ray
import redis

from actors.shard import twin_key
from actors.wristband import WristbandState
from adapters.bus import EVENTS, INCIDENTS
from adapters.protocols.watch import encode as watch_frame
from core.events import EVENT_DECODER, WATCH_TCP, Sample
from core.incidents import TicketEvent
from core.kinds import DeviceProfile
from core.kinds.wristband import WristbandReading
from runtime.platform import Platform
from sim.load import LoadConfig, LoadRunner
from tests.runtime.platform_kit import count, platform_settings, post, register, wait

pytestmark = pytest.mark.slow

_HOME = {"kind": "wristband", "village": "杰迪村", "township": "立节镇", "lat": 33.8, "lon": 104.25}
BANDS = [DeviceProfile(device_id=f"wb-t{i:02d}", **_HOME) for i in range(4)]  # type: ignore[arg-type]
WATCH = DeviceProfile(device_id="8800000015", **_HOME)  # type: ignore[arg-type]


def _events(p: Platform, type_: str) -> list[Any]:
    client = redis.Redis.from_url(p.redis_url)
    found = [EVENT_DECODER.decode(f[b"e"]) for _, f in client.xrange(EVENTS)]
    client.close()
    return [e for e in found if e.type == type_]


def _twin(p: Platform, device_id: str) -> WristbandState:
    client = redis.Redis.from_url(p.redis_url)
    blob = client.hget(twin_key("wristband"), device_id)
    client.close()
    assert blob is not None
    return msgspec.msgpack.decode(blob, type=WristbandState)


def test_http_sos_becomes_device_event_and_telemetry_reaches_clickhouse(platform: Platform) -> None:
    """(The same platform also shows its citizen service and workflow host answering.)"""
    register(platform, BANDS)
    now = int(time.time() * 1000)
    samples = [Sample(seq=i + 1, ts=now - 3000 + i * 1000, v=WristbandReading(hr=72 + i, battery=80)) for i in range(3)]
    samples.append(Sample(seq=4, ts=now, v=WristbandReading(alarm="sos", lat=33.8, lon=104.25)))
    assert post(platform, "wb-t01", samples) == 200
    sos = wait(lambda: _events(platform, "sos"))
    assert sos[0].device_id == "wb-t01"
    assert sos[0].village == "杰迪村"
    assert sos[0].channel == ""  # a signed upload
    assert wait(lambda: count(platform, "tele_wristband", "device_id = 'wb-t01'") == 4)
    assert wait(lambda: count(platform, "device_events", "type = 'sos'") == 1)
    row = platform.query("SELECT hr FROM zq.tele_wristband WHERE device_id = 'wb-t01' AND seq = 2")[0]
    assert row["hr"] == 73
    _citizen_service_and_workflow_host_answer(platform)


def _citizen_service_and_workflow_host_answer(platform: Platform) -> None:
    import urllib.request

    base = f"http://127.0.0.1:{platform.settings.workflows.citizen_port}"
    with urllib.request.urlopen(f"{base}/h5/guide", timeout=10) as resp:
        assert resp.status == 200 and "一次性劳务补贴申请" in resp.read().decode()
    with urllib.request.urlopen(f"{base}/open311/v2/services.json", timeout=10) as resp:
        assert any(s["service_code"] for s in msgspec.json.decode(resp.read()))
    stats = platform.stats()
    assert stats["workflows"]["alive"] and stats["citizen"]["port"] == platform.settings.workflows.citizen_port


def test_watch_protocol_sos_becomes_device_event(platform: Platform) -> None:
    register(platform, [WATCH])

    async def go() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", platform.settings.watch.port)
        writer.write(watch_frame("3G", WATCH.device_id, "LK,0,0,90"))
        await reader.readuntil(b"]")
        alarm = "AL,291126,093000,A,33.800000,N,104.2500000,E,0.0,0,100,9,80,90,1200,50,00010000,1,1,460,0,0,0,0"
        writer.write(watch_frame("3G", WATCH.device_id, alarm))
        reply = await asyncio.wait_for(reader.readuntil(b"]"), 10)
        writer.close()
        return reply

    assert asyncio.run(go()) == watch_frame("3G", WATCH.device_id, "AL")
    sos = wait(lambda: _events(platform, "sos"))
    assert sos[0].device_id == WATCH.device_id
    assert sos[0].channel == WATCH_TCP  # the watch protocol is unsigned: the alarm says so

    def opened() -> list[TicketEvent]:
        client = redis.Redis.from_url(platform.redis_url)
        found = [msgspec.msgpack.decode(f[b"t"], type=TicketEvent) for _, f in client.xrange(INCIDENTS)]
        client.close()
        return [e for e in found if e.action == "open" and e.detail.get("device_id") == WATCH.device_id]

    assert wait(opened)[0].detail["channel"] == WATCH_TCP  # and so does its ticket


def _run_load(p: Platform, seconds: float, rate: float, during: Callable[[], None]) -> int:
    cfg = LoadConfig(
        ingest_url=f"http://127.0.0.1:{p.settings.ingest.port}", watch_port=p.settings.watch.port,
        master_key=p.settings.device_master_key.get_secret_value(), wristbands=100, hives=0, watch_share=0.0,
        rate=rate, seconds=seconds, upload_s=1.0,
    )  # fmt: skip
    from sim.fleet import build_fleet

    register(p, build_fleet(100, 0, 0.0).all)

    async def go() -> int:
        runner = LoadRunner(cfg)
        task = asyncio.ensure_future(runner.run())
        await asyncio.sleep(seconds / 2)
        await asyncio.to_thread(during)
        result = await task
        assert result.refused == {} and result.errors == 0
        return result.sent

    return asyncio.run(go())


def _kill9(actor: Any) -> int:
    pid = int(ray.get(actor.stats.remote())["pid"])
    os.kill(pid, signal.SIGKILL)
    return pid


def test_sink_killed_mid_run_loses_and_duplicates_nothing(platform: Platform) -> None:
    killed: list[int] = []
    sent = _run_load(platform, seconds=5.0, rate=2400.0, during=lambda: killed.append(_kill9(platform.store)))
    assert sent >= 10_000
    assert wait(lambda: count(platform, "tele_wristband") >= sent, timeout=90)
    assert ray.get(platform.store.stats.remote())["pid"] != killed[0]
    total = platform.query("SELECT count() AS n, uniqExact(device_id, seq) AS u FROM zq.tele_wristband")[0]
    assert int(total["n"]) == sent
    assert int(total["u"]) == sent


def test_host_killed_restores_state_without_loss_or_double_apply(platform: Platform) -> None:
    victim = platform.hosts[("wristband", 0)]
    killed: list[int] = []
    sent = _run_load(platform, seconds=4.0, rate=1000.0, during=lambda: killed.append(_kill9(victim)))
    assert wait(lambda: count(platform, "tele_wristband") >= sent, timeout=90)
    stats = wait(lambda: ray.get(victim.stats.remote()), timeout=60)
    assert stats["pid"] != killed[0]
    assert stats["restored"] > 0
    total = platform.query("SELECT count() AS n, uniqExact(device_id, seq) AS u FROM zq.tele_wristband")[0]
    assert int(total["n"]) == int(total["u"]) == sent
    # every device's twin applied each of its messages exactly once: applied == last seq == rows stored
    per_device = platform.query(
        "SELECT device_id, count() AS n, max(seq) AS m FROM zq.tele_wristband GROUP BY device_id"
    )
    for row in per_device:
        twin = _twin(platform, row["device_id"])
        assert twin.applied == int(row["n"]) == int(row["m"]) == twin.last_seq


def test_a_platform_that_fails_to_start_stops_what_it_had_started(
    ray_session: None, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: dict[str, Any] = {}
    stop = Platform.stop

    def spy(self: Platform) -> None:
        started.update(desk=self.desk, push=self.push, store=self.store)
        stop(self)

    monkeypatch.setattr(Platform, "stop", spy)
    settings = platform_settings(redis_url, tmp_path / "var")
    with socket.socket() as taken:  # someone else holds the ingest port
        taken.bind(("127.0.0.1", settings.ingest.port))
        taken.listen()
        with pytest.raises(ray.exceptions.RayActorError, match="address already in use"):
            Platform(settings).start()
    assert started and all(actor is not None for actor in started.values())
    for actor in started.values():  # started before the ingest failed, and gone now
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(actor.stats.remote(), timeout=30)
