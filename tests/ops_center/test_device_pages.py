"""Device pages without a browser: real Redis, real chDB; masking by role, area refusal, SQL ids, broadcast, records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import msgspec
import numpy as np
import panel as pn
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from actors.snapshots import write_snapshot
from adapters import bus, registry
from adapters.adoption import Adopter, AdopterError, load_adopter, save_adopters
from adapters.audit import recent
from adapters.care import Person, PersonError, id_check_digit, load_person, save_persons, valid_id_number
from adapters.speaker.requests import DECODE, BroadcastError
from adapters.telemetry import ChdbBackend, column_names, event_row
from core.access import AccessDenied, User
from core.events import DeviceEvent, now_ms
from core.kinds import DeviceProfile
from core.settings import Settings
from ops_center import devices
from ops_center.context import OpsContext
from ops_center.devices import beehive, camera, generic, kind_module, station, wristband
from ops_center.devices.queries import recent_events
from ops_center.devices.widgets import Section
from ops_center.live import LiveState
from ops_center.pages.device import open_device
from ops_center.session import OpsSession
from sim.fleet import ZHOUQU_ID_PREFIX, build_fleet, provision, synthetic_person

LIJIE, FENGDIE, VILLAGE = "立节镇", "峰迭镇", "杰迪村"
PHONE, FAMILY, ID_NUMBER = "13812345678", "13987654321", "623023194503120022"
LIJIE_OP = User(username="lijie_op", name="立节镇值班员", level="township", duties=["operator"], township=LIJIE)
OFFICER = User(username="jiedi_officer", name="杰迪村干部", level="village", duties=["officer"], township=LIJIE,
               village=VILLAGE)  # fmt: skip
RESPONDER = User(username="lijie_resp", name="立节镇处置员", level="township", duties=["responder"], township=LIJIE)
FENGDIE_OP = User(username="fengdie_op", name="峰迭镇值班员", level="township", duties=["operator"], township=FENGDIE)
BAND = DeviceProfile(device_id="wb-90001", kind="wristband", village=VILLAGE, township=LIJIE, lat=33.86328,
                     lon=103.94652,
                     params={"hr_max": 115, "fence_radius_m": 400, "fence_policy": "always"})  # fmt: skip
HIVE = DeviceProfile(device_id="hive-9001", kind="beehive", village=VILLAGE, township=LIJIE, lat=33.864, lon=103.947)
FAR_HIVE = DeviceProfile(device_id="hive-9002", kind="beehive", village="土桥子村", township=FENGDIE, lat=33.43,
                         lon=104.30)  # fmt: skip
CAMERA = DeviceProfile(device_id="cam-9001", kind="camera", village=VILLAGE, township=LIJIE, lat=33.863, lon=103.946,
                       params={"source": "/nonexistent.mp4", "zones": [
                           {"name": "村口广场", "purpose": "crowd", "polygon": [[100, 400], [600, 400], [600, 700]]},
                           {"name": "河边", "purpose": "water", "polygon": [[700, 300], [1200, 300], [1200, 700]],
                            "hours": [20, 6]}],
                           "lines": [{"name": "桥头单行线", "start": [50, 200], "end": [900, 220]}]})  # fmt: skip
STATION = DeviceProfile(device_id="st-9001", kind="station", village=VILLAGE, township=LIJIE, lat=33.862, lon=103.945)
FAR_STATION = DeviceProfile(device_id="st-9002", kind="station", village="土桥子村", township=FENGDIE, lat=33.43,
                            lon=104.30)  # fmt: skip


def insert(backend: ChdbBackend, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows (dicts by column; missing columns null) the way the sink does."""
    cols = column_names(table)
    data = b"\n".join(msgspec.json.encode([r.get(c) for c in cols]) for r in rows)
    backend.insert_json_rows(table, cols, data, token=f"t{now_ms()}{id(rows)}")


def event(device: DeviceProfile, type_: str, ms: int, **detail: Any) -> bytes:
    """A device_events row."""
    e = DeviceEvent(event_id=f"{device.device_id}:{type_}:{ms}", type=type_, kind=device.kind,
                    device_id=device.device_id, ts=ms, seq=ms, village=device.village, detail=detail)  # fmt: skip
    return event_row(e)


