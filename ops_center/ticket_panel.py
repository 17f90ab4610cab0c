"""One ticket in the incidents page: summary, dispatch controls, full history and evidence (snapshot, telemetry)."""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import quote

import pandas as pd
import panel as pn
import param

from actors.kinds import device_kinds
from actors.ticket import TicketActor
from actors.ticket_routing import ACTION_ZH, TRANSITIONS
from adapters.telemetry import table_of
from core.access import DESK_ACTIONS, AccessDenied, can, in_scope
from core.clock import local_time
from core.events import WATCH_TCP
from ops_center import commands
from ops_center.context import sql_str
from ops_center.labels import SEVERITY_ZH
from ops_center.notice import notice
from ops_center.responders import candidates
from ops_center.session import OpsSession

log = logging.getLogger(__name__)
TELEMETRY_WINDOW_MS = 10 * 60_000  # telemetry shown around the event: this much before and after
SOURCE_ZH = {"rule": "设备告警", "citizen": "群众上报", "officer": "干部上报"}
HISTORY_ZH = {**ACTION_ZH, "open": "立案", "sla_breach": "超时", "repeat": "重复事件"}
FIELD_ZH = {
    "seq": "序号", "ts": "时间", "hr": "心率", "spo2": "血氧", "temp": "体温", "steps": "步数", "battery": "电量%",
    "lat": "纬度", "lon": "经度", "worn": "佩戴", "alarm": "报警", "weight": "重量kg", "temp_in": "巢温",
    "humidity": "湿度%", "sound": "声音dB", "moved": "移动",
}  # fmt: skip
ORDER = ("accept", "dispatch", "escalate", "ack", "return", "merge", "close")


def allowed_actions(ticket: TicketActor) -> list[str]:
    """The desk actions the ticket's current state accepts, in button order."""
    allowed = TRANSITIONS.get(ticket.status, {})
    return [a for a in ORDER if a in allowed and a in DESK_ACTIONS]


def history_frame(ticket: TicketActor) -> pd.DataFrame:
    """The ticket's history as a table (notes shown as text, never as HTML)."""
    rows = [{"序号": e.seq, "时间": local_time(e.ts), "操作人": e.actor, "操作": HISTORY_ZH.get(e.action, e.action),
             "状态": f"{e.from_state}→{e.to_state}" if e.from_state else e.to_state, "说明": e.note}
            for e in ticket.history]  # fmt: skip
    return pd.DataFrame(rows, columns=["序号", "时间", "操作人", "操作", "状态", "说明"])


async def telemetry_around(session: OpsSession, device_id: str, event_ts: int) -> pd.DataFrame | None:
    """The device's readings around the event from ClickHouse (None when the device kind is unknown)."""
    profile = session.ctx.live.profiles.get(device_id) if session.ctx.live else None
    if profile is None or profile.kind not in device_kinds() or device_kinds()[profile.kind].hosted != "stream":
        return None
    lo, hi = (event_ts - TELEMETRY_WINDOW_MS) / 1000, (event_ts + TELEMETRY_WINDOW_MS) / 1000
    rows = await session.ctx.query(
        f"SELECT * EXCEPT (device_id, rx) FROM zq.{table_of(profile.kind)} WHERE device_id = {sql_str(device_id)} "
        f"AND ts BETWEEN fromUnixTimestamp64Milli(toInt64({lo * 1000:.0f})) "
        f"AND fromUnixTimestamp64Milli(toInt64({hi * 1000:.0f})) ORDER BY ts LIMIT 200"
    )  # fmt: skip
    frame = pd.DataFrame(rows)
    if "ts" in frame:
        frame["ts"] = [local_time(int(pd.Timestamp(t).timestamp() * 1000)) for t in frame["ts"]]
    return frame.rename(columns=FIELD_ZH)


