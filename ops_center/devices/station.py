"""Road advisory station (劝导站) page: passes, violations, counters, the broadcast-warning box and speaker log."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import panel as pn
import param

from actors.station import StationActor
from adapters.speaker.requests import MAX_CHARS, OPERATOR, BroadcastError, clean_text, request_broadcast
from adapters.telemetry import DB, SPEAKER_LOG_TABLE
from core.access import AccessDenied, can, in_scope, personal
from core.kinds import DeviceProfile
from ops_center.context import sql_str
from ops_center.devices.camera import evidence_url
from ops_center.devices.formatting import VALUE_ZH, detail_text, esc, local_time, pairs, table
from ops_center.devices.queries import event_counts, recent_events, twin_state
from ops_center.devices.widgets import DeviceView, Section, events_section, html_pane, note
from ops_center.session import OpsSession

log = logging.getLogger(__name__)
KIND = "station"
PASS = "vehicle_pass"
VIOLATIONS = ("speeding", "wrong_way", "carrying_passengers")
HEALTH_ZH = {"ok": "正常", "offline": "离线", "frozen": "画面冻结"}


# --- data --------------------------------------------------------------------------------------------------------


def _plate(session: OpsSession, profile: DeviceProfile, plate: str) -> str:
    return personal(session.user, plate, profile.township, profile.village) if plate else "未识别"


async def passes(session: OpsSession, profile: DeviceProfile, limit: int = 20) -> list[tuple[Any, ...]]:
    """The newest passes as table rows: time, vehicle, plate (masked by role), direction, speed."""
    rows = await recent_events(session.ctx, profile.device_id, (PASS,), limit)
    out: list[tuple[Any, ...]] = []
    for r in rows:
        d = r["detail"]
        speed = "—" if d.get("speed_kmh") is None else f"{d['speed_kmh']:g}"
        out.append((local_time(r["ms"]), VALUE_ZH.get(d.get("vehicle"), d.get("vehicle") or "—"),
                    _plate(session, profile, str(d.get("plate") or "")), d.get("direction") or "—", speed))  # fmt: skip
    return out


async def violations(session: OpsSession, profile: DeviceProfile, limit: int = 20) -> list[tuple[Any, ...]]:
    """The newest violations as table rows: time, violation, plate, speed / limit, snapshot link (HTML)."""
    rows = await recent_events(session.ctx, profile.device_id, VIOLATIONS, limit)
    out: list[tuple[Any, ...]] = []
    for r in rows:
        d = r["detail"]
        speed = f"{d['speed_kmh']:g}" if d.get("speed_kmh") is not None else "—"
        if d.get("limit_kmh") is not None:
            speed += f" / 限速 {d['limit_kmh']:g}"
        url = evidence_url(str(d.get("snapshot") or ""))
        link = f'<a href="{esc(url)}" target="_blank">查看</a>' if url else "—"
        out.append((local_time(r["ms"]), StationActor.label(r["type"]), _plate(session, profile,
                    str(d.get("plate") or "")), speed, link))  # fmt: skip
    return out


async def counters(session: OpsSession, profile: DeviceProfile) -> list[tuple[str, Any]]:
    """Passes and violations in the last 24 hours (ClickHouse) and since the twin started (live twin)."""
    counts = await event_counts(session.ctx, profile.device_id)
    rows: list[tuple[str, Any]] = [("近24小时通过车辆", counts.get(PASS, 0)),
                                   ("近24小时违法行为", sum(counts.get(v, 0) for v in VIOLATIONS))]  # fmt: skip
    rows += [(f" · {StationActor.label(v)}", counts.get(v, 0)) for v in VIOLATIONS]
    twin = await twin_state(session.ctx, profile)
    if twin is not None:
        rows += [("累计通过车辆", twin.get("passes", 0)), ("累计违法行为", twin.get("violations", 0)),
                 ("画面状态", HEALTH_ZH.get(str(twin.get("health")), twin.get("health")))]  # fmt: skip
    return rows


async def speaker_log(session: OpsSession, profile: DeviceProfile, limit: int = 20) -> list[dict[str, Any]]:
    """The station's newest voice-warning deliveries, newest first."""
    rows = await session.ctx.query(
        f"SELECT toUnixTimestamp64Milli(ts) AS ms, text, `by` AS who, reason, ok, error FROM {DB}.{SPEAKER_LOG_TABLE} "
        f"WHERE device_id = {sql_str(profile.device_id)} ORDER BY ts DESC LIMIT {int(limit)}"
    )
    return [{**r, "ms": int(r["ms"])} for r in rows]


