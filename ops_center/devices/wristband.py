"""意康养 wristband page: the wearer (masked by role), vitals history, positions and geofence, recent alarms."""

from __future__ import annotations

import datetime as dt
from typing import Any

import panel as pn
from bokeh.models import ColumnDataSource, HoverTool, WMTSTileSource
from bokeh.plotting import figure

from actors.wristband import ALARMS, VITAL_RULES, WristbandActor
from adapters.care import load_person
from adapters.telemetry import DB, table_of
from core.geo import distance_m, offset
from core.kinds import DeviceProfile
from ops_center.context import sql_str
from ops_center.devices.formatting import local_time, pairs, table
from ops_center.devices.queries import history, personal_values
from ops_center.devices.widgets import (
    DeviceView,
    Section,
    events_section,
    html_pane,
    line_chart,
    note,
    open_tickets,
    twin_section,
)
from ops_center.live import mercator
from ops_center.session import OpsSession

KIND = "wristband"
ALARM_TYPES = (*ALARMS, *(r.event for r in VITAL_RULES), "geofence_exit", "band_removed", "low_battery")
POSITIONS = 30  # newest positions shown
TWIN_FIELDS = (("hr", "心率", "次/分"), ("spo2", "血氧", "%"), ("temp", "体温", "℃"), ("steps", "今日步数", "步"),
               ("battery", "电量", "%"), ("worn", "佩戴中", ""), ("outside", "在围栏外", ""))  # fmt: skip


# --- data (plain async functions: what the page shows, callable without a browser) -------------------------------


async def person_rows(session: OpsSession, profile: DeviceProfile) -> list[tuple[str, str]] | None:
    """The wearer as this user may see them (ID number and phones masked unless the user may see them whole);
    None when no person is registered for the wristband."""
    p = await load_person(session.ctx.redis, profile.device_id)
    if p is None:
        return None
    fields = [("身份证号", p.id_number, True), ("联系电话", p.phone, False)]
    if p.family_phone:
        fields.append(("家属电话", p.family_phone, False))
    shown = await personal_values(session, profile, fields)
    rows = [("姓名", p.name), *((label, value) for (label, _, _), value in zip(fields, shown, strict=True))]
    if p.birth_year:
        rows.append(("年龄", f"{dt.date.today().year - p.birth_year} 岁"))
    return rows


async def vitals(session: OpsSession, profile: DeviceProfile) -> dict[str, list[Any]]:
    """Per-minute heart rate, SpO2 and temperature over the last 24 hours."""
    cols = {"hr": "avg(hr)", "spo2": "avg(spo2)", "temp": "avg(temp)"}
    return await history(session.ctx, KIND, profile.device_id, cols)


async def positions(session: OpsSession, profile: DeviceProfile, limit: int = POSITIONS) -> list[dict[str, Any]]:
    """The newest reported positions, newest first: ms, lat, lon, metres from home, inside the home fence."""
    rows = await session.ctx.query(
        f"SELECT toUnixTimestamp64Milli(ts) AS ms, lat, lon FROM {DB}.{table_of(KIND)} "
        f"WHERE device_id = {sql_str(profile.device_id)} AND lat IS NOT NULL AND lon IS NOT NULL "
        f"ORDER BY ts DESC LIMIT {int(limit)}"
    )
    fence = WristbandActor(profile).fence
    home = (profile.lat, profile.lon) if profile.lat or profile.lon else None
    return [{"ms": int(r["ms"]), "lat": r["lat"], "lon": r["lon"],
             "home_m": round(distance_m(home[0], home[1], r["lat"], r["lon"])) if home else None,
             "inside": fence.contains(r["lat"], r["lon"]) if fence is not None else None} for r in rows]  # fmt: skip


def fence_ring(profile: DeviceProfile) -> list[tuple[float, float]]:
    """The home geofence outline as (lat, lon) points (the polygon, or the circle around home)."""
    params = profile.params
    if params.get("fence_ring"):
        return [(float(lat), float(lon)) for lon, lat in params["fence_ring"]]
    if not (profile.lat or profile.lon):
        return []
    radius = float(params.get("fence_radius_m", 500))
    return [offset(profile.lat, profile.lon, b, radius) for b in range(0, 361, 10)]


def fence_rows(profile: DeviceProfile) -> list[tuple[str, str]]:
    """The geofence settings in words."""
    p = profile.params
    if p.get("fence_ring"):
        shape = f"自定义多边形({len(p['fence_ring'])} 个顶点)"
    elif profile.lat or profile.lon:
        shape = f"以住址为中心、半径 {float(p.get('fence_radius_m', 500)):g} 米"
    else:
        return [("电子围栏", "未设置住址,无电子围栏")]
    if p.get("fence_policy", "night") == "always":
        policy = "全天生效"
    else:
        policy = f"夜间 {int(p.get('night_start', 20)):02d}:00–{int(p.get('night_end', 6)):02d}:00 生效"
    return [("电子围栏", shape), ("生效时间", policy)]