class TicketPanel(param.Parameterized):
    """The selected ticket of one session; actions go through ops_center.commands (checked, audited)."""

    ticket_id = param.String(default="", doc="The open ticket.")
    message = param.String(default="", doc="Outcome of the last action, for the operator.")
    revision = param.Integer(default=0, doc="Bumped when the ticket changed, to redraw.")

    def __init__(self, session: OpsSession, **params: Any) -> None:
        super().__init__(**params)
        self.session = session
        self.drawn_events = -1  # history length of the ticket as last drawn (redraw only when it grew)
        self.note = pn.widgets.TextAreaInput(name="说明(退回、关闭时必填)", height=70, max_length=500)
        self.responder = pn.widgets.Select(name="分派给(最近的空闲处置人员在前)", options={})
        self.merge_into = pn.widgets.Select(name="合并到工单", options={})
        self.keys: dict[str, str] = {}  # action -> idempotency key of the action as drawn (one per intended action)

    @param.depends("ticket_id", "revision")
    async def view(self) -> pn.viewable.Viewable:
        """The whole detail for the selected ticket, or why it cannot be shown."""
        if not self.ticket_id:
            return pn.pane.Markdown("从左侧队列选择一个工单。")
        try:
            ticket = await commands.load_ticket(self.session, self.ticket_id)
        except AccessDenied as exc:
            await self.session.audit("ticket_view_denied", self.ticket_id, ok=False)
            return notice(str(exc))
        self.drawn_events = len(ticket.history)
        parts: list[Any] = [self._summary(ticket)]
        if can(self.session.user, "act"):
            parts.append(await self._controls(ticket))
        parts += [pn.pane.Markdown("#### 处置记录"),
                  pn.widgets.Tabulator(history_frame(ticket), show_index=False, disabled=True, layout="fit_data_fill",
                                       sizing_mode="stretch_width", name="history")]  # fmt: skip
        parts.append(await self._evidence(ticket))
        return pn.Column(*parts, sizing_mode="stretch_width")

    def _summary(self, ticket: TicketActor) -> pn.pane.HTML:
        st, inc = ticket.state, ticket.state.incident
        text = str(inc.detail.get("text") or "")
        rows = [("工单", st.ticket_id), ("事件", inc.title), ("级别", SEVERITY_ZH.get(inc.severity, "")),
                ("状态", st.state), ("位置", f"{inc.township} {inc.village}"), ("类别", f"{inc.category} → "
                f"{inc.department or '未指定部门'}"), ("上报时间", local_time(st.opened)),
                ("处置人", st.responder or "未分派"), ("升级", f"{st.escalation_level} 级"),
                ("来源", SOURCE_ZH.get(inc.source, inc.source))]
        if text:
            rows.append(("上报内容", text))
        if st.original:
            rows.append(("已合并到", st.original))
        body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        return pn.pane.HTML(f'<table class="zq-ticket">{body}</table>', sizing_mode="stretch_width")

    async def _controls(self, ticket: TicketActor) -> pn.viewable.Viewable:
        live = self.session.ctx.live
        row = live.tickets.get(ticket.ticket_id) or ticket.live()
        people = candidates(row, await self.session.ctx.accounts.all(), list(live.tickets.values()),
                            self.session.ctx.gazetteer)  # fmt: skip
        self.responder.options = {
            f"{c.name}({c.village},{'空闲' if c.available else f'在办 {c.busy}'}"
            f"{f',{c.distance_m / 1000:.1f} 公里' if c.distance_m is not None else ''})": c.username for c in people
        }  # fmt: skip
        user = self.session.user
        mine = [t for t in live.tickets.values() if t["open"] and t["ticket_id"] != ticket.ticket_id
                and in_scope(user, t["township"], t["village"])]  # fmt: skip
        self.merge_into.options = {f"{t['title']}({t['village']},{t['state']})": t["ticket_id"] for t in mine}
        buttons = []
        self.keys = {action: commands.new_key() for action in allowed_actions(ticket)}  # repeated clicks share one
        for action in allowed_actions(ticket):
            b = pn.widgets.Button(name=ACTION_ZH[action], button_type="danger" if action == "close" else "primary",
                                  width=80, css_classes=[f"zq-act-{action}"])  # fmt: skip
            b.on_click(self._handler(action))
            buttons.append(b)
        if not buttons:
            return pn.pane.Markdown("该工单当前无可执行的操作。")
        extra: list[Any] = [self.note]
        if "dispatch" in allowed_actions(ticket):
            extra.insert(0, self.responder)
        if "merge" in allowed_actions(ticket):
            extra.append(self.merge_into)
        return pn.Column(pn.Row(*buttons), *extra, self.outcome, sizing_mode="stretch_width")

    @param.depends("message")
    def outcome(self) -> pn.pane.HTML:
        """The last action's outcome as plain text (it may quote the desk's or the user's words)."""
        return pn.pane.HTML(f"<b>{html.escape(self.message)}</b>" if self.message else "")

    def _handler(self, action: str) -> Any:
        async def run(_event: object) -> None:
            target = {"dispatch": self.responder.value, "merge": self.merge_into.value}.get(action) or ""
            if action in ("dispatch", "merge") and not target:
                self.message = f"请先选择{'处置人员' if action == 'dispatch' else '要合并到的工单'}。"
                return
            key = self.keys.setdefault(action, commands.new_key())
            try:
                result = await commands.send(self.session, self.ticket_id, action, target=target,
                                             note=self.note.value or "", key=key)  # fmt: skip
            except AccessDenied as exc:
                self.message = f"未执行:{exc}"
                return
            if result.ok is not None and self.keys.get(action) == key:  # answered: a later click is a new intent
                self.keys[action] = commands.new_key()
            if result.ok:
                self.message = f"已{ACTION_ZH[action]}"  # the ticket redraws when the live state has it
                self.note.value = ""
            elif result.ok is None:
                self.message = "指令已提交,等待处置中心确认……"
            else:
                self.message = f"未执行:{result.error}"

        return run

    async def _evidence(self, ticket: TicketActor) -> pn.viewable.Viewable:
        inc = ticket.state.incident
        opened = ticket.history[0].detail if ticket.history else {}
        event = dict(opened.get("event") or {})
        parts: list[Any] = [pn.pane.Markdown("#### 证据")]
        snap = str(event.get("snapshot") or "")
        if snap:
            parts.append(pn.pane.HTML(f'<img class="zq-snapshot" src="/evidence?path={quote(snap)}" '
                                      'style="max-width:100%;border:1px solid #ccc" alt="现场抓拍">'))  # fmt: skip
        if inc.device_id:
            try:
                frame = await telemetry_around(self.session, inc.device_id, int(opened.get("event_ts") or inc.last_ts))
            except Exception as exc:
                log.warning("telemetry for ticket %s failed: %s", ticket.ticket_id, type(exc).__name__)
                frame = None
                parts.append(pn.pane.Markdown("遥测数据查询失败,请稍后重试。"))
            if frame is not None and not frame.empty:
                parts += [pn.pane.HTML(f"事件前后 {TELEMETRY_WINDOW_MS // 60_000} 分钟的设备数据"
                                       f"({html.escape(inc.device_id)})"),
                          pn.widgets.Tabulator(frame, show_index=False, disabled=True, height=220,
                                               sizing_mode="stretch_width", name="telemetry")]  # fmt: skip
        if len(parts) == 1:
            parts.append(pn.pane.Markdown("无现场抓拍或设备数据。"))
        if opened.get("channel") == WATCH_TCP:
            parts.insert(1, pn.pane.Str("来源: 手表TCP（未认证通道）", name="channel"))
        return pn.Column(*parts, sizing_mode="stretch_width")
