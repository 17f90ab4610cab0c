"""The parts every device page is built of: styled panes, time charts, sections that load asynchronously (a slow
or failing query shows a Chinese line in its own section, never blocks or crashes), the live header and the page."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import panel as pn
import param
from bokeh.models import ColumnDataSource, DatetimeTickFormatter, HoverTool, Range1d
from bokeh.models.annotations import Span
from bokeh.plotting import figure

from core.clock import LOCAL_OFFSET_MS
from core.kinds import DeviceProfile
from ops_center.devices.formatting import VALUE_ZH, actor_of, detail_text, esc, local_time, pairs, table
from ops_center.devices.queries import recent_events, twin_state
from ops_center.labels import KIND_ZH, SEVERITY_ZH, STATUS_COLOR, STATUS_ZH
from ops_center.session import OpsSession

log = logging.getLogger(__name__)
HEADER_MS = 5000  # how often the header re-reads the device's status from the live state
CSS = """
.zq-dev-head { display:flex; gap:14px; align-items:baseline; flex-wrap:wrap; }
.zq-dev-head h2 { margin:4px 0; font-size:20px; }
.zq-badge { color:#fff; padding:1px 8px; border-radius:3px; font-size:13px; }
table.zq-t { border-collapse:collapse; font-size:13px; width:100%; }
table.zq-t th, table.zq-t td { border-bottom:1px solid #e3e8ee; padding:3px 6px; text-align:left; vertical-align:top; }
table.zq-t th { background:#f3f6f9; font-weight:normal; color:#445; }
.zq-err { color:#c0392b; font-size:13px; }
.zq-none { color:#7f8c8d; font-size:13px; }
"""


def html_pane(body: str) -> pn.pane.HTML:
    """An HTML pane with the device pages' styles."""
    return pn.pane.HTML(body, sizing_mode="stretch_width", stylesheets=[CSS])


def note(text: str) -> pn.pane.HTML:
    """A grey one-line note (nothing to show, not registered, ...)."""
    return html_pane(f'<div class="zq-none">{esc(text)}</div>')


def error_line(text: str) -> pn.pane.HTML:
    """A red one-line error."""
    return html_pane(f'<div class="zq-err">{esc(text)}</div>')


def axis_time() -> DatetimeTickFormatter:
    """A datetime axis formatter in Chinese date style (a new model per figure: models belong to one document)."""
    context = DatetimeTickFormatter(minutes="%m月%d日", hourmin="%m月%d日", hours="%m月%d日", days="%Y年", months="",
                                    years="")  # fmt: skip
    return DatetimeTickFormatter(minutes="%H:%M", hourmin="%H:%M", hours="%H:%M", days="%m月%d日", months="%Y年%m月",
                                 context=context)  # fmt: skip


def line_chart(
    data: dict[str, list[Any]], series: Sequence[tuple[str, str, str]], title: str, unit: str,
    limits: Sequence[float] = (),
) -> pn.pane.Bokeh:  # fmt: skip
    """A time chart (local time) of one or more series (column, Chinese name, colour) with dashed limit lines."""
    # the chart draws local time on a UTC datetime axis
    src = ColumnDataSource({"t": [m + LOCAL_OFFSET_MS for m in data["ms"]], **{c: data[c] for c, _, _ in series}})
    fig = figure(x_axis_type="datetime", height=210, sizing_mode="stretch_width", title=title,
                 tools="pan,xwheel_zoom,box_zoom,reset,save", toolbar_location="right")  # fmt: skip
    for col, name, colour in series:
        fig.line("t", col, source=src, color=colour, line_width=2, legend_label=name)
    for value in limits:
        fig.add_layout(Span(location=value, dimension="width", line_dash="dashed", line_color="#c0392b"))
    fig.add_tools(HoverTool(tooltips=[("时间", "@t{%m-%d %H:%M}"), *((n, f"@{c}{{0.0}}") for c, n, _ in series)],
                            formatters={"@t": "datetime"}, mode="vline"))  # fmt: skip
    values = [v for c, _, _ in series for v in data[c] if v is not None and v == v]
    if limits and values:  # keep the limit lines in view
        low, high = min(*values, *limits), max(*values, *limits)
        pad = (high - low) * 0.05 or 1.0
        fig.y_range = Range1d(start=low - pad, end=high + pad)
    fig.xaxis.formatter = axis_time()
    fig.yaxis.axis_label = unit
    fig.legend.location = "top_left"
    fig.legend.visible = len(series) > 1
    return pn.pane.Bokeh(fig, sizing_mode="stretch_width")


Loader = Callable[[], Awaitable[list[Any]]]


class Section(param.Parameterized):
    """A titled part of a device page, filled by its loader once the page is shown."""

    state = param.Selector(default="waiting", objects=["waiting", "loaded", "failed"], doc="Where the load is.")  # type: ignore[var-annotated]

    def __init__(self, title: str, loader: Loader, **params: Any) -> None:
        super().__init__(**params)
        self.title, self.loader = title, loader
        self.head = pn.pane.HTML(f"<h3 style='margin:6px 0 2px'>{esc(title)}</h3>", margin=(0, 5))
        self.panel = pn.Column(self.head, note("加载中…"), sizing_mode="stretch_width")

    async def load(self) -> None:
        """Run the loader and show its parts; on failure show a Chinese error line instead."""
        try:
            parts = await self.loader()
            self.state = "loaded"
        except Exception as exc:
            log.warning("device page section %r failed: %s: %s", self.title, type(exc).__name__, str(exc)[:300])
            parts = [error_line(f"{self.title}: 数据查询失败,请稍后重试")]
            self.state = "failed"
        self.panel.objects = [self.head, *parts]


def status_html(session: OpsSession, profile: DeviceProfile) -> str:
    """The header line: kind, id, place, live status and open warnings."""
    d = session.ctx.live.devices.get(profile.device_id) if session.ctx.live is not None else None
    status = d.status if d is not None else "unknown"
    warnings = "、".join(actor_of(profile.kind).label(w) for w in (d.warnings if d is not None else ()))
    place = " ".join(p for p in (profile.township, profile.village) if p) or "未登记位置"
    kind = KIND_ZH.get(profile.kind, profile.kind)
    badge = f'<span class="zq-badge" style="background:{STATUS_COLOR[status]}">{esc(STATUS_ZH[status])}</span>'
    warn = f"<span>需关注: {esc(warnings)}</span>" if warnings else ""
    return (f'<div class="zq-dev-head"><h2>{esc(kind)} {esc(profile.device_id)}</h2><span>{esc(place)}</span>'
            f'{badge}{warn}<a href="/map">返回一张图</a></div>')  # fmt: skip


class DeviceView(param.Parameterized):
    """One session's page of one device: a header from the live state and sections loaded asynchronously."""

    status = param.String(default="", doc="The header's HTML (re-read from the live state).")

    def __init__(self, session: OpsSession, profile: DeviceProfile, main: list[Section], side: list[Any],
                 **params: Any) -> None:  # fmt: skip
        super().__init__(**params)
        self.session, self.profile = session, profile
        self.sections = [s for s in [*main, *side] if isinstance(s, Section)]
        self.status = status_html(session, profile)
        self.header = html_pane(self.status)
        body = pn.Row(
            pn.Column(*(s.panel for s in main), sizing_mode="stretch_width", min_width=480),
            pn.Column(*(s.panel if isinstance(s, Section) else s for s in side), width=460),
            sizing_mode="stretch_width",
        )  # fmt: skip
        self.layout = pn.Column(self.header, body, sizing_mode="stretch_both", scroll=True)

    async def load(self) -> None:
        """Load every section concurrently."""
        await asyncio.gather(*(s.load() for s in self.sections))

    def refresh_header(self) -> None:
        """Re-read the status line from the live state (sent only when it changed)."""
        now = status_html(self.session, self.profile)
        if now != self.status:
            self.status = self.header.object = now

    def served(self) -> pn.viewable.Viewable:
        """The page for a browser session: sections load once it is shown, the header follows the live state."""
        pn.state.onload(self.load)
        pn.state.add_periodic_callback(self.refresh_header, period=HEADER_MS)
        return self.layout


def events_section(session: OpsSession, profile: DeviceProfile, title: str = "最近事件", types: Sequence[str] = (),
                   limit: int = 30, detail: Callable[[dict[str, Any]], str] | None = None) -> Section:  # fmt: skip
    """Recent events of the device with their Chinese names (optionally of some types only)."""
    cls = actor_of(profile.kind)

    async def load() -> list[Any]:
        rows = await recent_events(session.ctx, profile.device_id, types, limit)
        if not rows:
            return [note("暂无事件记录")]
        show = detail or detail_text
        cells = [(local_time(r["ms"]), cls.label(r["type"]), show(r["detail"])) for r in rows]
        return [html_pane(table(["时间", "事件", "详情"], cells))]

    return Section(title, load)


def twin_section(session: OpsSession, profile: DeviceProfile, fields: Sequence[tuple[str, str, str]],
                 title: str = "当前状态") -> Section:  # fmt: skip
    """Chosen fields (field, Chinese name, unit) of the device's twin."""

    async def load() -> list[Any]:
        live = await twin_state(session.ctx, profile)
        if live is None:
            return [note("设备尚未上报数据")]
        rows = []
        for field, name, unit in fields:
            value = live.get(field)
            shown = "—" if value is None else VALUE_ZH.get(value, value) if isinstance(value, bool) else value
            shown = round(shown, 1) if isinstance(shown, float) else shown
            rows.append((name, f"{shown} {unit}".strip() if value is not None else shown))
        return [html_pane(pairs(rows))]

    return Section(title, load)


def open_tickets(session: OpsSession, device_id: str) -> pn.pane.HTML:
    """The device's open incidents from the live state, linked to the incident page."""
    live = session.ctx.live
    rows = sorted((t for t in (live.tickets.values() if live is not None else ()) if t.get("device_id") == device_id
                   and t["open"]), key=lambda t: (t["severity"], -t["opened"]))  # fmt: skip
    if not rows:
        return note("无未办结事件")
    cells = [(f'<a href="/incidents?ticket={esc(t["ticket_id"])}">{esc(t["title"])}</a>',
              SEVERITY_ZH.get(t["severity"], t["severity"]), t["state"], local_time(t["opened"]))
             for t in rows]  # fmt: skip
    return html_pane(table(["未办结事件", "级别", "状态", "发生"], cells, raw=(0,)))
