"""Village camera page: the latest annotated snapshots, its zones and lines drawn over the last frame, events."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

import panel as pn
from bokeh.models import ColumnDataSource, HoverTool, Range1d
from bokeh.models.annotations import LabelSet
from bokeh.plotting import figure
from PIL import Image

from actors.snapshots import LINE_COLOUR, ZONE_COLOURS
from actors.video_config import VideoConfig, VideoConfigError, load_video_config
from adapters.telemetry import DB, EVENTS_TABLE
from core.kinds import DeviceProfile
from ops_center.context import sql_str
from ops_center.devices.formatting import actor_of, esc, local_time
from ops_center.devices.widgets import DeviceView, Section, events_section, html_pane, note, twin_section
from ops_center.session import OpsSession

KIND = "camera"
PURPOSE_ZH = {"crowd": "人员聚集监测区", "restricted": "重点区域", "no_parking": "禁停区", "water": "水域",
              "elderly_area": "老人活动区", "measure": "测速区"}  # fmt: skip
DEFAULT_SIZE = (1280, 720)
FRAME_WIDTH = 720  # drawn frame width in screen pixels (the height follows the picture's aspect ratio)
FORBIDDEN_ZH = {"left_to_right": "从左向右(沿线起点看)", "right_to_left": "从右向左(沿线起点看)"}
TWIN_FIELDS = (("frozen", "画面冻结", ""), ("offline", "离线", ""), ("motion", "画面变化", ""))


def evidence_url(rel: str) -> str | None:
    """The browser address of a snapshot (through the login- and area-checked /evidence route); None if the path
    is not a snapshot JPEG under snapshots/<device>/."""
    parts = Path(rel).parts
    if len(parts) != 3 or parts[0] != "snapshots" or not rel.endswith(".jpg") or ".." in parts:
        return None
    return "/evidence?path=" + quote(rel, safe="/")


async def snapshots(session: OpsSession, profile: DeviceProfile, limit: int = 6) -> list[dict[str, Any]]:
    """The newest events that saved an annotated snapshot, newest first: ms, type, path (under var/), url."""
    rows = await session.ctx.query(
        f"SELECT type, toUnixTimestamp64Milli(ts) AS ms, JSONExtractString(detail, 'snapshot') AS path "
        f"FROM {DB}.{EVENTS_TABLE} WHERE device_id = {sql_str(profile.device_id)} "
        "AND startsWith(path, 'snapshots/') AND endsWith(path, '.jpg') AND position(path, '..') = 0 "
        f"ORDER BY ts DESC LIMIT {int(limit)}"
    )
    out = []
    for r in rows:
        url = evidence_url(str(r["path"]))
        if url is not None:
            out.append({"ms": int(r["ms"]), "type": r["type"], "path": r["path"], "url": url})
    return out


def frame_size(var_dir: Path, rel: str | None, config: VideoConfig) -> tuple[int, int]:
    """Width and height of the latest snapshot, else the extent of the zones and lines, else 1280x720."""
    if rel:
        try:
            with Image.open(var_dir / rel) as im:
                return im.size
        except OSError:
            pass
    xs = [x for z in config.zones for x, _ in z.polygon] + [p[0] for ln in config.lines for p in (ln.start, ln.end)]
    ys = [y for z in config.zones for _, y in z.polygon] + [p[1] for ln in config.lines for p in (ln.start, ln.end)]
    if not xs:
        return DEFAULT_SIZE
    return max(DEFAULT_SIZE[0], math.ceil(max(xs))), max(DEFAULT_SIZE[1], math.ceil(max(ys)))


def overlay(config: VideoConfig, size: tuple[int, int], url: str | None) -> Any:
    """A Bokeh figure of the frame (image y downwards) with the snapshot as background, zones and lines on top."""
    w, h = size
    fw = FRAME_WIDTH
    fig = figure(x_range=Range1d(start=0, end=w, bounds=(0, w)), y_range=Range1d(start=h, end=0, bounds=(0, h)),
                 frame_width=fw, frame_height=round(fw * h / w), tools="pan,wheel_zoom,reset",
                 toolbar_location="right", background_fill_color="#1c2833", min_border=0)  # fmt: skip
    fig.axis.visible = False
    fig.grid.visible = False
    if url:
        fig.image_url(url=[url], x=0, y=0, w=w, h=h, anchor="top_left")
    zs = config.zones
    zones = ColumnDataSource({
        "xs": [[x for x, _ in z.polygon] for z in zs], "ys": [[y for _, y in z.polygon] for z in zs],
        "name": [z.name for z in zs], "purpose": [PURPOSE_ZH.get(z.purpose, z.purpose) for z in zs],
        "colour": [ZONE_COLOURS[z.purpose].as_hex() for z in zs],
        "hours": [f"{z.hours[0]:02d}:00–{z.hours[1]:02d}:00" if z.hours else "全天" for z in zs],
        "lx": [z.polygon[0][0] for z in zs], "ly": [z.polygon[0][1] for z in zs],
    })  # fmt: skip
    patches = fig.patches("xs", "ys", source=zones, fill_color="colour", fill_alpha=0.18, line_color="colour",
                          line_width=2)  # fmt: skip
    if not url:  # an annotated snapshot already names its zones and lines
        fig.add_layout(LabelSet(x="lx", y="ly", text="name", source=zones, text_color="colour", text_font_size="12px",
                                x_offset=4, y_offset=-16, background_fill_color="#000000",
                                background_fill_alpha=0.5))  # fmt: skip
    fig.add_tools(HoverTool(renderers=[patches], tooltips=[("区域", "@name"), ("用途", "@purpose"),
                                                          ("监测时段", "@hours")]))  # fmt: skip
    if config.lines:
        lines = ColumnDataSource({
            "x0": [ln.start[0] for ln in config.lines], "y0": [ln.start[1] for ln in config.lines],
            "x1": [ln.end[0] for ln in config.lines], "y1": [ln.end[1] for ln in config.lines],
            "name": [ln.name for ln in config.lines],
            "forbidden": [FORBIDDEN_ZH.get(ln.forbidden or "", "无") for ln in config.lines],
        })  # fmt: skip
        segs = fig.segment("x0", "y0", "x1", "y1", source=lines, line_color=LINE_COLOUR.as_hex(), line_width=3)
        if not url:
            fig.add_layout(LabelSet(x="x0", y="y0", text="name", source=lines, text_color=LINE_COLOUR.as_hex(),
                                    text_font_size="12px", x_offset=4, y_offset=4))  # fmt: skip
        fig.add_tools(HoverTool(renderers=[segs], tooltips=[("检测线", "@name"), ("禁行方向", "@forbidden")]))
    return pn.pane.Bokeh(fig)


def snapshots_section(session: OpsSession, profile: DeviceProfile) -> Section:
    """The latest annotated snapshots as pictures (loaded by the browser from /evidence)."""
    cls = actor_of(profile.kind)

    async def load() -> list[Any]:
        shots = await snapshots(session, profile)
        if not shots:
            return [note("暂无事件截图")]
        tiles = "".join(
            f'<figure style="margin:4px;width:300px"><a href="{esc(s["url"])}" target="_blank">'
            f'<img src="{esc(s["url"])}" style="width:300px" alt="{esc(cls.label(s["type"]))}"></a>'
            f'<figcaption style="font-size:12px">{esc(local_time(s["ms"]))} {esc(cls.label(s["type"]))}</figcaption>'
            "</figure>" for s in shots
        )  # fmt: skip
        return [html_pane(f'<div style="display:flex;flex-wrap:wrap">{tiles}</div>')]

    return Section("最新事件截图", load)


def zones_section(session: OpsSession, profile: DeviceProfile) -> Section:
    """Zones and lines of the video config drawn over the latest snapshot."""

    async def load() -> list[Any]:
        try:
            config = load_video_config(profile)
        except VideoConfigError:
            return [note("视频配置无效,无法显示监测区域")]
        shots = await snapshots(session, profile, limit=1)
        rel = shots[0]["path"] if shots else None
        size = await asyncio.to_thread(frame_size, session.ctx.var_dir, rel, config)
        parts: list[Any] = [overlay(config, size, shots[0]["url"] if shots else None)]
        if not shots:
            parts.append(note("暂无截图,仅显示区域位置"))
        if not config.zones and not config.lines:
            parts.append(note("未配置监测区域或检测线"))
        return parts

    return Section("监测区域", load)


def view(session: OpsSession, profile: DeviceProfile) -> DeviceView:
    """The camera page of one session."""
    main = [snapshots_section(session, profile), zones_section(session, profile)]
    side = [twin_section(session, profile, TWIN_FIELDS), events_section(session, profile)]
    return DeviceView(session, profile, main=main, side=side)


def build(session: OpsSession, profile: DeviceProfile) -> Any:
    """The camera page for a browser session."""
    return view(session, profile).served()
