"""The list of one ledger for one session: search, declared filters, place pickers, look-up, sort and paging; the
query lives in request-argument form (what links and exports carry), each page is one store call in a thread."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import panel as pn
import param

from core.access import AccessDenied
from ledgers.query import Page, list_records
from ledgers.schema import FieldSpec, Ledger
from ledgers.store import LedgerStore, NotFound
from ledgers.values import RecordInvalid
from ops_center.ledger_views.common import display, list_query, when
from ops_center.ledger_views.widgets import Html, link, message_html, pane, record_url, table, url
from ops_center.session import OpsSession

log = logging.getLogger(__name__)
ALL = "全部"
SORT_ZH = {"updated_at": "更新时间", "created_at": "登记时间", "village": "村", "id": "编号"}


def columns(ledger: Ledger) -> list[FieldSpec]:
    """The fields shown as list columns (declared `column`, else the first four)."""
    return [f for f in ledger.fields if f.column] or ledger.fields[:4]


def place_options(store: LedgerStore, session: OpsSession, level: str) -> dict[str, str]:
    """Label -> value of the townships or villages (乡镇/村) in the user's area, for a place field or picker."""
    user, gaz = session.user, store.gazetteer
    if level == "township":
        names = [t.name for t in gaz.townships if user.level == "county" or t.name == user.township]
        return {n: n for n in names}
    villages = [v for v in gaz.villages if user.level == "county" or v.township == user.township]
    villages = [v for v in villages if user.level != "village" or v.name == user.village]
    return {f"{v.township} {v.name}": f"{v.township}/{v.name}" for v in villages}


