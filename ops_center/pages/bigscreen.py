"""数字大屏: the kiosk screen of a village (狼岔坝村 by default): overview, map, devices, incidents, hive business.

It refreshes by itself: the map patches and streams its sources from the live state, the figures are re-rendered
every few seconds and the ClickHouse, adoption and ledger figures (households, homestays) every minute. Panels for
what nothing feeds yet (the homestays' business) say 未接入 and name the module that will feed them.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, WMTSTileSource
from bokeh.models.annotations import Label, Title
from bokeh.plotting import figure

from core.clock import local_time
from core.gazetteer import Village
from ops_center.background import Loader
from ops_center.labels import KIND_ZH, SEVERITY_COLOR, SEVERITY_ZH, STATUS_COLOR, STATUS_ZH
from ops_center.live import Device, mercator
from ops_center.map_view import MARKERS, POLL_MS, MapView
from ops_center.notice import notice
from ops_center.screen_ledgers import LedgerFigures, homestays_html, houses_html, ledger_figures
from ops_center.session import OpsSession
from ops_center.village_screen import (
    HONEY_DAYS,
    NOT_CONNECTED,
    HiveFigures,
    ScreenError,
    VillageCounts,
    handled_today,
    hive_figures,
    pick_village,
    village_counts,
    village_devices,
)

SLUG = "bigscreen"
TITLE = "数字大屏"
PERMISSION = "screen"
ORDER = 80
KEEPALIVE = True  # refreshes itself: keeps a kiosk account's login alive (nobody else's)

FIGURES_MS = 2_000  # counts from the live state
SLOW_MS = 60_000  # ClickHouse and adoption figures
MIN_HALF_SPAN_M = 800.0  # the village map shows at least this far around the village point (Web Mercator m)
BG, PANEL, TEXT, DIM, ACCENT = "#061325", "#0d2440", "#e8f1ff", "#8fa8c8", "#35c6ff"
CSS = f"""
:host {{ color:{TEXT}; font-family:"WenQuanYi Micro Hei","Microsoft YaHei",sans-serif; }}
.card {{ background:{PANEL}; border:1px solid #1f4d7a; border-radius:6px; padding:10px 16px; margin:0; }}
.card h3 {{ margin:0 0 8px 0; font-size:22px; color:{ACCENT}; font-weight:bold; }}
.big {{ font-size:44px; font-weight:bold; line-height:1.1; }}
.mid {{ font-size:26px; font-weight:bold; }}
.dim {{ color:{DIM}; font-size:16px; }}
.kpis {{ display:flex; gap:12px; }}
.kpi {{ flex:1; background:{PANEL}; border:1px solid #1f4d7a; border-radius:6px; padding:8px 12px; text-align:center; }}
.kpi .label {{ color:{DIM}; font-size:18px; }}
table.grid {{ border-collapse:collapse; width:100%; font-size:20px; }}
table.grid th, table.grid td {{ padding:4px 8px; text-align:center; border-bottom:1px solid #1f4d7a; }}
table.grid th {{ color:{DIM}; font-weight:normal; }}
.pending {{ color:#f5c26b; font-size:24px; font-weight:bold; }}
.title {{ font-size:34px; font-weight:bold; letter-spacing:4px; }}
"""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _clock(ms: int) -> str:
    return local_time(ms, "%Y年%m月%d日 %H:%M:%S")


def _card(title: str, body: str) -> str:
    return f'<div class="card"><h3>{html.escape(title)}</h3>{body}</div>'


def _num(value: float | int | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return '<span class="dim">暂无数据</span>'
    text = f"{value:+.{digits}f}" if unit == "kg±" else f"{value:.{digits}f}"
    return f'{text}<span class="dim"> {html.escape(unit.rstrip("±"))}</span>'


# --- the panels, as HTML (pure functions of the figures) ----------------------------------------------------------


def title_html(village: Village, now_ms: int) -> str:
    """The screen's title strip with the time of the last refresh."""
    return (f'<div style="display:flex;align-items:baseline;gap:24px"><span class="title">'
            f"{html.escape(village.name)} · 数字乡村大屏</span><span class=\"dim\">{html.escape(village.township)}"
            f'</span><span class="dim" style="margin-left:auto">数据更新 {_clock(now_ms)}</span></div>')  # fmt: skip


def kpi_html(c: VillageCounts, handled: int | None, hives: HiveFigures | None) -> str:
    """The strip of large headline figures."""
    items = [
        ("设备总数", str(c.total), TEXT), ("运行正常", str(c.by_status.get("ok", 0)), STATUS_COLOR["ok"]),
        ("告警", str(c.by_status.get("alarm", 0)), STATUS_COLOR["alarm"]),
        ("离线", str(c.by_status.get("offline", 0)), DIM), ("未办结事件", str(c.open_total), SEVERITY_COLOR[2]),
        ("今日办结", "—" if handled is None else str(handled), STATUS_COLOR["ok"]),
        ("智能蜂箱", "—" if hives is None else str(hives.hives), ACCENT),
    ]  # fmt: skip
    cells = "".join(f'<div class="kpi"><div class="label">{k}</div><div class="big" style="color:{color}">{v}</div>'
                    "</div>" for k, v, color in items)  # fmt: skip
    return f'<div class="kpis">{cells}</div>'


def overview_html(village: Village, c: VillageCounts) -> str:
    """Village name, township, position and the device table by kind and status."""
    where = f"北纬 {village.lat:.4f}° 东经 {village.lon:.4f}°"
    if village.generated:
        where += "(示意位置,未经测绘)"
    roles = {"key": "重点村", "pilot": "试点村", "seat": "乡镇驻地"}
    tags = "、".join(roles[r] for r in village.roles if r in roles)
    head = "".join(f"<th>{s}</th>" for s in ("类型", *STATUS_ZH.values()))
    rows = ""
    for kind, zh in KIND_ZH.items():
        n = c.by_kind.get(kind, {})
        rows += f"<tr><th>{zh}</th>" + "".join(
            f'<td style="color:{STATUS_COLOR[s] if n.get(s) else DIM}">{n.get(s, 0)}</td>' for s in STATUS_ZH
        ) + "</tr>"  # fmt: skip
    body = (f'<div class="mid">{html.escape(village.township)} {html.escape(village.name)}</div>'
            f'<div class="dim">{where}{(" · " + tags) if tags else ""}</div>'
            f'<table class="grid" style="margin-top:8px"><tr>{head}</tr>{rows}</table>')  # fmt: skip
    return _card("村情总览", body)


def incidents_html(c: VillageCounts, handled: int | None) -> str:
    """Open incidents by severity, overdue ones and those handled today."""
    cells = "".join(
        f'<div class="kpi"><div class="label">{SEVERITY_ZH[s]}</div>'
        f'<div class="big" style="color:{SEVERITY_COLOR[s] if c.open_by_severity.get(s) else DIM}">'
        f"{c.open_by_severity.get(s, 0)}</div></div>" for s in SEVERITY_ZH
    )  # fmt: skip
    done = "—(事件库暂不可用)" if handled is None else str(handled)
    body = (f'<div class="kpis">{cells}</div><div style="font-size:20px;margin-top:8px">未办结 <b>{c.open_total}</b>'
            f' · 超时 <b style="color:{STATUS_COLOR["alarm"] if c.overdue else TEXT}">{c.overdue}</b>'
            f" · 今日办结 <b>{done}</b></div>")  # fmt: skip
    return _card("事件处置", body)


def hives_html(f: HiveFigures | None) -> str:
    """The hive business: hives, total weight, honey flow over the trend days, adopted hives."""
    if f is None:
        return _card("智能蜂箱 · 云上认养", '<div class="dim">正在读取……</div>')
    if not f.hives:
        return _card("智能蜂箱 · 云上认养", '<div class="dim">本村尚未登记智能蜂箱</div>')
    adopted = ('<span class="pending">未接入</span><div class="dim">云上认养系统尚无认养记录</div>'
               if f.adopted is None else f'{f.adopted}<span class="dim"> / {f.hives} 箱</span>')  # fmt: skip
    body = (f'<table class="grid"><tr><th>蜂箱</th><th>蜂箱总重</th><th>近{HONEY_DAYS}天增重</th><th>已认养</th></tr>'
            f'<tr><td class="mid">{f.hives}<span class="dim"> 箱</span></td>'
            f'<td class="mid">{_num(f.total_kg, "kg", 1)}</td><td class="mid">{_num(f.change_kg, "kg±", 1)}</td>'
            f'<td class="mid">{adopted}</td></tr></table>'
            f'<div class="dim">称重上报 {f.weighed} 箱;增重为各箱重量变化之和(采蜜趋势)</div>')  # fmt: skip
    return _card("智能蜂箱 · 云上认养", body)


def pending_html(key: str) -> str:
    """A panel the plan asks for whose records nothing feeds yet: 未接入 and the module that will feed it."""
    title, module = NOT_CONNECTED[key]
    return _card(title, f'<div class="pending">未接入</div><div class="dim">待“{html.escape(module)}”接入后显示</div>')


# --- the map ------------------------------------------------------------------------------------------------------


class VillageMap(MapView):
    """The county map's live sources, restricted to one village."""

    def __init__(self, session: OpsSession, village: Village) -> None:
        self.village = village  # read by the filters below, which the base constructor already uses
        super().__init__(session)
        self.houses = ColumnDataSource({"x": [], "y": []})  # house positions (户情), filled by the slow loader
        self.homestays = ColumnDataSource({"x": [], "y": [], "name": []})

    def draw_ledgers(self, f: LedgerFigures | None) -> None:
        """Put the village's houses and homestays on the map (only when they changed)."""
        houses = [mercator(lat, lon) for lon, lat, _ in (f.house_points if f else [])]
        stays = [(*mercator(lat, lon), name) for lon, lat, name in (f.homestay_points if f else [])]
        new_houses = {"x": [p[0] for p in houses], "y": [p[1] for p in houses]}
        if new_houses != {k: list(v) for k, v in self.houses.data.items()}:
            self.houses.data = new_houses
        new_stays = {"x": [p[0] for p in stays], "y": [p[1] for p in stays], "name": [p[2] for p in stays]}
        if new_stays != {k: list(v) for k, v in self.homestays.data.items()}:
            self.homestays.data = new_stays

    def _here(self, township: str, village: str) -> bool:
        return village == self.village.name and township in ("", self.village.township)

    def _device_filter(self) -> Callable[[Device], bool]:
        wanted = super()._device_filter()
        return lambda d: self._here(d.township, d.village) and wanted(d)

    def _wants_ticket(self, t: dict[str, Any]) -> bool:
        return self._here(t["township"], t["village"]) and super()._wants_ticket(t)

    def figure(self) -> Any:
        """A dark village-area map: devices by status, open incidents by severity."""
        ctx, v = self.session.ctx, self.village
        cx, cy = mercator(v.lat, v.lon)
        devs = village_devices(self.live, v.township, v.name)
        half = max([MIN_HALF_SPAN_M, *(abs(d.x - cx) * 1.2 for d in devs), *(abs(d.y - cy) * 1.2 for d in devs)])
        fig = figure(x_axis_type="mercator", y_axis_type="mercator", match_aspect=True, tools="",
                     sizing_mode="stretch_both", min_height=480, toolbar_location=None, output_backend="webgl",
                     background_fill_color="#0a1f36", border_fill_color=PANEL)  # fmt: skip
        # invisible corners: the auto-ranges span at least the village area, the devices stretch them further
        fig.scatter([cx - half, cx + half], [cy - half, cy + half], alpha=0)
        fig.axis.visible = False
        fig.grid.grid_line_color = "#16385c"
        if ctx.settings.ops.tile_url:
            fig.add_tile(WMTSTileSource(url=ctx.settings.ops.tile_url))
        fig.scatter([cx], [cy], marker="star", size=26, color="#ffd54f")
        fig.add_layout(Label(x=cx, y=cy, text=v.name, x_offset=14, y_offset=6, text_color="#ffd54f",
                             text_font_size="22px", text_font_style="bold"))  # fmt: skip
        fig.scatter("x", "y", source=self.houses, marker="square", size=7, fill_color="#9fb3c8", fill_alpha=0.7,
                    line_color=None, name="houses")  # fmt: skip
        stay = fig.scatter("x", "y", source=self.homestays, marker="diamond", size=18, fill_color="#ef6c00",
                           line_color="#ffffff", name="homestays")  # fmt: skip
        fig.add_tools(HoverTool(renderers=[stay], tooltips=[("民宿", "@name")]))
        dev = fig.scatter("x", "y", source=self.devices, marker="marker", size=16, fill_color="color",
                          line_color="#ffffff", line_width=1)  # fmt: skip
        inc = fig.scatter("x", "y", source=self.incidents, marker="circle", size="size", fill_color=None,
                          line_color="color", line_alpha="alpha", line_width=4)  # fmt: skip
        tips = [("设备", "@device_id"), ("类型", "@kind"), ("状态", "@status")]
        fig.add_tools(HoverTool(renderers=[dev], tooltips=tips))
        fig.add_tools(HoverTool(renderers=[inc], tooltips=[("事件", "@title"), ("级别", "@severity")]))
        return fig


def map_legend() -> str:
    """What the map's markers and colours mean, and what it does not show yet."""
    kinds = {"circle": "●", "square": "■", "triangle": "▲", "diamond": "◆"}
    parts = [f"{kinds[MARKERS[k]]} {zh}" for k, zh in KIND_ZH.items()]
    parts += [f'<span style="color:{STATUS_COLOR[s]}">■ {zh}</span>' for s, zh in STATUS_ZH.items()]
    parts += ["◯ 未办结事件", '<span style="color:#9fb3c8">■ 房屋</span>', '<span style="color:#ef6c00">◆ 民宿</span>']
    return f'<div style="font-size:16px;color:{TEXT}">{" ".join(parts)}</div>'


# --- the screen ---------------------------------------------------------------------------------------------------


class ScreenView:
    """One kiosk session: its village, map, panes and the slow figures it last read."""

    def __init__(self, session: OpsSession, village: Village) -> None:
        self.session, self.village = session, village
        self.map = VillageMap(session, village)
        self.handled: int | None = None
        self.hives: HiveFigures | None = None
        self.ledgers: LedgerFigures | None = None
        self.trend = ColumnDataSource({"day": [], "kg": []})  # empty until ClickHouse answers: no made-up line
        self.trend_fig = self.trend_figure()
        self.trend_fig.visible = False  # no line before ClickHouse answered
        self.panes = {name: pn.pane.HTML("", stylesheets=[CSS], sizing_mode="stretch_width", margin=(4, 6))
                      for name in ("title", "kpis", "overview", "incidents", "hives", "houses",
                                   "homestays")}  # fmt: skip
        self.refresh()

    def render(self) -> dict[str, str]:
        """Every pane's HTML from the current live state and the last slow figures."""
        v = self.village
        c = village_counts(self.session.ctx.live, v.township, v.name)
        return {"title": title_html(v, _now_ms()), "kpis": kpi_html(c, self.handled, self.hives),
                "overview": overview_html(v, c), "incidents": incidents_html(c, self.handled),
                "hives": hives_html(self.hives), "houses": houses_html(self.ledgers, _card),
                "homestays": homestays_html(self.ledgers, _card)}  # fmt: skip

    def refresh(self) -> None:
        """Re-render the panes; only those whose HTML changed are sent."""
        for name, body in self.render().items():
            if self.panes[name].object != body:
                self.panes[name].object = body

    async def load_slow(self, now: int) -> tuple[int | None, HiveFigures, LedgerFigures | None]:
        """Read the ClickHouse, adoption and ledger figures as of `now` (no drawing: outside the document lock)."""
        ctx, v = self.session.ctx, self.village
        handled = await handled_today(ctx.query, v.township, v.name, now)
        hives = await hive_figures(ctx, v.township, v.name, now)
        return handled, hives, await ledger_figures(ctx.ledgers, self.session.user, v.township, v.name, ctx.workflows)

    def draw_slow(self, figures: tuple[int | None, HiveFigures, LedgerFigures | None]) -> None:
        """Draw what load_slow read: the trend chart, the houses and homestays, and the panes."""
        self.handled, self.hives, self.ledgers = figures
        self.map.draw_ledgers(self.ledgers)
        if self.hives.trend:
            days, kgs = (list(x) for x in zip(*self.hives.trend, strict=True))
            if list(self.trend.data["day"]) != days or list(self.trend.data["kg"]) != kgs:
                self.trend_range.factors = days
                self.trend.data = {"day": days, "kg": kgs}
        self.trend_fig.visible = bool(self.hives.trend)
        self.refresh()

    def trend_figure(self) -> Any:
        """The honey-flow trend: summed weight change per day."""
        self.trend_range = FactorRange(factors=[""])
        title = Title(text=f"采蜜趋势(近{HONEY_DAYS}天累计增重,千克)", text_color=TEXT, text_font_size="16px")
        fig = figure(x_range=self.trend_range, height=170, sizing_mode="stretch_width", tools="", title=title,
                     toolbar_location=None, background_fill_color=PANEL, border_fill_color=PANEL)  # fmt: skip
        fig.line("day", "kg", source=self.trend, line_width=3, color="#ffd54f")
        fig.scatter("day", "kg", source=self.trend, size=8, color="#ffd54f")
        fig.axis.major_label_text_color, fig.axis.major_label_text_font_size = DIM, "13px"
        fig.grid.grid_line_color = "#16385c"
        return fig

    def layout(self) -> pn.viewable.Viewable:
        """The full-screen arrangement."""
        p = self.panes
        pending = [pn.pane.HTML(pending_html(k), stylesheets=[CSS], sizing_mode="stretch_width", margin=(4, 6))
                   for k in NOT_CONNECTED]  # fmt: skip
        left = pn.Column(p["overview"], p["houses"], width=520)
        legend = pn.pane.HTML(map_legend(), stylesheets=[CSS], margin=(2, 6))
        drawn = pn.pane.Bokeh(self.map.figure(), sizing_mode="stretch_both")
        middle = pn.Column(drawn, legend, sizing_mode="stretch_both")
        chart = pn.pane.Bokeh(self.trend_fig, sizing_mode="stretch_width", margin=(0, 6))
        right = pn.Column(p["incidents"], p["hives"], chart, p["homestays"], *pending, width=560)
        return pn.Column(p["title"], p["kpis"], pn.Row(left, middle, right, sizing_mode="stretch_both"),
                         styles={"background": BG}, sizing_mode="stretch_both", margin=0)  # fmt: skip


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The big screen of one kiosk session; it needs no clicks after the login."""
    try:
        village = pick_village(session.user, session.ctx.gazetteer, pn.state.session_args or {})
    except ScreenError as exc:
        return notice(str(exc))
    view = ScreenView(session, village)
    pn.state.add_periodic_callback(view.map.update, period=POLL_MS)
    pn.state.add_periodic_callback(view.refresh, period=FIGURES_MS)
    slow = Loader(lambda: view.load_slow(_now_ms()), view.draw_slow)
    pn.state.add_periodic_callback(slow.start, period=SLOW_MS)
    pn.state.onload(slow.start)
    return view.layout()
