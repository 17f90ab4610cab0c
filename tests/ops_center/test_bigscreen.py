"""The big screen's figures from a live state filled through real Redis, and hive/ticket history from real chDB."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import panel as pn
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from actors.beehive import BeehiveActor, BeehiveState
from actors.incident_desk import TICKETS, ticket_row
from actors.shard import twin_key
from actors.ticket import TicketActor
from actors.wristband import WristbandActor, WristbandState
from adapters import registry
from adapters.adoption import Adopter, save_adopters
from adapters.telemetry import ChdbBackend, column_names, reading_row, schema
from core.access import User
from core.events import Message
from core.gazetteer import load_gazetteer
from core.incidents import Incident, TicketCommand, TicketEvent
from core.kinds import DeviceProfile
from core.kinds.beehive import BeehiveReading
from core.personal import Sealer
from core.settings import Settings
from core.settings.workflows import WorkflowSettings
from ops_center.context import OpsContext
from ops_center.live import LiveState
from ops_center.pages.bigscreen import ScreenView, hives_html
from ops_center.session import OpsSession
from ops_center.village_screen import (
    DAY_MS,
    NOT_CONNECTED,
    ScreenError,
    adopted_count,
    day_start_ms,
    handled_today,
    hive_figures,
    honey_flow,
    local_day,
    pick_village,
    village_counts,
)
from workflows.engine import Command
from workflows.loader import load_items
from workflows.store import open_workflows

TOWN, VILLAGE = "大川镇", "狼岔坝村"
NOW = day_start_ms(local_day(int(time.time() * 1000))) + 12 * 3_600_000  # local noon today
SCREEN = User(username="langchaba_screen", name="大屏", level="village", duties=["operator"], township=TOWN,
              village=VILLAGE)  # fmt: skip


@pytest.fixture(scope="module")
def chdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbBackend]:
    """One embedded ClickHouse with the platform schema, hive weights and ticket history of known days."""
    backend = ChdbBackend(Path(tmp_path_factory.mktemp("chdb")))
    for ddl in schema(3650):
        backend.command(ddl)

    def weigh(device: str, seq: int, days_ago: int, hour: int, kg: float) -> bytes:
        ts = day_start_ms(local_day(NOW) - days_ago) + hour * 3_600_000
        return reading_row(Message(device_id=device, seq=seq, ts=ts, rx=ts, v=BeehiveReading(weight=kg)))

    rows = [
        weigh("HV1", 1, 8, 9, 5.0),  # before the 7-day window: left out
        weigh("HV1", 2, 6, 8, 20.0), weigh("HV1", 3, 6, 18, 21.0), weigh("HV1", 4, 3, 12, 24.0),
        weigh("HV1", 5, 0, 8, 25.0), weigh("HV1", 6, 0, 10, 26.5),
        weigh("HV2", 1, 2, 9, 30.0), weigh("HV2", 2, 0, 9, 29.0),
        weigh("HVX", 1, 1, 9, 50.0), weigh("HVX", 2, 0, 9, 60.0),  # a hive of another village
    ]  # fmt: skip
    backend.insert_json_rows("tele_beehive", column_names("tele_beehive"), b"\n".join(rows), "hives")
    yesterday = day_start_ms(local_day(NOW) - 1) + 10 * 3_600_000

    def ev(tid: str, seq: int, ts: int, action: str, to: str, village: str = VILLAGE) -> bytes:
        detail = {"village": village, "township": TOWN} if action == "open" else {}
        e = TicketEvent(ticket_id=tid, seq=seq, ts=ts, actor="u", action=action, from_state="", to_state=to,
                        detail=detail)  # fmt: skip
        return ticket_row(e)

    events = [
        ev("T1", 1, yesterday, "open", "发现"), ev("T1", 2, NOW - 3_600_000, "resolve", "办结"),
        ev("T1", 3, NOW - 1_800_000, "close", "关闭"),  # resolved and closed today: counts once
        ev("T2", 1, yesterday, "open", "发现"), ev("T2", 2, yesterday + 60_000, "close", "关闭"),  # yesterday
        ev("T3", 1, yesterday, "open", "上报", village="杰迪村"), ev("T3", 2, NOW - 60_000, "close", "关闭"),
        ev("T4", 1, NOW - 600_000, "open", "上报"),  # still open
    ]  # fmt: skip
    backend.insert_json_rows("ticket_events", column_names("ticket_events"), b"\n".join(events), "tickets")
    yield backend
    backend.close()


def query_of(backend: ChdbBackend) -> Any:
    async def query(sql: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(backend.query, sql)

    return query


def profile(did: str, kind: str, village: str = VILLAGE, township: str = TOWN) -> DeviceProfile:
    return DeviceProfile(device_id=did, kind=kind, village=village, township=township, lat=33.2959, lon=104.6175)


def ticket(tid: str, severity: int, village: str = VILLAGE, *, closed: bool = False) -> TicketActor:
    inc = Incident(incident_id=tid, rule="r", title="测试事件", severity=severity, category="c", department="d",
                   group_key="g", village=village, township=TOWN if village == VILLAGE else "", first_ts=NOW - 60_000,
                   last_ts=NOW - 60_000)  # fmt: skip
    t, _ = TicketActor.open(inc, NOW - 60_000)
    if closed:
        t.handle(TicketCommand(key=f"{tid}-c", ticket_id=tid, action="close", actor="u", ts=NOW, note="误报"), NOW)
    return t


@pytest_asyncio.fixture
async def ctx(redis_url: str, chdb: ChdbBackend) -> AsyncIterator[OpsContext]:
    """An ops context whose live state holds known devices and tickets, written to Redis the way the platform does."""
    redis = aioredis.from_url(redis_url)
    c = OpsContext(Settings(), redis, query_of(chdb))
    profiles = [
        profile("HV1", "beehive"), profile("HV2", "beehive"), profile("HV3", "beehive"),  # HV3 never reported
        profile("WB1", "wristband"), profile("WB2", "wristband"), profile("CAM1", "camera"),
        profile("HVX", "beehive", village="杰迪村", township="立节镇"), profile("WBX", "wristband", village="杰迪村",
                                                                             township="立节镇"),
    ]  # fmt: skip
    await registry.register(redis, profiles)
    by_id = {p.device_id: p for p in profiles}
    hives = {"HV1": 26.5, "HV2": 29.0, "HVX": 60.0}
    twins = {d: BeehiveActor(by_id[d], BeehiveState(weight=kg, last_seq=1)).snapshot() for d, kg in hives.items()}
    await redis.hset(twin_key("beehive"), mapping=twins)  # type: ignore[arg-type]
    await redis.hset(twin_key("wristband"), mapping={
        "WB1": WristbandActor(by_id["WB1"], WristbandState(last_seq=1)).snapshot(),
        "WB2": WristbandActor(by_id["WB2"], WristbandState(last_seq=1, offline=True)).snapshot(),
        "WBX": WristbandActor(by_id["WBX"], WristbandState(last_seq=1)).snapshot(),
    })  # fmt: skip
    tickets = [ticket("K1", 1), ticket("K2", 3), ticket("K3", 3), ticket("K4", 2, closed=True),
               ticket("KX", 1, village="杰迪村")]  # fmt: skip
    await redis.hset(TICKETS, mapping={t.ticket_id: t.snapshot() for t in tickets})
    c.live = LiveState(c)
    await c.live.refresh()
    try:
        yield c
    finally:
        await redis.aclose()


# --- which village ---------------------------------------------------------------------------------------------------


def args(**kw: str) -> dict[str, list[bytes]]:
    return {k: [v.encode()] for k, v in kw.items()}


def test_the_screen_shows_the_accounts_own_village_or_one_picked_within_its_area() -> None:
    gz = load_gazetteer()
    county = User(username="c", name="c", level="county", duties=["operator"])
    lijie = User(username="l", name="l", level="township", duties=["operator"], township="立节镇")
    assert (pick_village(county, gz, {}).name, pick_village(county, gz, {}).township) == (VILLAGE, TOWN)
    assert pick_village(county, gz, args(village="杰迪村")).township == "立节镇"
    assert pick_village(SCREEN, gz, args(village="杰迪村")).name == VILLAGE  # a village account sees its own
    assert pick_village(lijie, gz, {}).township == "立节镇"
    assert pick_village(lijie, gz, args(village="城马村")).name == "城马村"
    with pytest.raises(ScreenError, match="不在您的管辖范围内"):
        pick_village(lijie, gz, args(village=VILLAGE, township=TOWN))
    with pytest.raises(ScreenError, match="地名库中没有"):
        pick_village(county, gz, args(village="无此村"))
    with pytest.raises(ScreenError, match="格式不正确"):  # refused by its shape before any lookup
        pick_village(county, gz, args(village="<script>"))


# --- figures ---------------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_counts_are_those_of_the_village_only(ctx: OpsContext) -> None:
    c = village_counts(ctx.live, TOWN, VILLAGE)
    assert c.total == 6
    assert c.by_kind == {
        "beehive": {"ok": 2, "unknown": 1},
        "wristband": {"ok": 1, "offline": 1},
        "camera": {"unknown": 1},
    }
    assert c.by_status == {"ok": 3, "unknown": 2, "offline": 1}
    assert c.open_by_severity == {1: 1, 3: 2}  # K4 is closed, KX is in 杰迪村
    assert c.open_total == 3


@pytest.mark.asyncio
async def test_hive_figures_come_from_twins_history_and_adoption_records(ctx: OpsContext) -> None:
    f = await hive_figures(ctx, TOWN, VILLAGE, NOW)
    assert (f.hives, f.weighed, f.total_kg) == (3, 2, 55.5)  # HV3 has no weight yet
    # HV1: 20.0 -> 26.5 (+6.5), HV2 from its first reading two days ago: 30.0 -> 29.0 (-1.0)
    assert f.change_kg == 5.5
    assert [kg for _, kg in f.trend] == [1.0, 1.0, 1.0, 4.0, 4.0, 4.0, 5.5]
    assert f.adopted is None  # no adoption records at all: not connected
    plan = {"since": "2025-04-01", "plan": "年度认养"}
    adopters = {
        "HV2": Adopter(name="张三", phone="13800000000", **plan),
        "HVX": Adopter(name="李四", phone="13900000000", **plan),
    }
    await save_adopters(ctx.redis, adopters)
    assert await adopted_count(ctx.redis, ["HV1", "HV2", "HV3"]) == 1


@pytest.mark.asyncio
async def test_honey_flow_without_history_or_with_a_failing_store_is_unknown(chdb: ChdbBackend) -> None:
    assert await honey_flow(query_of(chdb), ["HV9"], NOW) == (None, [])

    async def broken(sql: str) -> list[dict[str, Any]]:
        raise ConnectionError("store down")

    assert await honey_flow(broken, ["HV1"], NOW) == (None, [])
    assert await handled_today(broken, TOWN, VILLAGE, NOW) is None


@pytest.mark.asyncio
async def test_handled_today_counts_village_tickets_resolved_or_closed_since_local_midnight(chdb: ChdbBackend) -> None:
    assert await handled_today(query_of(chdb), TOWN, VILLAGE, NOW) == 1  # T1 (T2 was yesterday, T3 elsewhere)
    assert await handled_today(query_of(chdb), TOWN, VILLAGE, NOW + DAY_MS) == 0  # tomorrow nothing yet
    assert await handled_today(query_of(chdb), "立节镇", "杰迪村", NOW) == 0  # T3's open row names 大川镇


# --- the page --------------------------------------------------------------------------------------------------------


def page_text(view: ScreenView) -> str:
    return "\n".join(str(getattr(p, "object", "")) for p in view.layout().select(pn.pane.HTML))


@pytest.mark.asyncio
async def test_the_screen_draws_the_village_and_marks_unfed_panels_as_not_connected(ctx: OpsContext) -> None:
    view = ScreenView(OpsSession(ctx, SCREEN, "sid", "127.0.0.1"), ctx.gazetteer.village(VILLAGE, TOWN))
    assert sorted(view.map.devices.data["device_id"]) == ["CAM1", "HV1", "HV2", "HV3", "WB1", "WB2"]
    assert sorted(view.map.incidents.data["ticket_id"]) == ["K1", "K2", "K3"]
    text = page_text(view)
    for title, module in NOT_CONNECTED.values():
        assert title in text and module in text
    assert text.count("未接入") >= len(NOT_CONNECTED)
    assert "狼岔坝村" in text and "示意位置" in text  # the gazetteer position is a generated one
    assert view.trend_fig.visible is False  # no line before ClickHouse answered
    view.draw_slow(await view.load_slow(NOW))
    assert view.hives is not None and view.hives.total_kg == 55.5 and view.handled == 1
    assert list(view.trend.data["kg"])[-1] == 5.5 and view.trend_fig.visible
    text = page_text(view)
    assert "55.5" in text and "+5.5" in text and "云上认养系统尚无认养记录" in text


def test_hive_panel_without_hives_says_so_instead_of_zeros() -> None:
    from ops_center.village_screen import HiveFigures

    assert "尚未登记智能蜂箱" in hives_html(HiveFigures(0, 0, None, None, [], None))
    text = hives_html(HiveFigures(2, 0, None, None, [], 0))
    assert "暂无数据" in text and "0<span" in text  # adoption connected, none adopted


@pytest.mark.asyncio
async def test_a_county_account_sees_only_the_chosen_village_on_the_screen_map(ctx: OpsContext) -> None:
    county = User(username="c", name="c", level="county", duties=["operator"])
    view = ScreenView(OpsSession(ctx, county, "sid", "127.0.0.1"), ctx.gazetteer.village(VILLAGE, TOWN))
    assert len(ctx.live.devices) > 6  # the county has devices elsewhere too
    assert sorted(view.map.devices.data["device_id"]) == ["CAM1", "HV1", "HV2", "HV3", "WB1", "WB2"]


@pytest.mark.asyncio
async def test_the_screen_shows_the_village_households_and_homestays_from_the_ledgers(
    ctx: OpsContext, tmp_path: Path
) -> None:
    from ledger_testkit import KEY, OFFICER_A, OFFICER_B, household, open_store, sqlite_url

    store, log = open_store(sqlite_url(tmp_path))
    ctx.ledgers = store
    view = ScreenView(OpsSession(ctx, SCREEN, "sid", "127.0.0.1"), ctx.gazetteer.village(VILLAGE, TOWN))
    view.draw_slow(await view.load_slow(NOW))
    assert "本村尚未录入户情档案" in page_text(view)
    store.create(OFFICER_A, "household", household(1, poverty_status="监测户", monitoring_type="边缘易致贫户",
                                                   migrants=1), village=VILLAGE)  # fmt: skip
    store.create(OFFICER_A, "household", household(2, size=3), village=VILLAGE)
    store.create(OFFICER_B, "household", household(3), village="杰迪村")
    home = store.create(OFFICER_A, "homestay", {"name": "白龙江畔农家乐", "operator": "王老板", "phone": "13909410099",
                                         "kind": "农家乐", "rooms": 6, "beds": 12, "position": "104.23,33.75"},
                 village=VILLAGE)  # fmt: skip
    view.draw_slow(await view.load_slow(NOW))
    text = page_text(view)
    assert "房屋信息 · 户情" in text
    assert '<td class="mid">2<span class="dim"> 户</span></td>' in text  # the other village's house is not counted
    assert '<td class="mid">7<span class="dim"> 人</span></td>' in text
    assert "已标注房屋位置 2 处" in text
    assert "白龙江畔农家乐" in text
    assert len(view.map.houses.data["x"]) == 2
    assert list(view.map.homestays.data["name"]) == ["白龙江畔农家乐"]
    assert "民宿预约" not in page_text(view)  # no workflow store: no booking line
    ctx.workflows = open_workflows(store, Sealer(KEY), WorkflowSettings(), load_items())
    today = store.today()
    guest = User(username="c:13800001111", name="游客", level="village", duties=[], township=TOWN, village=VILLAGE)
    leave = (today + dt.timedelta(days=2)).isoformat()
    booking = {"homestay": home.id, "check_in": today.isoformat(), "check_out": leave, "guests": 2, "contact": "刘一",
               "phone": "13800001111"}  # fmt: skip
    first = ctx.workflows.submit(guest, "homestay_booking", booking, village=VILLAGE)
    ctx.workflows.submit(guest, "homestay_booking", booking, village=VILLAGE)
    assert ctx.workflows.act(OFFICER_A, Command(key="b1", instance_id=first.id, action="confirm", ts=0)).ok
    view.draw_slow(await view.load_slow(NOW))
    assert "民宿预约:今晚已订 2 间 · 待确认 1 单 · 待入住 0 单" in page_text(view)
    assert "测试户主" not in text and "139" not in text  # no person's name or phone on a public screen
    assert log.actions("ledger_positions_view")[-1][2] == f"household/{TOWN}/{VILLAGE}"