class LedgerList(param.Parameterized):
    """One session's list of one ledger; `reload()` draws the page the widgets ask for."""

    page = param.Integer(default=0, bounds=(0, None), doc="Page shown, from 0.")
    total = param.Integer(default=0, doc="Records matching the query in all.")
    loading = param.Boolean(default=False, doc="A page is being read.")

    def __init__(self, session: OpsSession, store: LedgerStore, ledger: Ledger, initial: dict[str, str]) -> None:
        super().__init__()
        self.session, self.store, self.ledger = session, store, ledger
        self.size = session.ctx.settings.records.page_size
        self.seq = 0
        self.search = pn.widgets.TextInput(name="搜索", value=initial.get("search", ""), max_length=50, width=220,
                                           placeholder="输入关键词后回车", css_classes=["zq-search"])  # fmt: skip
        self.search.visible = any(f.search for f in ledger.fields)
        self.filters: dict[str, list[Any]] = {f.key: self._filter(f, initial.get(f"filter.{f.key}", ""))
                                              for f in ledger.fields if f.filter}  # fmt: skip
        self.township, self.village = self._places(initial)
        lookups = {f.label: f.key for f in ledger.fields if f.lookup}
        first = next((k[7:] for k in initial if k.startswith("lookup.") and k[7:] in lookups.values()), "")
        first = first or next(iter(lookups.values()), "")
        self.lookup_field = pn.widgets.Select(name="精确查找", options=lookups, value=first or None, width=150,
                                              css_classes=["zq-lookup-field"])  # fmt: skip
        self.lookup_value = pn.widgets.TextInput(name="查找值", value=initial.get(f"lookup.{first}", ""), width=200,
                                                 max_length=40, placeholder="完整的身份证号或电话",
                                                 css_classes=["zq-lookup-value"])  # fmt: skip
        self.lookup_field.visible = self.lookup_value.visible = bool(lookups)
        sorts = {SORT_ZH[k]: k for k in SORT_ZH} | {f.label: f.key for f in ledger.fields if f.sort}
        wanted = initial.get("sort", "updated_at")
        self.sort = pn.widgets.Select(name="排序", options=sorts, value=wanted if wanted in sorts.values() else
                                      "updated_at", width=130, css_classes=["zq-sort"])  # fmt: skip
        self.desc = pn.widgets.Checkbox(name="倒序", value=initial.get("desc", "1") not in ("0", "false"),
                                        css_classes=["zq-desc"])  # fmt: skip
        self.deleted = pn.widgets.Checkbox(name="显示已删除", value=initial.get("deleted") == "1",
                                           css_classes=["zq-deleted"])  # fmt: skip
        self.deleted.visible = store.may(session.user, ledger, "restore")
        page = initial.get("page", "0")
        self.page = int(page) if page.isdigit() and int(page) < 100_000 else 0
        self.query_button = pn.widgets.Button(name="查询", button_type="primary", width=70, css_classes=["zq-query"])
        self.reset_button = pn.widgets.Button(name="重置", width=70, css_classes=["zq-reset"])
        self.prev = pn.widgets.Button(name="上一页", width=80, css_classes=["zq-prev"])
        self.next = pn.widgets.Button(name="下一页", width=80, css_classes=["zq-next"])
        self.status = pane("", css_classes=["zq-status"])
        self.message = pane("", css_classes=["zq-list-message"])
        self.actions = pane("", css_classes=["zq-actions"])
        self.table = pane("", css_classes=["zq-ledger-table"])
        self._wire()

    # --- widgets ------------------------------------------------------------------------------------------------

    def _filter(self, spec: FieldSpec, text: str) -> list[Any]:
        css = [f"zq-filter-{spec.key}"]
        if spec.type in ("enum", "bool", "place"):
            if spec.type == "enum":
                opts = {o: o for o in spec.options}
            elif spec.type == "bool":
                opts = {"是": "是", "否": "否"}
            else:
                opts = place_options(self.store, self.session, spec.level)
            options = {ALL: "", **opts}
            value = text if text in options.values() else ""
            return [pn.widgets.Select(name=spec.label, options=options, value=value, width=140, css_classes=css)]
        if spec.type in ("integer", "decimal", "date"):
            low, _, high = text.partition("..") if ".." in text else (text, "", text)
            unit = f"({spec.unit})" if spec.unit else ""
            return [pn.widgets.TextInput(name=f"{spec.label}{unit} 从", value=low, width=100, max_length=20,
                                         css_classes=[f"zq-filter-{spec.key}-min"]),
                    pn.widgets.TextInput(name="到", value=high, width=100, max_length=20,
                                         css_classes=[f"zq-filter-{spec.key}-max"])]  # fmt: skip
        return [pn.widgets.TextInput(name=spec.label, value=text, width=160, max_length=60, css_classes=css)]

    def _places(self, initial: dict[str, str]) -> tuple[pn.widgets.Select, pn.widgets.Select]:
        user, gaz = self.session.user, self.store.gazetteer
        towns = {"全部乡镇": ""} | {t.name: t.name for t in gaz.townships}
        town = initial.get("township", "") if user.level == "county" else user.township
        township = pn.widgets.Select(name="乡镇", options=towns, value=town if town in towns.values() else "",
                                     width=130, css_classes=["zq-township"])  # fmt: skip
        township.visible = user.level == "county"
        village = pn.widgets.Select(name="村", options=self._villages(township.value), width=130,
                                    css_classes=["zq-village"])  # fmt: skip
        wanted = initial.get("village", "")
        village.value = wanted if wanted in village.options.values() else ""  # type: ignore[union-attr]
        village.visible = user.level != "village"
        return township, village

    def _villages(self, township: str) -> dict[str, str]:
        if not township:
            return {"全部村": ""}
        return {"全部村": ""} | {v.name: v.name for v in self.store.gazetteer.villages_in(township)}

    def _wire(self) -> None:
        def again(*_: Any) -> None:
            self.page = 0
            self._soon()

        def town(event: Any) -> None:
            self.village.options = self._villages(event.new)
            self.village.value = ""

        self.township.param.watch(town, "value")
        for w in (self.search, self.township, self.village, self.sort, self.desc, self.deleted,
                  *(w for ws in self.filters.values() for w in ws if isinstance(w, pn.widgets.Select))):  # fmt: skip
            w.param.watch(again, "value")
        self.query_button.on_click(again)
        self.reset_button.on_click(self._reset)
        self.prev.on_click(lambda _: self._turn(-1))
        self.next.on_click(lambda _: self._turn(1))

    def _reset(self, *_: Any) -> None:
        self.search.value = self.lookup_value.value = ""
        for ws in self.filters.values():
            for w in ws:
                w.value = ""
        if self.township.visible:
            self.township.value = ""
        self.village.value = ""
        self.page = 0
        self._soon()

    def _turn(self, step: int) -> None:
        last = max(0, math.ceil(self.total / self.size) - 1)
        self.page = min(max(0, self.page + step), last)
        self._soon()

    def _soon(self) -> None:
        pn.state.execute(self.reload)

    # --- the query ----------------------------------------------------------------------------------------------

    def args(self) -> dict[str, str]:
        """The list's query in request-argument form (what the API, links and exports take)."""
        out: dict[str, str] = {}
        if self.search.visible and self.search.value:
            out["search"] = self.search.value
        for key, ws in self.filters.items():
            values = [str(w.value or "").strip() for w in ws]
            if len(values) == 2 and any(values):
                out[f"filter.{key}"] = f"{values[0]}..{values[1]}"
            elif len(values) == 1 and values[0]:
                out[f"filter.{key}"] = values[0]
        if self.township.visible and self.township.value:
            out["township"] = self.township.value
        if self.village.visible and self.village.value:
            out["village"] = self.village.value
        wanted = (self.lookup_value.value or "").strip()
        if self.lookup_value.visible and wanted and self.lookup_field.value:
            out[f"lookup.{self.lookup_field.value}"] = wanted
        out["sort"], out["desc"] = str(self.sort.value), "1" if self.desc.value else "0"
        if self.deleted.visible and self.deleted.value:
            out["deleted"] = "1"
        out["page"] = str(self.page)
        return out

    async def reload(self) -> None:
        """Read and draw the page the widgets ask for (a newer request wins over a slower older one)."""
        self.seq += 1
        mine, self.loading = self.seq, True
        try:
            q = list_query(self.store, self.ledger, self.args(), self.size)
            found: Page | str = await asyncio.to_thread(list_records, self.store, self.session.user,
                                                        self.ledger.ledger, q)  # fmt: skip
        except RecordInvalid as exc:
            found = "查询条件有误:" + ";".join(f"{self._label(k)}{v}" for k, v in exc.errors.items())
        except (AccessDenied, NotFound) as exc:
            found = str(exc)
        except Exception as exc:  # a store that fails says so; the session goes on
            log.warning("ledger list %s failed: %s: %s", self.ledger.ledger, type(exc).__name__, str(exc)[:300])
            found = "台账数据暂时无法读取,请稍后重试"
        if mine != self.seq:
            return
        self.loading = False
        if isinstance(found, str):
            self.message.object = message_html(found)
            return
        self.message.object = ""
        self.draw(found)

    def _label(self, key: str) -> str:
        by = {f.key: f.label for f in self.ledger.fields} | {"sort": "排序", "page": "页码", "township": "乡镇",
                                                               "village": "村"}  # fmt: skip
        return f"{by.get(key, key)}:" if key else ""

    def draw(self, page: Page) -> None:
        """Draw one page of records."""
        self.total, self.page = page.total, page.page
        cols, user, key = columns(self.ledger), self.session.user, self.ledger.ledger
        place = user.level != "village"
        parent = self.store.ledgers[self.ledger.parent] if self.ledger.parent else None
        headers = ["编号", *(["乡镇", "村"] if place else []), *(f.label for f in cols)]
        headers += [f"所属{parent.title}"] if parent else []
        headers += ["更新时间"]
        rows, masked = [], []
        for rec in page.rows:
            cells: list[Any] = [link(record_url(key, rec.id), rec.id, "zq-record-link", id=rec.id)]
            cells += [rec.township, rec.village] if place else []
            start = len(cells)
            cells += [display(f, rec.values.get(f.key)) for f in cols]
            masked.append({start + i for i, f in enumerate(cols) if f.key in rec.masked})
            if parent is not None:
                cells.append(link(record_url(parent.ledger, rec.parent_id), rec.parent_id, "zq-parent-link")
                             if rec.parent_id else "")  # fmt: skip
            cells.append(when(rec.updated_at))
            rows.append(cells)
        pages = max(1, math.ceil(page.total / page.size))
        self.table.object = (table(headers, rows, "zq-records", masked) if rows else
                             '<div class="zq-none zq-empty">没有符合条件的记录</div>')  # fmt: skip
        self.status.object = (f'<span class="zq-none">共 <b class="zq-total">{page.total}</b> 条,'
                              f"第 {page.page + 1}/{pages} 页</span>")  # fmt: skip
        self.prev.disabled, self.next.disabled = page.page <= 0, page.page + 1 >= pages
        self.actions.object = self._actions()

    def _actions(self) -> str:
        user, lg, store = self.session.user, self.ledger, self.store
        query = {k: v for k, v in self.args().items() if k != "page"}
        items: list[Html] = []
        if store.may(user, lg, "write") and lg.parent is None:
            items.append(link(url("/record", ledger=lg.ledger, new=1), f"新增{lg.title}", "zq-new"))
        if store.may(user, lg, "export") or store.may(user, lg, "write"):
            items.append(link(url("/ledger_io", name=lg.ledger, **query), "导入/导出", "zq-io"))
        if lg.stats:
            items.append(link(url("/ledger_stats", name=lg.ledger), "统计", "zq-stats"))
        return f'<div class="zq-lnav">{"".join(items)}</div>'

    def view(self) -> pn.viewable.Viewable:
        """The list's widgets, table and pager."""
        filters = [w for ws in self.filters.values() for w in ws]
        return pn.Column(
            self.actions,
            # a GridBox, not a FlexBox: FlexBox is a ReactiveHTML component, whose scripts the page's CSP refuses
            pn.GridBox(self.search, self.township, self.village, *filters, self.lookup_field, self.lookup_value,
                       self.sort, self.desc, self.deleted, self.query_button, self.reset_button, ncols=6),
            self.message, self.table, pn.Row(self.prev, self.next, self.status),
            sizing_mode="stretch_width", css_classes=["zq-ledger-list"],
        )  # fmt: skip