def insert_events(backend: ChdbBackend, rows: list[bytes]) -> None:
    """Insert device_events rows."""
    backend.insert_json_rows("device_events", column_names("device_events"), b"\n".join(rows), f"e{now_ms()}{id(rows)}")


@pytest_asyncio.fixture
async def ctx(redis_url: str, var_dir: Path, backend: ChdbBackend) -> AsyncIterator[OpsContext]:
    """An ops context on the test's Redis and the chDB backend, with the devices above registered."""
    queries: list[str] = []

    async def query(sql: str) -> list[dict[str, Any]]:
        queries.append(sql)
        return await asyncio.to_thread(backend.query, sql)

    context = OpsContext(Settings(var_dir=var_dir), bus.connect(redis_url), query)
    context.queries = queries  # type: ignore[attr-defined]  # what the pages asked, for the tests
    await registry.register(context.redis, [BAND, HIVE, FAR_HIVE, CAMERA, STATION, FAR_STATION])
    context.live = LiveState(context)
    await context.live.read_twins()
    try:
        yield context
    finally:
        await context.redis.aclose()


def session(ctx: OpsContext, user: User, sid: str = "x") -> OpsSession:
    """A session of the user, as the server builds it."""
    return OpsSession(ctx, user, sid=sid, ip="127.0.0.1")


def page_text(view: Any) -> str:
    """Every HTML shown on a loaded view."""
    return "\n".join(str(p.object) for p in view.layout.select(pn.pane.HTML))


def section(view: Any, title: str) -> Section:
    """A section of a view by its title."""
    return next(s for s in view.sections if s.title == title)


# --- person and adopter records ----------------------------------------------------------------------------------


def test_the_id_check_digit_follows_gb11643_and_synthetic_people_are_valid() -> None:
    assert id_check_digit("11010519491231002") == "X"  # the standard's own example
    assert valid_id_number("11010519491231002X") and not valid_id_number("110105194912310021")
    for i in range(50):
        p = synthetic_person(f"wb-{i:05d}")
        assert p.id_number.startswith(ZHOUQU_ID_PREFIX) and valid_id_number(p.id_number)
        assert p.id_number[6:10] == str(p.birth_year) and p.phone.startswith("1") and len(p.phone) == 11
    assert synthetic_person("wb-00001") == synthetic_person("wb-00001")


@pytest.mark.asyncio
async def test_persons_and_adopters_round_trip_and_bad_records_are_refused(ctx: OpsContext) -> None:
    person = Person(name="杨秀兰", id_number=ID_NUMBER, phone=PHONE, family_phone=FAMILY, birth_year=1945)
    assert valid_id_number(ID_NUMBER)
    assert await save_persons(ctx.redis, {BAND.device_id: person}) == 1
    assert await load_person(ctx.redis, BAND.device_id) == person
    assert await load_person(ctx.redis, "wb-none") is None
    bad = msgspec.structs.replace(person, id_number=ID_NUMBER[:-1] + "1")
    with pytest.raises(PersonError, match="校验位"):
        await save_persons(ctx.redis, {"wb-bad": bad})
    assert await load_person(ctx.redis, "wb-bad") is None
    adopter = Adopter(name="王明", phone=PHONE, since="2025-04-01", plan="年度认养(一箱)")
    assert await save_adopters(ctx.redis, {HIVE.device_id: adopter}) == 1
    assert await load_adopter(ctx.redis, HIVE.device_id) == adopter
    with pytest.raises(AdopterError, match="日期"):
        await save_adopters(ctx.redis, {"hive-x": msgspec.structs.replace(adopter, since="去年")})