# --- sections ----------------------------------------------------------------------------------------------------


def person_section(session: OpsSession, profile: DeviceProfile) -> Section:
    """The wearer, or 未登记."""

    async def load() -> list[Any]:
        rows = await person_rows(session, profile)
        return [html_pane(pairs(rows))] if rows else [note("未登记")]

    return Section("佩戴人", load)


def vitals_section(session: OpsSession, profile: DeviceProfile) -> Section:
    """Heart rate, SpO2 and temperature charts with the wearer's limits."""
    p = profile.params

    async def load() -> list[Any]:
        data = await vitals(session, profile)
        if not data["ms"]:
            return [note("近24小时无体征数据")]
        return [
            line_chart(data, [("hr", "心率", "#e74c3c")], "心率", "次/分", [p.get("hr_min", 45), p.get("hr_max", 120)]),
            line_chart(data, [("spo2", "血氧", "#2980b9")], "血氧饱和度", "%", [p.get("spo2_min", 90)]),
            line_chart(data, [("temp", "体温", "#e67e22")], "体温", "℃", [p.get("temp_max", 37.8)]),
        ]

    return Section("体征(近24小时)", load)


def _position_map(session: OpsSession, profile: DeviceProfile, rows: list[dict[str, Any]]) -> pn.pane.Bokeh:
    fig = figure(x_axis_type="mercator", y_axis_type="mercator", match_aspect=True, height=300,
                 sizing_mode="stretch_width", tools="pan,wheel_zoom,reset", active_scroll="wheel_zoom")  # fmt: skip
    if session.ctx.settings.ops.tile_url:
        fig.add_tile(WMTSTileSource(url=session.ctx.settings.ops.tile_url))
    ring = [mercator(lat, lon) for lat, lon in fence_ring(profile)]
    if ring:
        fig.patch([x for x, _ in ring], [y for _, y in ring], fill_color="#27ae60", fill_alpha=0.1,
                  line_color="#27ae60", line_dash="dashed", legend_label="电子围栏")  # fmt: skip
    if profile.lat or profile.lon:
        hx, hy = mercator(profile.lat, profile.lon)
        fig.scatter([hx], [hy], marker="square", size=10, color="#34495e", legend_label="住址")
    pts = [mercator(r["lat"], r["lon"]) for r in reversed(rows)]
    src = ColumnDataSource({"x": [x for x, _ in pts], "y": [y for _, y in pts],
                            "t": [local_time(r["ms"]) for r in reversed(rows)]})  # fmt: skip
    fig.line("x", "y", source=src, color="#2980b9", alpha=0.6)
    dots = fig.scatter("x", "y", source=src, size=6, color="#2980b9", legend_label="历史位置")
    fig.scatter([pts[-1][0]], [pts[-1][1]], size=12, color="#e74c3c", legend_label="最新位置")
    fig.add_tools(HoverTool(renderers=[dots], tooltips=[("时间", "@t")]))
    fig.legend.location = "top_left"
    fig.legend.label_text_font_size = "11px"
    return pn.pane.Bokeh(fig, sizing_mode="stretch_width")


def positions_section(session: OpsSession, profile: DeviceProfile) -> Section:
    """The newest positions on a small map and in a table, with the fence."""

    async def load() -> list[Any]:
        rows = await positions(session, profile)
        if not rows:
            return [note("暂无定位数据")]
        inside = {True: "围栏内", False: "围栏外", None: "—"}
        cells = [(local_time(r["ms"]), "—" if r["home_m"] is None else f"{r['home_m']} 米", inside[r["inside"]])
                 for r in rows[:10]]  # fmt: skip
        return [_position_map(session, profile, rows), html_pane(table(["时间", "离家距离", "围栏"], cells))]

    return Section("位置轨迹", load)


def alarms_section(session: OpsSession, profile: DeviceProfile) -> Section:
    """Open incidents of the wristband and its recent alarm events."""
    events = events_section(session, profile, "近期报警", ALARM_TYPES, limit=20)

    async def load() -> list[Any]:
        await events.load()
        return [open_tickets(session, profile.device_id), *events.panel.objects[1:]]

    return Section("近期报警", load)


def view(session: OpsSession, profile: DeviceProfile) -> DeviceView:
    """The wristband page of one session."""
    fence = html_pane(pairs(fence_rows(profile)))
    main = [vitals_section(session, profile), positions_section(session, profile), alarms_section(session, profile),
            events_section(session, profile)]  # fmt: skip
    side = [person_section(session, profile), twin_section(session, profile, TWIN_FIELDS),
            pn.pane.HTML("<h3 style='margin:6px 0 2px'>电子围栏</h3>"), fence]  # fmt: skip
    return DeviceView(session, profile, main=main, side=side)


def build(session: OpsSession, profile: DeviceProfile) -> Any:
    """The wristband page for a browser session."""
    return view(session, profile).served()
