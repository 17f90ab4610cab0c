"""台账统计: /ledger_stats?name=<key>, a ledger's declared measures by township or by village in the user's area, as a
table and a bar chart."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import panel as pn
from bokeh.models import ColumnDataSource, DataRange1d, FactorRange, HoverTool
from bokeh.plotting import figure

from core.access import AccessDenied
from ledgers.query import stats
from ledgers.schema import Ledger
from ledgers.store import NotFound
from ledgers.values import RecordInvalid
from ops_center.ledger_views.widgets import (
    args,
    checked_ledger,
    esc,
    ledger_nav,
    message_html,
    note,
    off,
    pane,
    refusal,
    store_of,
    table,
)
from ops_center.session import OpsSession

SLUG = "ledger_stats"
TITLE = "台账统计"
PERMISSION = "view"
ORDER = 64
NAV = False  # opened from a ledger's pages

log = logging.getLogger(__name__)
BY = {"按乡镇": "township", "按村": "village"}


def place_of(row: dict[str, Any], by: str) -> str:
    """A statistics row's place label."""
    return f"{row['township']} {row['village']}" if by == "village" else str(row["township"])


def stats_table(ledger: Ledger, rows: list[dict[str, Any]], by: str) -> str:
    """The measures per place as a table, with the total line."""
    keys = [m.key for m in ledger.stats]
    body: list[list[Any]] = [[place_of(r, by), *(_num(r.get(k, 0)) for k in keys)] for r in rows]
    if rows:
        body.append(["合计", *(_num(sum(r.get(k, 0) or 0 for r in rows)) for k in keys)])
    headers = ["乡镇" if by == "township" else "乡镇 村", *(m.label for m in ledger.stats)]
    return table(headers, body, "zq-stats-table") if rows else '<div class="zq-none">范围内尚无记录</div>'


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:,}" if isinstance(value, int) else str(value)


def bar_chart(ledger: Ledger, rows: list[dict[str, Any]], by: str, measure: str) -> Any:
    """A Bokeh bar chart of one measure per place."""
    label = next((m.label for m in ledger.stats if m.key == measure), measure)
    places = [place_of(r, by) for r in rows]
    source = ColumnDataSource({"place": places, "value": [float(r.get(measure, 0) or 0) for r in rows]})
    fig = figure(x_range=FactorRange(factors=places or ["—"]), y_range=DataRange1d(start=0), height=340,
                 sizing_mode="stretch_width", toolbar_location=None,
                 title=f"{ledger.title} · {label}")  # fmt: skip
    fig.vbar(x="place", top="value", width=0.8, source=source, color="#2d7ff9")
    fig.add_tools(HoverTool(tooltips=[("", "@place"), (label, "@value{0,0.[00]}")]))
    fig.xaxis.major_label_orientation = 0.9 if len(places) > 8 else 0
    return fig


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The statistics page of one session (figures load once the page is shown)."""
    store = store_of(session)
    if store is None:
        return off()
    wanted = args()
    holder = pn.Column(note("加载中…"), sizing_mode="stretch_width", css_classes=["zq-stats-page"])

    async def open_page() -> None:
        ledger = await checked_ledger(session, store, wanted.get("name", ""))
        if isinstance(ledger, str):
            holder.objects = [refusal(ledger), pane('<a href="/ledgers">返回台账目录</a>')]
            return
        if not ledger.stats:
            holder.objects = [ledger_nav(store, session, ledger, "stats"), note("此台账未声明统计项")]
            return
        by = pn.widgets.RadioButtonGroup(options=BY, value="village" if wanted.get("by") == "village" else "township",
                                         css_classes=["zq-stats-by"])  # fmt: skip
        measure = pn.widgets.Select(name="图表指标", options={m.label: m.key for m in ledger.stats},
                                    value=ledger.stats[0].key, width=200, css_classes=["zq-stats-measure"])  # fmt: skip
        figures, chart, message = pane("", css_classes=["zq-stats"]), pn.Column(sizing_mode="stretch_width"), pane("")
        rows: list[dict[str, Any]] = []

        def draw() -> None:
            figures.object = stats_table(ledger, rows, str(by.value))
            chart.objects = [pn.pane.Bokeh(bar_chart(ledger, rows, str(by.value), str(measure.value)),
                                           sizing_mode="stretch_width")] if rows else []  # fmt: skip

        async def load(*_: Any) -> None:
            nonlocal rows
            try:
                rows = await asyncio.to_thread(stats, store, session.user, ledger.ledger, str(by.value))
            except (AccessDenied, NotFound, RecordInvalid) as exc:
                message.object = message_html(str(exc))
                return
            except Exception as exc:  # a store that fails says so; the session goes on
                log.warning("ledger stats %s failed: %s: %s", ledger.ledger, type(exc).__name__, str(exc)[:300])
                message.object = message_html("统计数据暂时无法读取,请稍后重试")
                return
            message.object = ""
            draw()

        by.param.watch(load, "value")
        measure.param.watch(lambda _: draw(), "value")
        head = pane(f'<div class="zq-lg"><h2>{esc(ledger.title)} · 统计</h2></div>')
        await load()  # drawn before it is attached (see pages/ledger.py)
        holder.objects = [ledger_nav(store, session, ledger, "stats"), head, pn.Row(by, measure), message, figures,
                          chart]  # fmt: skip

    pn.state.onload(open_page)
    return holder
