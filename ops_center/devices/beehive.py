"""Smart beehive page: weight, brood temperature, humidity and sound history, swarm and theft events, the adopter."""

from __future__ import annotations

from typing import Any

from actors.beehive import DEFAULTS
from adapters.adoption import load_adopter
from core.kinds import DeviceProfile
from ops_center.devices.formatting import DETAIL_ZH, detail_text, pairs
from ops_center.devices.queries import history, personal_values
from ops_center.devices.widgets import DeviceView, Section, events_section, html_pane, line_chart, note, twin_section
from ops_center.session import OpsSession

KIND = "beehive"
SOUND_BANDS = (("s1", "<200Hz", "#8e44ad"), ("s2", "200–300Hz", "#2980b9"), ("s3", "300–400Hz", "#27ae60"),
               ("s4", "400–600Hz", "#e67e22"))  # fmt: skip
TWIN_FIELDS = (("weight", "重量", "kg"), ("temp_in", "巢内温度", "℃"), ("humidity", "巢内湿度", "%"),
               ("battery", "电量", "%"), ("moved", "箱体移动", ""))  # fmt: skip
HIVE_DETAIL = {**DETAIL_ZH, "temp": "巢温℃"}


async def adopter_rows(session: OpsSession, profile: DeviceProfile) -> list[tuple[str, str]] | None:
    """The hive's adopter as this user may see them (phone masked unless allowed); None when not adopted."""
    a = await load_adopter(session.ctx.redis, profile.device_id)
    if a is None:
        return None
    [phone] = await personal_values(session, profile, [("认养人电话", a.phone, False)])
    return [("认养人", a.name), ("联系电话", phone), ("认养方案", a.plan), ("认养日期", a.since)]


async def readings(session: OpsSession, profile: DeviceProfile) -> dict[str, list[Any]]:
    """Per-10-minute weight, brood temperature, humidity and sound band levels over the last 24 hours."""
    cols = {"weight": "avg(weight)", "temp_in": "avg(temp_in)", "humidity": "avg(humidity)"}
    n = len(SOUND_BANDS)
    cols |= {c: f"avgIf(sound[{i + 1}], length(sound) >= {n})" for i, (c, _, _) in enumerate(SOUND_BANDS)}
    return await history(session.ctx, KIND, profile.device_id, cols, bucket_s=600)


def charts_section(session: OpsSession, profile: DeviceProfile) -> Section:
    """Weight, temperature (with the brood range), humidity and sound charts."""
    p = profile.params

    async def load() -> list[Any]:
        data = await readings(session, profile)
        if not data["ms"]:
            return [note("近24小时无蜂箱数据")]
        brood = [p.get("brood_min", DEFAULTS["brood_min"]), p.get("brood_max", DEFAULTS["brood_max"])]
        return [
            line_chart(data, [("weight", "重量", "#d35400")], "蜂箱重量", "kg"),
            line_chart(data, [("temp_in", "巢温", "#c0392b")], "巢内温度(虚线为育雏温度范围)", "℃", brood),
            line_chart(data, [("humidity", "湿度", "#2980b9")], "巢内湿度", "%"),
            line_chart(data, list(SOUND_BANDS), "蜂群声音(分频段)", "dB"),
        ]

    return Section("蜂箱数据(近24小时)", load)


def adopter_section(session: OpsSession, profile: DeviceProfile) -> Section:
    """The 云上认养 adopter, or 未认养."""

    async def load() -> list[Any]:
        rows = await adopter_rows(session, profile)
        return [html_pane(pairs(rows))] if rows else [note("未认养")]

    return Section("云上认养", load)


def view(session: OpsSession, profile: DeviceProfile) -> DeviceView:
    """The beehive page of one session."""

    def detail(d: dict[str, Any]) -> str:
        return detail_text(d, HIVE_DETAIL)

    main = [charts_section(session, profile),
            events_section(session, profile, "分蜂与被盗", ("swarm", "theft"), limit=20, detail=detail),
            events_section(session, profile, detail=detail)]  # fmt: skip
    side = [adopter_section(session, profile), twin_section(session, profile, TWIN_FIELDS)]
    return DeviceView(session, profile, main=main, side=side)


def build(session: OpsSession, profile: DeviceProfile) -> Any:
    """The beehive page for a browser session."""
    return view(session, profile).served()