@pytest.mark.asyncio
async def test_fleet_provisioning_registers_synthetic_wearers_and_some_adopters(redis_url: str) -> None:
    r = aioredis.from_url(redis_url)
    try:
        fleet = build_fleet(12, 20, watch_share=0.25)
        assert await provision(r, fleet) == 32
        for p in fleet.bands + fleet.watches:
            got = await load_person(r, p.device_id)
            assert got is not None and valid_id_number(got.id_number)
        adopted = [await load_adopter(r, h.device_id) for h in fleet.hives]
        assert 0 < sum(a is not None for a in adopted) < len(fleet.hives)
    finally:
        await r.aclose()


# --- wristband: masking by role ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_village_officer_sees_the_whole_phone_and_the_township_operator_a_masked_one(
    ctx: OpsContext,
) -> None:
    await save_persons(ctx.redis, {BAND.device_id: Person(name="杨秀兰", id_number=ID_NUMBER, phone=PHONE,
                                                          family_phone=FAMILY, birth_year=1945)})  # fmt: skip
    officer = dict(await wristband.person_rows(session(ctx, OFFICER), BAND) or [])
    assert officer["联系电话"] == PHONE and officer["身份证号"] == ID_NUMBER and officer["家属电话"] == FAMILY
    operator = dict(await wristband.person_rows(session(ctx, LIJIE_OP), BAND) or [])
    assert operator["联系电话"] == "138****5678" and operator["家属电话"] == "139****4321"
    assert operator["身份证号"] == "623023" + "*" * 10 + "22" and operator["姓名"] == "杨秀兰"
    view = wristband.view(session(ctx, LIJIE_OP), BAND)
    await view.load()
    text = page_text(view)
    assert "138****5678" in text and PHONE not in text and ID_NUMBER not in text and "杨秀兰" in text


@pytest.mark.asyncio
async def test_a_view_of_unmasked_personal_data_is_audited_and_a_masked_one_is_not(ctx: OpsContext) -> None:
    await save_persons(ctx.redis, {BAND.device_id: Person(name="杨秀兰", id_number=ID_NUMBER, phone=PHONE,
                                                          family_phone=FAMILY, birth_year=1945)})  # fmt: skip
    await save_adopters(ctx.redis, {HIVE.device_id: Adopter(name="王先生", phone=PHONE, plan="年度认养",
                                                            since="2026-03-01")})  # fmt: skip
    await wristband.person_rows(session(ctx, LIJIE_OP), BAND)  # masked: nothing to audit
    await beehive.adopter_rows(session(ctx, LIJIE_OP), HIVE)
    assert not [r for r in await recent(ctx.redis) if r["action"] == "personal_view"]
    await wristband.person_rows(session(ctx, OFFICER), BAND)
    await beehive.adopter_rows(session(ctx, OFFICER), HIVE)
    views = [r for r in await recent(ctx.redis) if r["action"] == "personal_view"]
    assert [(r["user"], r["target"], r["ok"]) for r in views] == [("jiedi_officer", HIVE.device_id, True),
                                                                   ("jiedi_officer", BAND.device_id, True)]
    assert msgspec.json.decode(views[1]["detail"]) == {"fields": ["身份证号", "联系电话", "家属电话"]}
    assert PHONE not in views[0]["detail"] + views[1]["detail"]  # the audit names the fields, never the values


@pytest.mark.asyncio
async def test_a_wristband_without_a_person_record_says_unregistered(ctx: OpsContext) -> None:
    assert await wristband.person_rows(session(ctx, OFFICER), BAND) is None
    view = wristband.view(session(ctx, OFFICER), BAND)
    await view.load()
    person = section(view, "佩戴人")
    assert person.state == "loaded" and "未登记" in page_text(view) and "身份证号" not in page_text(view)


