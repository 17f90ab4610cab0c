"""The live county map, shared by the map page and the big screen: devices by status, open incidents by severity.

One `MapView` per session holds its filters, its two data sources and the live version it last drew, and sends
only what changed (`patch`/`stream`)."""

from __future__ import annotations

import html
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool, TapTool, WMTSTileSource
from bokeh.models.annotations import LabelSet
from bokeh.plotting import figure

from core.access import in_scope
from ops_center.labels import KIND_ZH, SEVERITY_COLOR, SEVERITY_ZH, STATUS_COLOR, STATUS_ZH
from ops_center.live import Device, LiveState, mercator
from ops_center.session import OpsSession

MARKERS = {"wristband": "circle", "beehive": "square", "camera": "triangle", "station": "diamond"}
POLL_MS = 250  # how often a session looks for a newer live version (nothing is sent when there is none)
BULK = 0.3  # above this share of changed rows, one slice patch per column replaces per-row patches


@pn.cache
def boundary() -> dict[str, list[float]]:
    """The county outline in Web Mercator (read once per process)."""
    from core.gazetteer import load_gazetteer

    shape = load_gazetteer().boundary
    ring = max(getattr(shape, "geoms", [shape]), key=lambda g: g.area).exterior.coords
    xs, ys = zip(*(mercator(lat, lon) for lon, lat in ring), strict=True)
    return {"x": list(xs), "y": list(ys)}


def _device_cols(rows: list[Device]) -> dict[str, Any]:
    return {
        "device_id": [d.device_id for d in rows], "kind": [KIND_ZH.get(d.kind, d.kind) for d in rows],
        "marker": [MARKERS.get(d.kind, "circle") for d in rows], "township": [d.township for d in rows],
        "village": [d.village for d in rows], "x": np.array([d.x for d in rows]), "y": np.array([d.y for d in rows]),
        "color": [STATUS_COLOR[d.status] for d in rows], "status": [STATUS_ZH[d.status] for d in rows],
    }  # fmt: skip


