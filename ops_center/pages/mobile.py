"""乡村掌上管理: the officers' phone end, one narrow column with three tabs on the same login: 待审批 (the inbox, tap
to act), 工单 (the tickets of the user's area, as on the incidents page) and 任务 (the village's tasks to report)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from core.access import in_scope
from ops_center.labels import SEVERITY_ZH
from ops_center.ledger_views.widgets import note, refusal
from ops_center.session import OpsSession
from ops_center.ticket_panel import TicketPanel
from ops_center.workflow_views.common import store_of
from ops_center.workflow_views.inbox import Inbox
from ops_center.workflow_views.village_code import VillageCode

SLUG = "m"
TITLE = "乡村掌上管理"
PERMISSION = "act"
ORDER = 74
WIDTH = 420  # a phone's column
TICK_MS = 1000  # ticket changes are picked up every second, as on the incidents page
TICKET_COLUMNS = ["ticket_id", "级别", "事件", "村", "状态"]
CSS = """
:host { max-width: 480px; } .zq-mobile table.zq-lt { font-size:14px; } .zq-mobile .bk-btn { min-height:40px; }
"""


class PhoneTickets:
    """The open tickets of the user's area as a phone list (most severe, then oldest first); a tap opens the ticket
    in the incidents page's panel (ops_center.ticket_panel), whose actions are checked and audited there."""

    def __init__(self, session: OpsSession) -> None:
        self.session, self.live = session, session.ctx.live
        self.version = -1
        self.panel = TicketPanel(session)
        self.table = pn.widgets.Tabulator(pd.DataFrame(columns=TICKET_COLUMNS), show_index=False, disabled=True,
                                          selectable=1, layout="fit_columns", sizing_mode="stretch_width",
                                          hidden_columns=["ticket_id"], name="tickets", min_height=240)  # fmt: skip
        self.table.param.watch(self._selected, "selection")
        self.update()

    def update(self) -> None:
        """Redraw the list when tickets changed since the last look."""
        changes = self.live.changes_since(self.version)
        if not (changes.reset or changes.tickets or self.version < 0):
            return
        self.version = changes.version
        user = self.session.user
        mine = sorted((t for t in self.live.tickets.values() if t["open"] and in_scope(user, t["township"],
                       t["village"])), key=lambda t: (t["severity"], t["opened"]))  # fmt: skip
        rows = [[t["ticket_id"], SEVERITY_ZH.get(t["severity"], str(t["severity"])), t["title"], t["village"],
                 t["state"]] for t in mine]  # fmt: skip
        self.table.value = pd.DataFrame(rows, columns=TICKET_COLUMNS)

    def _selected(self, event: Any) -> None:
        frame = self.table.value
        if event.new and frame is not None and event.new[0] < len(frame):
            self.panel.ticket_id = str(frame.iloc[event.new[0]]["ticket_id"])

    def view(self) -> pn.viewable.Viewable:
        """The list and the open ticket, one column."""
        return pn.Column(self.table, self.panel.view, sizing_mode="stretch_width")


def tickets_tab(session: OpsSession) -> pn.viewable.Viewable:
    """The 工单 tab (refreshed on the incidents page's tick), or why there is none."""
    if session.ctx.live is None:
        return note("工单服务未启用")
    tickets = PhoneTickets(session)
    pn.state.add_periodic_callback(tickets.update, period=TICK_MS)
    return tickets.view()


class Mobile:
    """One session's phone end: the approvals inbox, the tickets and the tasks, each a tab."""

    def __init__(self, session: OpsSession) -> None:
        store = store_of(session.ctx)
        self.session = session
        self.approvals = Inbox(session, store) if store is not None else None
        self.tasks = Inbox(session, store, tasks=True) if store is not None else None
        self.tabs = pn.Tabs(dynamic=False, sizing_mode="stretch_width", css_classes=["zq-mobile-tabs"])
        for name, inbox in (("待审批", self.approvals), ("任务", self.tasks)):
            if inbox is None:
                body: pn.viewable.Viewable = note("事项审批服务未启用")
            else:
                inbox.table.layout = "fit_columns"
                inbox.table.hidden_columns = ["编号", "提交时间"] if name == "待审批" else ["编号", "申请人"]
                body = pn.Column(inbox.item, inbox.status, inbox.table, inbox.detail.view(),
                                 sizing_mode="stretch_width")  # fmt: skip
            self.tabs.append((name, body))
        self.tabs.insert(1, ("工单", tickets_tab(session)))
        self.code = VillageCode(session) if session.user.level == "village" else None
        if self.code is not None:
            self.tabs.append(("登录码", self.code.view()))

    async def load(self) -> None:
        """Read both inboxes."""
        for inbox in (self.approvals, self.tasks):
            if inbox is not None:
                await inbox.load()

    def view(self) -> pn.viewable.Viewable:
        """The phone end's body: one narrow column."""
        return pn.Column(pn.pane.HTML("<h3>乡村掌上管理</h3>", margin=(0, 8)), self.tabs, max_width=WIDTH,
                         sizing_mode="stretch_width", css_classes=["zq-mobile"], stylesheets=[CSS])  # fmt: skip


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The phone end of one session."""
    if session.ctx.workflows is None and session.ctx.live is None:
        return refusal("掌上管理服务未启用")
    mobile = Mobile(session)
    pn.state.onload(mobile.load)
    return mobile.view()