@pytest.mark.asyncio
async def test_wristband_vitals_positions_and_alarms_come_from_clickhouse(
    ctx: OpsContext, backend: ChdbBackend
) -> None:
    now = now_ms()
    rows = [{"device_id": BAND.device_id, "seq": i + 1, "ts": (now - (30 - i) * 60_000) / 1000, "rx": now / 1000,
             "hr": 70 + i, "spo2": 97, "temp": 36.5, "lat": 33.86328 + i * 1e-4, "lon": 103.94652}
            for i in range(30)]  # fmt: skip
    insert(backend, "tele_wristband", rows)
    insert_events(backend, [event(BAND, "sos", now - 120_000, hr=99), event(BAND, "low_battery", now - 60_000,
                                                                          battery=12)])  # fmt: skip
    s = session(ctx, LIJIE_OP)
    data = await wristband.vitals(s, BAND)
    assert len(data["ms"]) == 30 and data["hr"][0] == 70 and data["hr"][-1] == 99
    pos = await wristband.positions(s, BAND)
    assert len(pos) == 30 and pos[0]["lat"] == pytest.approx(33.86328 + 29e-4) and pos[-1]["home_m"] == 0
    assert pos[0]["inside"] is True  # 322 m from home, fence 400 m
    view = wristband.view(s, BAND)
    await view.load()
    assert all(sec.state == "loaded" for sec in view.sections)
    charts = view.layout.select(pn.pane.Bokeh)
    assert len(charts) == 4  # heart rate, SpO2, temperature, positions map
    text = page_text(view)
    assert "紧急呼救(SOS)" in text and "手环电量低" in text and "半径 400 米" in text and "全天生效" in text


# --- area and ids ------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_device_of_another_township_or_unknown_is_refused_and_audited(ctx: OpsContext) -> None:
    s = session(ctx, LIJIE_OP)
    with pytest.raises(AccessDenied, match="管辖范围"):
        await open_device(s, FAR_HIVE.device_id)
    with pytest.raises(AccessDenied, match="管辖范围"):
        await open_device(s, "hive-missing")
    audits = await recent(ctx.redis)
    assert [(a["action"], a["target"], a["ok"], a["user"]) for a in audits[:2]] == [
        ("device_view_denied", "hive-missing", False, "lijie_op"),
        ("device_view_denied", FAR_HIVE.device_id, False, "lijie_op"),
    ]
    assert await open_device(session(ctx, FENGDIE_OP), FAR_HIVE.device_id) == FAR_HIVE
    assert await open_device(s, HIVE.device_id) == HIVE
    assert kind_module("beehive") is beehive and kind_module("lamp") is generic and kind_module("parts") is generic


@pytest.mark.asyncio
async def test_ids_that_are_not_plain_are_refused_before_any_sql(ctx: OpsContext) -> None:
    evil = "hive-9001' OR '1'='1"
    with pytest.raises(ValueError, match="not a valid id"):
        await recent_events(ctx, evil)
    with pytest.raises(AccessDenied):
        await open_device(session(ctx, LIJIE_OP), evil)
    assert not any(evil in q for q in ctx.queries)  # type: ignore[attr-defined]
    # a registered device whose id is not plain: its sections say the query failed, the page still draws
    odd = msgspec.structs.replace(HIVE, device_id="hive 9001'")
    view = beehive.view(session(ctx, LIJIE_OP), odd)
    await view.load()
    assert section(view, "蜂箱数据(近24小时)").state == "failed"
    assert "数据查询失败" in page_text(view) and not any("hive 9001'" in q for q in ctx.queries)  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_a_failing_query_shows_a_chinese_error_line_in_its_section_only(ctx: OpsContext) -> None:
    async def broken(sql: str) -> list[dict[str, Any]]:
        raise ConnectionError("store actor unreachable")

    ctx.query = broken
    await save_adopters(ctx.redis, {HIVE.device_id: Adopter(name="王明", phone=PHONE, since="2025-04-01",
                                                             plan="年度认养(一箱)")})  # fmt: skip
    view = beehive.view(session(ctx, LIJIE_OP), HIVE)
    await view.load()
    states = {sec.title: sec.state for sec in view.sections}
    assert states["蜂箱数据(近24小时)"] == "failed" and states["分蜂与被盗"] == "failed"
    assert states["云上认养"] == "loaded"  # Redis still answers
    assert "数据查询失败" in page_text(view) and "138****5678" in page_text(view)


