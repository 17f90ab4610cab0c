"""运行状态: what runs and how well (Redis, Ray parts, Serve, sink lag, stream backlogs, live state), every 5 s."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

import panel as pn
import param
from bokeh.models import ColumnDataSource
from bokeh.models.widgets.tables import DataTable, HTMLTemplateFormatter, TableColumn

from core.clock import BEIJING
from ops_center.background import Loader
from ops_center.health_probe import FAIL, OK, STATUS_COLOR, WARN, HealthRow, collect
from ops_center.session import OpsSession

SLUG = "health"
TITLE = "运行状态"
PERMISSION = "view"
ORDER = 900  # after every other page

REFRESH_MS = 5_000
COLUMNS = ("group", "name", "status", "value", "detail")
_BADGE = ('<span style="background:<%= color %>;color:#fff;padding:1px 8px;border-radius:3px;font-weight:bold">'
          "<%- value %></span>")  # fmt: skip
_TEXT = '<span title="<%- value %>"><%- value %></span>'  # hover shows a long detail whole


def _cols(rows: list[HealthRow]) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {c: [getattr(r, c) for r in rows] for c in COLUMNS}
    data["color"] = [STATUS_COLOR[r.status] for r in rows]
    return data


class HealthView(param.Parameterized):
    """One session's health table: the rows it last drew and when."""

    updated = param.String(default="", doc="Local time of the last completed check.")
    summary = param.String(default="正在检查……", doc="One-line overall state.")

    def __init__(self, session: OpsSession, **params: Any) -> None:
        super().__init__(**params)
        self.session = session
        self.source = ColumnDataSource(_cols([]))
        self.keys: list[tuple[str, str]] = []

    def show(self, rows: list[HealthRow]) -> None:
        """Draw rows: patch the cells that changed, or replace the table when rows came or went."""
        data, keys = _cols(rows), [(r.group, r.name) for r in rows]
        if keys != self.keys:
            self.keys = keys
            self.source.data = data
        else:
            old = self.source.data
            patch = {c: [(i, v) for i, (v, o) in enumerate(zip(data[c], old[c], strict=True)) if v != o]
                     for c in data}  # fmt: skip
            patch = {c: p for c, p in patch.items() if p}
            if patch:
                self.source.patch(patch)
        fails, warns = sum(r.status == FAIL for r in rows), sum(r.status == WARN for r in rows)
        if fails:
            more = f",{warns} 项需注意" if warns else ""
            self.summary = f'<b style="color:{STATUS_COLOR[FAIL]}">{fails} 项故障</b>{more}'
        elif warns:
            self.summary = f'<b style="color:{STATUS_COLOR[WARN]}">{warns} 项需注意</b>'
        else:
            self.summary = f'<b style="color:{STATUS_COLOR[OK]}">全部正常</b>'
        self.updated = datetime.now(BEIJING).strftime("%H:%M:%S")

    @param.depends("summary", "updated")
    def heading(self) -> pn.pane.HTML:
        """Overall state and the time of the last check."""
        when = f"检查时间 {html.escape(self.updated)},每 {REFRESH_MS // 1000} 秒自动刷新" if self.updated else ""
        note = f'<span style="color:#7f8c8d;font-size:13px;margin-left:16px">{when}</span>'
        return pn.pane.HTML(f'<div style="font-size:18px">运行状态:{self.summary}{note}</div>')

    def table(self) -> DataTable:
        """The rows as a Bokeh table with a coloured status column."""
        text = HTMLTemplateFormatter(template=_TEXT)
        cols = [
            TableColumn(field="group", title="部分", width=90),
            TableColumn(field="name", title="项目", width=200, formatter=text),
            TableColumn(field="status", title="状态", width=70, formatter=HTMLTemplateFormatter(template=_BADGE)),
            TableColumn(field="value", title="当前值", width=150, formatter=text),
            TableColumn(field="detail", title="说明", width=640, formatter=text),
        ]
        return DataTable(source=self.source, columns=cols, index_position=None, sortable=False, row_height=28,
                         sizing_mode="stretch_both", min_height=500)  # fmt: skip


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The health page of one session: checks at once, then every REFRESH_MS."""
    view = HealthView(session)
    checks = Loader(lambda: collect(session.ctx), view.show)
    pn.state.onload(checks.start)
    pn.state.add_periodic_callback(checks.start, period=REFRESH_MS)
    legend = " ".join(f'<span style="color:{c}">■ {s}</span>' for s, c in STATUS_COLOR.items())
    return pn.Column(
        view.heading, pn.pane.HTML(f'<div style="font-size:13px">{legend}</div>'),
        pn.pane.Bokeh(view.table(), sizing_mode="stretch_both"), sizing_mode="stretch_both", margin=(8, 16),
    )  # fmt: skip
