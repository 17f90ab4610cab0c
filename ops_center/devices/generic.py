"""The page of a device whose kind has no page of its own: its twin summary and recent events."""

from __future__ import annotations

from typing import Any

from core.kinds import DeviceProfile
from ops_center.devices.formatting import pairs
from ops_center.devices.queries import twin_state
from ops_center.devices.widgets import DeviceView, Section, events_section, html_pane, note
from ops_center.session import OpsSession

KIND = ""  # used for any kind without its own module
TWIN_ZH = {"last_seen": "最后接收", "applied": "已处理消息", "offline": "离线", "last_seq": "最新序号"}


def twin_summary(session: OpsSession, profile: DeviceProfile) -> Section:
    """Scalar fields of the twin (what every kind has in Chinese, the rest by field name)."""

    async def load() -> list[Any]:
        live = await twin_state(session.ctx, profile)
        if live is None:
            return [note("设备尚未上报数据或该类型暂未接入")]
        rows = [(TWIN_ZH.get(k, k), v) for k, v in sorted(live.items())
                if isinstance(v, int | float | str | bool) and k not in ("kind", "village", "township")]  # fmt: skip
        return [html_pane(pairs(rows))]

    return Section("设备状态", load)


def view(session: OpsSession, profile: DeviceProfile) -> DeviceView:
    """Twin summary and recent events."""
    return DeviceView(session, profile, main=[events_section(session, profile)], side=[twin_summary(session, profile)])


def build(session: OpsSession, profile: DeviceProfile) -> Any:
    """The generic page for a browser session."""
    return view(session, profile).served()