@pytest.mark.asyncio
async def test_a_kind_without_a_page_gets_the_generic_view(ctx: OpsContext, backend: ChdbBackend) -> None:
    lamp = DeviceProfile(device_id="lamp-0001", kind="lamp", village=VILLAGE, township=LIJIE)
    insert_events(backend, [event(lamp, "no_data", now_ms() - 1000, silent_s=1800)])
    view = devices.view(session(ctx, LIJIE_OP), lamp)
    await view.load()
    text = page_text(view)
    assert "设备离线(无数据)" in text and "无数据(秒) 1800" in text and "暂未接入" in text


# --- beehive -----------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_beehive_history_swarm_events_and_adopter(ctx: OpsContext, backend: ChdbBackend) -> None:
    now = now_ms()
    insert(backend, "tele_beehive", [
        {"device_id": HIVE.device_id, "seq": i + 1, "ts": (now - (6 - i) * 600_000) / 1000, "rx": now / 1000,
         "weight": 42.0 - (2.5 if i == 5 else 0), "temp_in": 35.0, "humidity": 60.0, "sound": [40, 50, 45, 30]}
        for i in range(6)
    ])  # fmt: skip
    insert_events(backend, [event(HIVE, "swarm", now - 500_000, drop_kg=2.5), event(HIVE, "low_battery", now - 1000,
                                                                                    battery=10)])  # fmt: skip
    s = session(ctx, LIJIE_OP)
    data = await beehive.readings(s, HIVE)
    assert data["weight"][-1] == pytest.approx(39.5) and data["s2"][0] == pytest.approx(50)
    view = beehive.view(s, HIVE)
    await view.load()
    text = page_text(view)
    swarm = str(section(view, "分蜂与被盗").panel.objects[1].object)
    assert "分蜂(重量骤降)" in swarm and "减重kg 2.5" in swarm and "蜂箱电量低" not in swarm
    assert "未认养" in text and len(view.layout.select(pn.pane.Bokeh)) == 4


# --- camera ------------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_camera_snapshots_link_through_evidence_and_zones_draw_over_the_frame(
    ctx: OpsContext, backend: ChdbBackend
) -> None:
    from PIL import Image

    now = now_ms()
    frame = np.zeros((540, 960, 3), dtype=np.uint8)
    jpeg_path = ctx.var_dir / "f.jpg"
    Image.fromarray(frame).save(jpeg_path)
    rel = write_snapshot(ctx.var_dir, CAMERA.device_id, f"{CAMERA.device_id}:crowd:{now}", jpeg_path.read_bytes())
    insert_events(backend, [event(CAMERA, "crowd", now - 5000, zone="村口广场", count=7, snapshot=rel),
                            event(CAMERA, "camera_frozen", now - 1000, frozen_s=31),
                            event(CAMERA, "garbage", now - 100, snapshot="../../etc/passwd.jpg")])  # fmt: skip
    s = session(ctx, LIJIE_OP)
    shots = await camera.snapshots(s, CAMERA)
    assert [x["url"] for x in shots] == [f"/evidence?path={rel}"]
    assert camera.evidence_url("snapshots/../../x.jpg") is None and camera.evidence_url("snapshots/a/b.png") is None
    view = camera.view(s, CAMERA)
    await view.load()
    [fig_pane] = view.layout.select(pn.pane.Bokeh)
    fig = cast(Any, fig_pane.object)
    assert (fig.x_range.end, fig.y_range.start) == (960, 540)  # the snapshot's size, y downwards
    names = [r.data_source.data.get("name") for r in fig.renderers if "name" in r.data_source.data]
    assert ["村口广场", "河边"] in names and ["桥头单行线"] in names
    assert "人员聚集" in page_text(view) and "摄像头画面冻结" in page_text(view)


