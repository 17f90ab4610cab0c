"""设备详情: /device?id=<device id>, the page of one device by its kind (ops_center/devices), area-checked."""

from __future__ import annotations

import logging

import panel as pn

from core.access import AccessDenied, in_scope
from core.kinds import DeviceProfile
from ops_center import devices
from ops_center.context import valid_id
from ops_center.devices.widgets import error_line, note
from ops_center.session import OpsSession

SLUG = "device"
TITLE = "设备详情"
PERMISSION = "view"
ORDER = 90
NAV = False  # opened from the map or an incident, never from the header

log = logging.getLogger(__name__)
MAX_ID = 100  # longer ids are cut before they are shown or audited


def requested_id() -> str:
    """The `id` query argument of the page request ("" when absent)."""
    raw = (pn.state.session_args or {}).get("id") or [b""]
    return raw[0].decode("utf-8", "replace").strip()[:MAX_ID]


def lookup(session: OpsSession, device_id: str) -> DeviceProfile:
    """The registered device if the user's area holds it; AccessDenied otherwise (one message for unknown and
    out of area, so the page does not tell which devices exist elsewhere)."""
    if device_id and not valid_id("device", device_id):
        raise AccessDenied(f"设备编号格式不正确:{device_id}")
    profile = session.ctx.live.profiles.get(device_id) if device_id else None
    if profile is None or not in_scope(session.user, profile.township, profile.village):
        raise AccessDenied(f"未找到设备 {device_id or '(未指定)'},或该设备不在您的管辖范围内")
    return profile


async def open_device(session: OpsSession, device_id: str) -> DeviceProfile:
    """`lookup`, with every refusal audited (device_view_denied)."""
    try:
        return lookup(session, device_id)
    except AccessDenied:
        await session.audit("device_view_denied", device_id[:MAX_ID], ok=False)
        raise


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The device page of one session: refused, or the kind's view (its data loads once the page is shown)."""
    device_id = requested_id()
    holder = pn.Column(note("加载中…"), sizing_mode="stretch_both")

    async def open_page() -> None:
        try:
            profile = await open_device(session, device_id)
        except AccessDenied as exc:
            holder.objects = [error_line(str(exc)), pn.pane.HTML('<a href="/map">返回一张图</a>')]
            return
        try:
            holder.objects = [devices.build(session, profile)]
        except Exception as exc:  # a page that cannot be drawn says so; the server and the session go on
            log.warning("device page of %s failed: %s: %s", device_id, type(exc).__name__, str(exc)[:300])
            holder.objects = [error_line("设备页面暂时无法显示,请稍后重试")]

    pn.state.onload(open_page)
    return holder