def _ticket_cols(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def xy(t: dict[str, Any]) -> tuple[float, float]:
        return mercator(t["lat"], t["lon"]) if t.get("lat") is not None and t.get("lon") is not None else (np.nan,) * 2

    pts = [xy(t) for t in rows]
    return {
        "ticket_id": [t["ticket_id"] for t in rows], "title": [t["title"] for t in rows],
        "x": np.array([p[0] for p in pts]), "y": np.array([p[1] for p in pts]),
        "severity": [SEVERITY_ZH.get(t["severity"], str(t["severity"])) for t in rows],
        "color": [SEVERITY_COLOR.get(t["severity"], "#999") for t in rows], "state": [t["state"] for t in rows],
        "village": [t["village"] for t in rows], "size": [22 - 3 * min(t["severity"], 4) for t in rows],
        "alpha": [1.0 if t["open"] else 0.0 for t in rows],
    }  # fmt: skip


class MapView(param.Parameterized):
    """One session's map: its filters, its two data sources and the version it last drew."""

    township = param.Selector(default="全部", objects=["全部"], doc="Township filter (county accounts only).")  # type: ignore[var-annotated]
    kinds = param.ListSelector(default=list(KIND_ZH), objects=list(KIND_ZH), doc="Device kinds shown.")
    severities = param.ListSelector(default=[1, 2, 3, 4], objects=[1, 2, 3, 4], doc="Incident severities shown.")
    selected = param.String(default="", doc="Device or ticket id whose detail is open.")
    counted = param.Integer(default=0, doc="Bumped (at most once a second) when the counts may have changed.")

    def __init__(self, session: OpsSession, **params: Any) -> None:
        super().__init__(**params)
        self.session, self.live = session, session.ctx.live
        self.devices = ColumnDataSource(_device_cols([]))
        self.incidents = ColumnDataSource(_ticket_cols([]))
        self.device_index: dict[str, int] = {}
        self.device_order: list[str] = []  # device id of each row
        self.ticket_index: dict[str, int] = {}
        self.version = 0
        self.counted_at = 0.0
        user = session.user
        towns = [t.name for t in session.ctx.gazetteer.townships]
        self.param.township.objects = ["全部", *towns] if user.level == "county" else [user.township]  # type: ignore[assignment]
        if user.level == "county":
            self.redraw()
        else:
            self.township = user.township  # draws

    # --- what this session may and wants to see ------------------------------------------------------------------

    def _device_filter(self) -> Callable[[Device], bool]:
        """Whether this session shows a device, with the filters read once: it runs over every device of the county."""
        user, kinds, town = self.session.user, frozenset(self.kinds), self.township
        if user.level == "county" and town == "全部":
            return lambda d: d.kind in kinds
        return lambda d: d.kind in kinds and town in ("全部", d.township) and in_scope(user, d.township, d.village)

    def _wants_ticket(self, t: dict[str, Any]) -> bool:
        return (in_scope(self.session.user, t["township"], t["village"]) and t["severity"] in self.severities
                and self.township in ("全部", t["township"]))  # fmt: skip

    @param.depends("township", "kinds", "severities", watch=True)
    def redraw(self) -> None:
        """Fill both sources from scratch (on open and when a filter changes)."""
        live: LiveState = self.live
        wants = self._device_filter()
        devs = sorted((d for d in live.devices.values() if wants(d)), key=lambda d: d.device_id)
        tks = sorted((t for t in live.tickets.values() if t["open"] and self._wants_ticket(t)),
                     key=lambda t: t["ticket_id"])  # fmt: skip
        self.version = live.version
        self.device_index = {d.device_id: i for i, d in enumerate(devs)}
        self.device_order = [d.device_id for d in devs]
        self.ticket_index = {t["ticket_id"]: i for i, t in enumerate(tks)}
        self.devices.data = _device_cols(devs)
        self.incidents.data = _ticket_cols(tks)

    def update(self) -> None:
        """Send what changed since the last drawn version as patches (changed rows) and streams (new rows)."""
        ch = self.live.changes_since(self.version)
        if ch.reset:
            self.redraw()
            return
        self.version = ch.version
        if ch.devices:
            self._update_devices(ch.devices)
        if ch.tickets:
            self._update_tickets(ch.tickets)
        now = time.monotonic()
        if (ch.devices or ch.tickets) and now - self.counted_at >= 1.0:
            self.counted_at = now
            self.counted += 1

    def _update_devices(self, ids: set[str]) -> None:
        live, index = self.live, self.device_index
        rows = [(index[i], live.devices[i]) for i in ids if i in index]
        wants = self._device_filter()
        new = [d for i in ids if i not in index and (d := live.devices.get(i)) is not None and wants(d)]
        n = len(index)
        if rows:
            self.devices.patch(self._device_patch(rows, n))
        if new:
            for k, d in enumerate(new):
                index[d.device_id] = n + k
                self.device_order.append(d.device_id)
            self.devices.stream(_device_cols(new))

    def _device_patch(self, rows: list[tuple[int, Device]], n: int) -> dict[str, list[Any]]:
        """Positions of the changed rows, and colour and status of those whose status changed (few, as a rule).

        When most rows changed, a column goes as one slice patch (x and y as binary arrays) instead of per-row ones.
        """
        live, sent = self.live, self.devices.data["status"]
        restatus = [(i, d) for i, d in rows if sent[i] != STATUS_ZH[d.status]]
        patch: dict[str, list[Any]] = {}
        everything = [live.devices[i] for i in self.device_order] if max(len(rows), len(restatus)) > BULK * n else []
        if len(rows) > BULK * n:
            patch["x"] = [(slice(0, n), np.fromiter((d.x for d in everything), float, n))]
            patch["y"] = [(slice(0, n), np.fromiter((d.y for d in everything), float, n))]
        else:
            patch["x"], patch["y"] = [(i, d.x) for i, d in rows], [(i, d.y) for i, d in rows]
        if len(restatus) > BULK * n:
            patch["color"] = [(slice(0, n), [STATUS_COLOR[d.status] for d in everything])]
            patch["status"] = [(slice(0, n), [STATUS_ZH[d.status] for d in everything])]
        elif restatus:
            patch["color"] = [(i, STATUS_COLOR[d.status]) for i, d in restatus]
            patch["status"] = [(i, STATUS_ZH[d.status]) for i, d in restatus]
        return patch

    def _update_tickets(self, ids: set[str]) -> None:
        live, index = self.live, self.ticket_index
        rows = [(index[i], live.tickets[i]) for i in ids if i in index]
        new = [live.tickets[i] for i in sorted(ids) if i not in index and live.tickets[i]["open"]]
        new = [t for t in new if self._wants_ticket(t)]
        if rows:
            cols = {i: _ticket_cols([t]) for i, t in rows}
            self.incidents.patch({k: [(i, cols[i][k][0]) for i, _ in rows] for k in ("state", "alpha", "title")})
        if new:
            n = len(index)
            for k, t in enumerate(new):
                index[t["ticket_id"]] = n + k
            self.incidents.stream(_ticket_cols(new))

    # --- drawing -------------------------------------------------------------------------------------------------

    def figure(self) -> Any:
        """The Bokeh map: boundary, townships, villages, devices and incidents."""
        ctx = self.session.ctx
        # canvas, not webgl: without a GPU (headless, VMs, many office PCs) every webgl glyph is read back from a
        # software GL canvas, ~250 ms a draw at county scale against ~70 ms on canvas (docs/benchmarks.md)
        fig = figure(x_axis_type="mercator", y_axis_type="mercator", match_aspect=True, sizing_mode="stretch_both",
                     tools="pan,wheel_zoom,reset,save", active_scroll="wheel_zoom", output_backend="canvas",
                     min_height=500, toolbar_location="right")  # fmt: skip
        if ctx.settings.ops.tile_url:
            fig.add_tile(WMTSTileSource(url=ctx.settings.ops.tile_url))
        fig.patch("x", "y", source=ColumnDataSource(boundary()), fill_color="#eaf2e3", fill_alpha=0.5,
                  line_color="#2c3e50", line_width=2)  # fmt: skip
        vx, vy = zip(*(mercator(v.lat, v.lon) for v in ctx.gazetteer.villages), strict=True)
        fig.scatter(list(vx), list(vy), size=3, color="#95a5a6", alpha=0.6)
        towns = ctx.gazetteer.townships
        tsrc = ColumnDataSource({"x": [mercator(t.lat, t.lon)[0] for t in towns],
                                 "y": [mercator(t.lat, t.lon)[1] for t in towns], "name": [t.name for t in towns]})
        fig.scatter("x", "y", source=tsrc, marker="square_pin", size=10, color="#34495e")
        fig.add_layout(LabelSet(x="x", y="y", text="name", source=tsrc, text_font_size="11px", x_offset=6, y_offset=4,
                                text_color="#2c3e50"))  # fmt: skip
        dev = fig.scatter("x", "y", source=self.devices, marker="marker", size=7, fill_color="color",
                          line_color="#ffffff", line_width=0.5, name="devices")  # fmt: skip
        inc = fig.scatter("x", "y", source=self.incidents, marker="circle", size="size", fill_color="color",
                          fill_alpha="alpha", line_alpha="alpha", line_color="#000000", line_width=2,
                          name="incidents")  # fmt: skip
        fig.add_tools(HoverTool(renderers=[dev], tooltips=[("设备", "@device_id"), ("类型", "@kind"),
                                                          ("村", "@village"), ("状态", "@status")]))  # fmt: skip
        fig.add_tools(HoverTool(renderers=[inc], tooltips=[("事件", "@title"), ("级别", "@severity"),
                                                          ("状态", "@state"), ("村", "@village")]))  # fmt: skip
        fig.add_tools(TapTool(renderers=[dev, inc]))
        self.devices.selected.on_change("indices", lambda _a, _o, new: self._pick(self.devices, "device_id", new))
        self.incidents.selected.on_change("indices", lambda _a, _o, new: self._pick(self.incidents, "ticket_id", new))
        return fig

    def _pick(self, source: ColumnDataSource, key: str, indices: list[int]) -> None:
        if indices:
            self.selected = str(source.data[key][indices[0]])

    @param.depends("selected")
    def detail(self) -> pn.viewable.Viewable:
        """What was clicked: a ticket summary or a device summary, with a link to its page."""
        sel, live = self.selected, self.live
        if not sel:
            return pn.pane.Markdown("点击地图上的设备或事件查看详情。")
        if (t := live.tickets.get(sel)) and in_scope(self.session.user, t["township"], t["village"]):
            rows = [("事件", t["title"]), ("级别", SEVERITY_ZH.get(t["severity"], "")), ("状态", t["state"]),
                    ("位置", f"{t['township']} {t['village']}"), ("处置人", t["responder"] or "未分派")]  # fmt: skip
            link = f"/incidents?ticket={sel}"
        elif (d := live.devices.get(sel)) and in_scope(self.session.user, d.township, d.village):
            rows = [("设备", d.device_id), ("类型", KIND_ZH.get(d.kind, d.kind)), ("状态", STATUS_ZH[d.status]),
                    ("位置", f"{d.township} {d.village}")]  # fmt: skip
            link = f"/device?id={sel}"
        else:
            return pn.pane.Markdown("未找到或无权查看。")
        body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        return pn.pane.HTML(f'<table class="zq-detail">{body}</table><a id="detail-link" href="{html.escape(link)}">'
                            "打开详情 »</a>")  # fmt: skip

    @param.depends("township", "kinds", "severities", "counted")
    def counts(self) -> pn.viewable.Viewable:
        """Devices by status and open incidents by severity, for the current filters."""
        wants = self._device_filter()
        by_status = Counter(d.status for d in self.live.devices.values() if wants(d))
        tks = [t for t in self.live.tickets.values() if t["open"] and self._wants_ticket(t)]
        parts = [f"设备 {sum(by_status.values())}"]
        parts += [f"{STATUS_ZH[s]} {by_status[s]}" for s in STATUS_ZH if by_status[s]]
        parts += [f"未办结事件 {len(tks)}"]
        return pn.pane.HTML(" · ".join(parts), styles={"font-size": "13px"})