# --- station -----------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_station_passes_violations_counters_and_speaker_log(ctx: OpsContext, backend: ChdbBackend) -> None:
    now = now_ms()
    insert_events(backend, [
        event(STATION, "vehicle_pass", now - 9000, vehicle="car", plate="甘P·A1234", direction="上行", speed_kmh=52.3),
        event(STATION, "speeding", now - 9000, vehicle="car", plate="甘P·A1234", speed_kmh=52.3, limit_kmh=40),
        event(STATION, "vehicle_pass", now - 3000, vehicle="motorcycle", plate="", direction="下行", speed_kmh=None),
    ])  # fmt: skip
    insert(backend, "speaker_log", [{"key": "op:1", "device_id": STATION.device_id, "ts": (now - 2000) / 1000,
                                     "text": "前方学校,请减速慢行", "by": "lijie_op", "reason": "operator", "ok": True,
                                     "bytes": 1000, "ms": 300, "attempts": 1, "error": ""}])  # fmt: skip
    s = session(ctx, LIJIE_OP)
    assert await station.passes(s, STATION) == [
        (station.local_time(now - 3000), "摩托车", "未识别", "下行", "—"),
        (station.local_time(now - 9000), "汽车", "甘P·*1234", "上行", "52.3"),
    ]
    [v] = await station.violations(s, STATION)
    assert v[1] == "超速行驶" and v[3] == "52.3 / 限速 40"
    counts = dict(await station.counters(s, STATION))
    assert counts["近24小时通过车辆"] == 2 and counts["近24小时违法行为"] == 1
    view = station.view(s, STATION)
    await view.load()
    text = page_text(view)
    assert "前方学校,请减速慢行" in text and "人工广播" in text
    assert "甘P·*1234" in text and "甘P·A1234" not in text  # the plate masked in every table of the page


@pytest.mark.asyncio
async def test_broadcast_is_refused_without_permission_or_area_and_queued_with_them(ctx: OpsContext) -> None:
    with pytest.raises(AccessDenied, match="无广播权限"):
        await station.broadcast(session(ctx, RESPONDER), STATION, "请减速")
    with pytest.raises(AccessDenied, match="管辖范围"):
        await station.broadcast(session(ctx, FENGDIE_OP), STATION, "请减速")
    assert await ctx.redis.xlen(bus.SPEAKER) == 0
    with pytest.raises(BroadcastError, match="为空"):
        await station.broadcast(session(ctx, LIJIE_OP), STATION, "  \n ")
    key = await station.broadcast(session(ctx, LIJIE_OP), STATION, "前方村口,  请减速慢行")
    [(_, fields)] = await ctx.redis.xrange(bus.SPEAKER)
    req = DECODE(fields[b"r"])
    assert (req.device_id, req.text, req.by, req.reason, req.key) == (STATION.device_id, "前方村口, 请减速慢行",
                                                                      "lijie_op", "operator", key)  # fmt: skip
    audits = [(a["action"], a["user"], a["ok"]) for a in await recent(ctx.redis)]
    assert audits == [("broadcast", "lijie_op", True), ("broadcast", "lijie_op", False),
                      ("broadcast", "fengdie_op", False), ("broadcast", "lijie_resp", False)]  # fmt: skip


@pytest.mark.asyncio
async def test_the_broadcast_box_needs_a_live_login_and_shows_the_outcome(ctx: OpsContext) -> None:
    await ctx.accounts.create(LIJIE_OP, "Lj-2025-passw0rd")
    _, sid = await ctx.accounts.login("lijie_op", "Lj-2025-passw0rd")
    box = station.BroadcastBox(session(ctx, LIJIE_OP, sid), STATION)
    assert not box.button.disabled
    box.text.value = "请勿在桥头停车"
    await box.play()
    assert "已提交播放" in box.result and box.text.value == ""
    assert await ctx.redis.xlen(bus.SPEAKER) == 1
    box.text.value = "x" * 201
    await box.play()
    assert "超过上限" in box.result and await ctx.redis.xlen(bus.SPEAKER) == 1
    await ctx.accounts.logout(sid)
    ended = session(ctx, LIJIE_OP, sid)
    ended.close = lambda: None  # type: ignore[method-assign]  # no browser document to send to /login
    late = station.BroadcastBox(ended, STATION)
    late.text.value = "登出后不应播放"
    await late.play()
    assert await ctx.redis.xlen(bus.SPEAKER) == 1 and late.result == ""
    assert station.BroadcastBox(session(ctx, RESPONDER), STATION).button.disabled
