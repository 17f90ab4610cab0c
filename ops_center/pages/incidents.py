"""事件处置: the queue of open tickets (severity, then age; SLA countdowns) beside the selected ticket's controls."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from core.access import in_scope
from core.events import now_ms
from ops_center.context import valid_id
from ops_center.labels import SEVERITY_ZH
from ops_center.notice import notice
from ops_center.session import OpsSession
from ops_center.ticket_panel import TicketPanel

SLUG = "incidents"
TITLE = "事件处置"
PERMISSION = "view"
ORDER = 20
TICK_MS = 1000  # countdowns tick every second; ticket changes are picked up on the same tick
COLUMNS = ["ticket_id", "级别", "事件", "乡镇", "村", "状态", "已用时", "SLA", "处置人"]


def clock(ms: int) -> str:
    """A duration as H:MM:SS (or MM:SS under an hour)."""
    s = max(0, ms) // 1000
    h, m, sec = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def sla_text(t: dict[str, Any], now: int) -> str:
    """Time left before the current state's deadline, or how far past it."""
    if not t.get("deadline"):
        return "—"
    left = t["deadline"] - now
    return f"剩 {clock(left)}" if left >= 0 else f"超时 {clock(-left)}"


def queue_rows(tickets: list[dict[str, Any]], now: int) -> pd.DataFrame:
    """Open tickets, most severe first, then oldest first."""
    rows = sorted((t for t in tickets if t["open"]), key=lambda t: (t["severity"], t["opened"]))
    data = [[t["ticket_id"], SEVERITY_ZH.get(t["severity"], str(t["severity"])), t["title"], t["township"],
             t["village"], t["state"], clock(now - t["opened"]), sla_text(t, now), t["responder"] or "—"]
            for t in rows]  # fmt: skip
    return pd.DataFrame(data, columns=COLUMNS)


class IncidentQueue:
    """One session's queue: rebuilt when its tickets change, countdown columns patched every second."""

    def __init__(self, session: OpsSession, panel: TicketPanel) -> None:
        self.session, self.panel, self.live = session, panel, session.ctx.live
        self.version = -1
        self.table = pn.widgets.Tabulator(
            queue_rows([], now_ms()), show_index=False, disabled=True, selectable=1, layout="fit_data_stretch",
            sizing_mode="stretch_both", hidden_columns=["ticket_id"], name="queue", min_height=400,
            text_align={"SLA": "right", "已用时": "right"},
        )  # fmt: skip
        self.table.style.apply(self._sla_colour, axis=None)  # type: ignore[union-attr]
        self.table.param.watch(self._selected, "selection")
        self.update()

    def _mine(self) -> list[dict[str, Any]]:
        user = self.session.user
        return [t for t in self.live.tickets.values() if in_scope(user, t["township"], t["village"])]

    @staticmethod
    def _sla_colour(df: pd.DataFrame) -> pd.DataFrame:
        styles = pd.DataFrame("", index=df.index, columns=df.columns)
        styles.loc[df["SLA"].str.startswith("超时"), "SLA"] = "color: #c0392b; font-weight: bold"
        styles.loc[df["级别"] == "特急", "级别"] = "color: #c0392b; font-weight: bold"
        return styles

    def update(self) -> None:
        """Redraw the rows when tickets changed since the last look, else patch the countdowns."""
        now = now_ms()
        changes = self.live.changes_since(self.version)
        if changes.reset or changes.tickets or self.version < 0:
            self.version = changes.version
            selected = self.panel.ticket_id
            frame = queue_rows(self._mine(), now)
            self.table.value = frame
            rows = frame.index[frame["ticket_id"] == selected].tolist()
            self.table.selection = rows[:1]
            drawn = self.live.tickets.get(selected, {}).get("events")
            if selected in changes.tickets and drawn != self.panel.drawn_events:
                self.panel.revision += 1
            return
        self.version = changes.version
        frame = self.table.value
        if frame is None or frame.empty:
            return
        tickets = self.live.tickets
        self.table.patch({
            "已用时": [(i, clock(now - tickets[tid]["opened"])) for i, tid in enumerate(frame["ticket_id"])],
            "SLA": [(i, sla_text(tickets[tid], now)) for i, tid in enumerate(frame["ticket_id"])],
        }, as_index=False)  # fmt: skip

    def _selected(self, event: Any) -> None:
        frame = self.table.value
        if event.new and frame is not None and event.new[0] < len(frame):
            self.panel.ticket_id = str(frame.iloc[event.new[0]]["ticket_id"])


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The incidents page of one session; `?ticket=<id>` opens that ticket."""
    panel = TicketPanel(session)
    args = pn.state.session_args or {}
    wanted = (args.get("ticket") or [b""])[0].decode("utf-8", "replace").strip()
    queue = IncidentQueue(session, panel)
    refused: list[Any] = []
    if wanted and not valid_id("ticket", wanted):
        refused.append(notice(f"工单编号格式不正确:{wanted[:80]}(请从左侧队列选择工单)"))
    elif wanted:
        panel.ticket_id = wanted
        rows = queue.table.value.index[queue.table.value["ticket_id"] == wanted].tolist()
        queue.table.selection = rows[:1]
    pn.state.add_periodic_callback(queue.update, period=TICK_MS)
    return pn.Row(
        pn.Column(pn.pane.Markdown("### 未办结工单(按级别、时长排序)"), queue.table, width=640,
                  sizing_mode="stretch_height"),
        pn.Column(*refused, panel.view, sizing_mode="stretch_both", scroll=True),
        sizing_mode="stretch_both",
    )  # fmt: skip
