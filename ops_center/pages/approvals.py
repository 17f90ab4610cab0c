"""事项审批: the applications the user may act on now (their inbox), filtered by item; selecting one opens it."""

from __future__ import annotations

import panel as pn

from ops_center.ledger_views.widgets import args, refusal
from ops_center.session import OpsSession
from ops_center.workflow_views.common import store_of
from ops_center.workflow_views.inbox import Inbox

SLUG = "approvals"
TITLE = "事项审批"
PERMISSION = "act"
ORDER = 70


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The approvals page of one session; `?id=<application>` opens that one."""
    store = store_of(session.ctx)
    if store is None:
        return refusal("事项审批服务未启用")
    inbox = Inbox(session, store)
    wanted = args().get("id", "")

    async def load() -> None:
        await inbox.load()
        if wanted:
            await inbox.open(wanted[:32])

    pn.state.onload(load)
    return pn.Column(
        pn.pane.HTML("<h2>事项审批</h2>", margin=(0, 10)), inbox.item, inbox.status, inbox.table, inbox.detail.view(),
        sizing_mode="stretch_width", css_classes=["zq-approvals"],
    )  # fmt: skip
