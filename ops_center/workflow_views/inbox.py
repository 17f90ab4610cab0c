"""The inbox of one session: the applications (or tasks) the user may act on now, an item filter, the open detail."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pandas as pd
import panel as pn

from ops_center.ledger_views.widgets import note
from ops_center.session import OpsSession
from ops_center.workflow_views.common import INBOX_COLUMNS, inbox_row, is_task
from ops_center.workflow_views.detail import ApplicationDetail
from workflows.engine import Instance
from workflows.schema import Item
from workflows.store import WorkflowStore

ALL = "(全部事项)"

log = logging.getLogger(__name__)


class Inbox:
    """One session's inbox: a table of the applications awaiting the user, an item filter and the open detail."""

    def __init__(self, session: OpsSession, store: WorkflowStore, *, tasks: bool = False) -> None:
        self.session, self.store, self.tasks = session, store, tasks
        self.found: list[tuple[Item, Instance]] = []
        self.item = pn.widgets.Select(name="事项", options=[ALL], value=ALL, width=240, css_classes=["zq-wf-item"])
        self.table = pn.widgets.Tabulator(pd.DataFrame(columns=INBOX_COLUMNS), show_index=False, disabled=True,
                                          selectable=1, layout="fit_data_stretch", sizing_mode="stretch_width",
                                          name="inbox", min_height=200)  # fmt: skip
        self.status = note("")
        self.detail = ApplicationDetail(session, store)
        self.detail.after = self.load
        self.item.param.watch(lambda _e: self.draw(), "value")
        self.table.param.watch(self._selected, "selection")

    async def load(self) -> None:
        """Read the inbox (in a thread) and draw it."""
        try:
            found = await asyncio.to_thread(self.store.inbox, self.session.user)
        except Exception as exc:  # a store that is down says so; the page and the session go on
            log.warning("workflow inbox failed: %s: %s", type(exc).__name__, str(exc)[:300])
            self.status.object = '<div class="zq-err">待办事项暂时无法读取,请稍后重试</div>'
            return
        self.found = [(i, x) for i, x in found if is_task(i) == self.tasks]
        titles = sorted({i.title for i, _ in self.found})
        self.item.options = [ALL, *titles]
        if self.item.value not in self.item.options:
            self.item.value = ALL
        self.draw()

    def shown(self) -> list[tuple[Item, Instance]]:
        """The inbox as filtered."""
        return [(i, x) for i, x in self.found if self.item.value in (ALL, i.title)]

    def draw(self) -> None:
        """Redraw the table from what was read."""
        rows = [inbox_row(self.session.user, i, x) for i, x in self.shown()]
        self.table.value = pd.DataFrame(rows, columns=INBOX_COLUMNS)
        self.status.object = f'<div class="zq-none">待办 {len(rows)} 件</div>'

    async def open(self, iid: str) -> None:
        """Open one application in the detail."""
        await self.detail.load(iid)

    def _selected(self, event: Any) -> None:
        frame = self.table.value
        if event.new and frame is not None and event.new[0] < len(frame):
            iid = str(frame.iloc[event.new[0]]["编号"])
            asyncio.get_running_loop().create_task(self.open(iid))