async def broadcast(session: OpsSession, profile: DeviceProfile, text: str) -> str:
    """Queue a typed warning for the station's loudspeaker after the server-side checks (broadcast permission, the
    station in the user's area); audited whether or not it is sent. Returns the request key; AccessDenied or
    BroadcastError (Chinese) when refused."""
    user, did = session.user, profile.device_id
    why = ""
    if not can(user, "broadcast"):
        why = "您的账号无广播权限"
    elif not in_scope(user, profile.township, profile.village):
        why = f"劝导站 {did} 不在您的管辖范围内"
    if why:
        await session.audit("broadcast", did, ok=False, reason=why)
        raise AccessDenied(why)
    try:
        key = await request_broadcast(session.ctx.redis, did, text, by=user.username)
    except BroadcastError as exc:
        await session.audit("broadcast", did, ok=False, reason=str(exc))
        raise
    await session.audit("broadcast", did, ok=True, key=key, text=clean_text(text))
    return key


# --- sections ----------------------------------------------------------------------------------------------------


def rows_section(title: str, head: list[str], rows: Any, empty: str, raw: tuple[int, ...] = ()) -> Section:
    """A section showing the rows an async function returns as a table."""

    async def load() -> list[Any]:
        got = await rows()
        return [html_pane(table(head, got, raw=raw))] if got else [note(empty)]

    return Section(title, load)


def _reason(reason: str) -> str:
    if reason == OPERATOR:
        return "人工广播"
    return StationActor.label(reason) if reason in StationActor.labels else f"规则 {reason}"


def speaker_section(session: OpsSession, profile: DeviceProfile) -> Section:
    """Recent loudspeaker deliveries."""

    async def load() -> list[Any]:
        rows = await speaker_log(session, profile)
        if not rows:
            return [note("暂无播放记录")]
        cells = [(local_time(r["ms"]), r["text"], _reason(r["reason"]), r["who"],
                  "成功" if r["ok"] else f"失败 {r['error']}".strip()) for r in rows]  # fmt: skip
        return [html_pane(table(["时间", "内容", "原因", "发起", "结果"], cells))]

    return Section("喇叭播放记录", load)


class BroadcastBox(param.Parameterized):
    """The broadcast-warning box of one session: text in, 播放, the outcome shown (checks are server-side)."""

    result = param.String(default="", doc="Outcome of the last 播放 (Chinese).")

    def __init__(self, session: OpsSession, profile: DeviceProfile, after: Section | None = None,
                 **params: Any) -> None:  # fmt: skip
        super().__init__(**params)
        self.session, self.profile, self.after = session, profile, after
        allowed = can(session.user, "broadcast") and in_scope(session.user, profile.township, profile.village)
        self.text = pn.widgets.TextAreaInput(label="广播内容", placeholder="输入要在劝导站喇叭播放的提醒(最多200字)",
                                             max_length=MAX_CHARS, height=90, sizing_mode="stretch_width")  # fmt: skip
        self.button = pn.widgets.Button(label="播放", color="danger", width=100, disabled=not allowed)
        self.button.on_click(self.play)
        self.outcome = pn.pane.HTML(self.param.result, sizing_mode="stretch_width")
        hint = [] if allowed else [note("您的账号无向该劝导站广播的权限")]
        self.panel = pn.Column(pn.pane.HTML("<h3 style='margin:6px 0 2px'>广播警示</h3>"), self.text, self.button,
                               self.outcome, *hint, sizing_mode="stretch_width")  # fmt: skip

    async def play(self, _event: Any = None) -> None:
        """Send the typed text (after the login check) and show what happened."""
        if not await self.session.touch():
            return
        try:
            key = await broadcast(self.session, self.profile, self.text.value or "")
        except (AccessDenied, BroadcastError) as exc:
            self.result = f'<span class="zq-err" style="color:#c0392b">未播放: {esc(exc)}</span>'
            return
        except Exception as exc:
            log.warning("broadcast to %s failed: %s", self.profile.device_id, type(exc).__name__)
            self.result = '<span style="color:#c0392b">未播放: 系统暂时无法提交,请稍后重试</span>'
            return
        self.text.value = ""
        self.result = f'<span style="color:#27ae60">已提交播放(编号 {esc(key[-8:])}),喇叭播放结果见下方记录</span>'
        if self.after is not None:
            await self.after.load()


def view(session: OpsSession, profile: DeviceProfile) -> DeviceView:
    """The station page of one session."""
    log_section = speaker_section(session, profile)
    box = BroadcastBox(session, profile, after=log_section)

    async def counter_parts() -> list[Any]:
        return [html_pane(pairs(await counters(session, profile)))]

    def detail(d: dict[str, Any]) -> str:  # plates as this user may see them, like the tables above
        return detail_text({**d, "plate": _plate(session, profile, str(d.get("plate") or ""))} if "plate" in d else d)

    main = [rows_section("违法行为", ["时间", "行为", "车牌", "车速km/h", "截图"],
                         partial(violations, session, profile), "暂无违法记录", raw=(4,)),
            rows_section("通过车辆", ["时间", "车辆", "车牌", "方向", "车速km/h"],
                         partial(passes, session, profile), "暂无通过记录"),
            events_section(session, profile, detail=detail)]  # fmt: skip
    side = [Section("统计", counter_parts), box.panel, log_section]
    return DeviceView(session, profile, main=main, side=side)


def build(session: OpsSession, profile: DeviceProfile) -> Any:
    """The station page for a browser session."""
    return view(session, profile).served()
