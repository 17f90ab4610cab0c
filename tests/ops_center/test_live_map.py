"""The live state and the map's sources on a real Redis: scope filtering, patches for changed rows, streams for new
ones, alarm colour while a ticket is open, and no update when nothing changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from bokeh.document import Document
from bokeh.document.events import ColumnsPatchedEvent, ColumnsStreamedEvent

from actors.incident_desk import TICKETS
from actors.shard import twin_key
from actors.ticket import TicketActor
from actors.wristband import WristbandState
from adapters import bus, registry
from adapters.bus import INCIDENTS
from core.access import User
from core.incidents import Incident, TicketCommand
from core.kinds import DeviceProfile
from core.settings import Settings
from ops_center.context import OpsContext
from ops_center.labels import STATUS_COLOR
from ops_center.live import LiveState
from ops_center.map_view import MapView
from ops_center.session import OpsSession

NOW = 1_790_000_000_000
LIJIE_OP = User(username="lijie_op", name="立节镇值班员", level="township", duties=["operator"], township="立节镇")
COUNTY_OP = User(username="county_op", name="县值班员", level="county", duties=["operator"])


def band(i: int, village: str, township: str) -> DeviceProfile:
    return DeviceProfile(device_id=f"wb-{i}", kind="wristband", village=village, township=township, lat=33.86,
                         lon=103.94)  # fmt: skip


def twin(lat: float, **kw: Any) -> bytes:
    return msgspec.msgpack.encode(WristbandState(last_seq=1, last_seen=NOW, lat=lat, lon=103.95, **kw))


@pytest_asyncio.fixture
async def ctx(redis_url: str, var_dir: Path) -> AsyncIterator[OpsContext]:
    async def no_query(sql: str) -> list[dict[str, Any]]:
        return []

    context = OpsContext(Settings(var_dir=var_dir), bus.connect(redis_url), no_query)
    await registry.register(context.redis, [band(1, "杰迪村", "立节镇"), band(2, "城马村", "立节镇"),
                                            band(3, "土桥子村", "峰迭镇")])  # fmt: skip
    await context.redis.hset(twin_key("wristband"), mapping={"wb-1": twin(33.861), "wb-3": twin(33.43)})
    context.live = LiveState(context)
    await context.live.refresh()
    yield context
    await context.redis.aclose()


async def open_ticket(ctx: OpsContext, device: str, village: str) -> str:
    inc = Incident(incident_id=f"wristband.sos:{device}:{NOW}", rule="wristband.sos", title="老人紧急呼救(SOS)",
                   severity=1, category="养老服务", department="", group_key=device, village=village, lat=33.86,
                   lon=103.94, first_ts=NOW, last_ts=NOW, device_id=device)  # fmt: skip
    ticket, events = TicketActor.open(inc, NOW)
    await ctx.redis.hset(TICKETS, ticket.ticket_id, ticket.snapshot())
    await ctx.redis.xadd(INCIDENTS, {b"t": msgspec.msgpack.encode(events[0])})
    await ctx.live.read_incidents()
    return ticket.ticket_id


@pytest.mark.asyncio
async def test_a_township_operator_sees_only_their_township_and_unreported_devices_where_installed(
    ctx: OpsContext,
) -> None:
    view = MapView(OpsSession(ctx, LIJIE_OP, "s", "ip"))
    assert sorted(view.devices.data["device_id"]) == ["wb-1", "wb-2"]
    assert view.devices.data["status"][view.device_index["wb-2"]] == "未上报"
    county = MapView(OpsSession(ctx, COUNTY_OP, "s", "ip"))
    assert sorted(county.devices.data["device_id"]) == ["wb-1", "wb-2", "wb-3"]
    county.township = "峰迭镇"
    assert list(county.devices.data["device_id"]) == ["wb-3"]


@pytest.mark.asyncio
async def test_changed_twins_arrive_as_patches_and_new_devices_as_streams(ctx: OpsContext) -> None:
    view = MapView(OpsSession(ctx, LIJIE_OP, "s", "ip"))
    doc = Document()
    doc.add_root(view.devices)
    sent: list[Any] = []
    doc.on_change(sent.append)  # what would go over the websocket
    patches = lambda: [e.patches for e in sent if isinstance(e, ColumnsPatchedEvent)]  # noqa: E731
    streams = lambda: [e.data for e in sent if isinstance(e, ColumnsStreamedEvent)]  # noqa: E731
    others = lambda: [e for e in sent if not isinstance(e, ColumnsPatchedEvent | ColumnsStreamedEvent)]  # noqa: E731
    view.update()
    assert sent == []  # nothing changed, nothing sent
    await ctx.redis.hset(twin_key("wristband"), "wb-1", twin(33.9, outside=True))
    await ctx.live.read_twins()
    view.update()
    [patch] = patches()  # one of two rows changed: sent as one slice patch per column
    assert set(patch) == {"x", "y", "color", "status"}
    row = view.device_index["wb-1"]
    assert view.devices.data["color"][row] == STATUS_COLOR["warn"]  # outside the geofence: needs attention
    assert view.devices.data["status"][row] == "需关注"
    assert view.devices.data["status"][view.device_index["wb-2"]] == "未上报"
    await registry.register(ctx.redis, [band(4, "杰迪村", "立节镇"), band(5, "土桥子村", "峰迭镇")])
    await ctx.live.read_twins()
    view.update()
    [stream] = streams()
    assert stream["device_id"] == ["wb-4"]  # the 峰迭镇 band is not sent to a 立节镇 session
    assert others() == []  # never a whole-data replacement


@pytest.mark.asyncio
async def test_a_device_with_an_open_ticket_turns_alarm_and_the_ticket_is_streamed_once(ctx: OpsContext) -> None:
    view = MapView(OpsSession(ctx, LIJIE_OP, "s", "ip"))
    tid = await open_ticket(ctx, "wb-1", "杰迪村")
    far = await open_ticket(ctx, "wb-3", "土桥子村")
    assert ctx.live.devices["wb-1"].status == "alarm"
    view.update()
    assert list(view.incidents.data["ticket_id"]) == [tid]  # the 峰迭镇 ticket stays off this map
    assert far in ctx.live.tickets
    assert view.devices.data["color"][view.device_index["wb-1"]] == STATUS_COLOR["alarm"]
    view.update()
    assert list(view.incidents.data["ticket_id"]) == [tid]


@pytest.mark.asyncio
async def test_a_session_too_far_behind_redraws_from_scratch(ctx: OpsContext) -> None:
    view = MapView(OpsSession(ctx, LIJIE_OP, "s", "ip"))
    for i in range(ctx.live.log.maxlen + 5):  # type: ignore[operator]
        await ctx.redis.hset(twin_key("wristband"), "wb-1", twin(33.86 + i * 1e-5))
        await ctx.live.read_twins()
    assert ctx.live.changes_since(view.version).reset
    view.update()
    assert view.version == ctx.live.version
    assert sorted(view.devices.data["device_id"]) == ["wb-1", "wb-2"]


@pytest.mark.asyncio
async def test_a_ticket_closed_longer_than_the_window_leaves_the_live_state_and_every_map(ctx: OpsContext) -> None:
    view = MapView(OpsSession(ctx, LIJIE_OP, "s", "ip"))
    tid = await open_ticket(ctx, "wb-1", "杰迪村")
    view.update()
    ticket = TicketActor.restore(await ctx.redis.hget(TICKETS, tid))  # type: ignore[arg-type]
    [closed] = ticket.handle(TicketCommand(key="k", ticket_id=tid, action="close", actor="op", ts=NOW), NOW)
    await ctx.redis.hset(TICKETS, tid, ticket.snapshot())
    await ctx.redis.xadd(INCIDENTS, {b"t": msgspec.msgpack.encode(closed)})
    await ctx.live.read_incidents()
    view.update()
    assert list(view.incidents.data["ticket_id"]) == [tid]  # closed: still drawn (faded) within the window
    keep_ms = ctx.settings.bus.closed_ticket_keep_s * 1000
    assert ctx.live.forget_closed(NOW + keep_ms - 1) == []
    assert ctx.live.forget_closed(NOW + keep_ms) == [tid]
    view.update()
    assert tid not in ctx.live.tickets
    assert list(view.incidents.data["ticket_id"]) == []  # the session redrew without it


@pytest.mark.asyncio
async def test_located_ledgers_are_map_layers_filtered_by_township_and_by_layer(
    ctx: OpsContext, tmp_path: Path
) -> None:
    from ledger_testkit import OFFICER_A, OFFICER_B, TOWNSHIP_OP_B, VILLAGE_A, VILLAGE_B, open_store, sqlite_url

    from core.access import User
    from ops_center.ledger_layers import LedgerLayers

    store, _ = open_store(sqlite_url(tmp_path))
    ctx.ledgers = store
    store.create(OFFICER_A, "emergency_resource", {"resource_type": "物资仓库", "name": "狼岔坝应急物资库",
                                                   "position": "104.23,33.75"}, village=VILLAGE_A)  # fmt: skip
    store.create(OFFICER_B, "env_point", {"point_type": "垃圾收集点", "name": "杰迪村垃圾点", "status": "满溢",
                                          "position": "104.05,33.85"}, village=VILLAGE_B)  # fmt: skip
    county = LedgerLayers(OpsSession(ctx, COUNTY_OP, "s", "ip"))
    assert {"emergency_resource", "homestay", "water_works", "env_point"} <= set(county.ledgers)
    await county.load()
    assert list(county.sources["emergency_resource"].data["title"]) == ["狼岔坝应急物资库"]
    assert list(county.sources["env_point"].data["title"]) == ["杰迪村垃圾点"]
    county.township = "立节镇"
    await county.load()
    assert list(county.sources["emergency_resource"].data["title"]) == []
    county.shown = ["emergency_resource"]
    await county.load()
    assert list(county.sources["env_point"].data["title"]) == []
    township = LedgerLayers(OpsSession(ctx, TOWNSHIP_OP_B, "s", "ip"))
    await township.load()
    assert list(township.sources["emergency_resource"].data["title"]) == []
    assert list(township.sources["env_point"].data["title"]) == ["杰迪村垃圾点"]
    kiosk = User(username="k", name="k", level="village", duties=["kiosk"], township="立节镇", village=VILLAGE_B)
    assert LedgerLayers(OpsSession(ctx, kiosk, "s", "ip")).ledgers == {}
