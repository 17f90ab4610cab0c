"""台账导入导出: /ledger_io?name=<key>[&<list filters>], the blank Excel template, the export of what the list shows,
and the all-or-nothing import of a filled template with its report (sheet, row, column, reason)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import panel as pn

from core.access import AccessDenied
from ledgers.excel import ImportRejected, ImportReport, import_workbook
from ledgers.store import NotFound
from ops_center.ledger_views.widgets import (
    args,
    checked_ledger,
    esc,
    ledger_nav,
    link,
    message_html,
    note,
    off,
    pane,
    refusal,
    store_of,
    table,
    url,
)
from ops_center.session import OpsSession

SLUG = "ledger_io"
TITLE = "台账导入导出"
PERMISSION = "view"
ORDER = 63
NAV = False  # opened from a ledger's pages

log = logging.getLogger(__name__)
QUERY_ARGS = ("search", "sort", "desc", "township", "village", "deleted")  # what an export carries from the list


def export_query(wanted: dict[str, str]) -> dict[str, str]:
    """The list's query arguments among a request's (passed on to the export link as they are; the API checks)."""
    return {k: v for k, v in wanted.items() if k in QUERY_ARGS or k.startswith(("filter.", "lookup."))}


def report_html(report: ImportReport) -> str:
    """An import's report: the summary, and each problem with its sheet, row, column and reason."""
    kind = "success" if report.ok else "danger"
    rows = [[p.sheet, p.row or "", p.column, p.label, p.reason] for p in report.problems]
    body = table(["工作表", "行", "列", "栏目", "问题"], rows, "zq-import-problems") if rows else ""
    more = f'<div class="zq-none">另有 {report.more} 处问题未列出</div>' if report.more else ""
    return message_html(report.summary(), kind) + body + more


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The import/export page of one session."""
    store = store_of(session)
    if store is None:
        return off()
    wanted = args()
    holder = pn.Column(note("加载中…"), sizing_mode="stretch_width", css_classes=["zq-io-page"])

    async def open_page() -> None:
        ledger = await checked_ledger(session, store, wanted.get("name", ""))
        if isinstance(ledger, str):
            holder.objects = [refusal(ledger), pane('<a href="/ledgers">返回台账目录</a>')]
            return
        nav = ledger_nav(store, session, ledger, "io")
        if ledger.parent:
            parent = store.ledgers[ledger.parent]
            holder.objects = [nav, note(f"“{ledger.title}”随“{parent.title}”一起导入导出(同一个文件中的工作表)"),
                              pane(str(link(url("/ledger_io", name=parent.ledger), f"前往{parent.title}导入导出",
                                            "zq-io-parent")))]  # fmt: skip
            return
        user, key = session.user, ledger.ledger
        parts: list[Any] = [nav, pane(f'<div class="zq-lg"><h2>{esc(ledger.title)} · 导入导出</h2></div>')]
        api = f"/api/ledgers/{key}"
        links = [link(f"{api}/template", "下载空白模板(.xlsx)", "zq-template", download="")]
        if store.may(user, ledger, "export"):
            query = export_query(wanted)
            words = "导出当前筛选结果(.xlsx)" if query else "导出全部记录(.xlsx)"
            links.append(link(url(f"{api}/export", **query), words, "zq-export"))
        parts.append(pane(f'<div class="zq-lnav">{"".join(links)}</div>'))
        if store.may(user, ledger, "write"):
            limits = session.ctx.settings.records
            upload = pn.widgets.FileInput(accept=".xlsx", name="选择填好的模板", css_classes=["zq-import-file"])
            start = pn.widgets.Button(name="导入", button_type="primary", width=90, css_classes=["zq-import"])
            result = pane("", css_classes=["zq-import-report"])

            async def run_import(*_: Any) -> None:
                data = upload.value
                if not data:
                    result.object = message_html("请先选择要导入的 .xlsx 文件")
                    return
                start.disabled = True
                result.object = message_html("正在检查并导入,请稍候…", "info")
                try:
                    report = await asyncio.to_thread(
                        import_workbook,
                        store,
                        user,
                        key,
                        data,
                        session.ip,
                        max_rows=limits.import_max_rows,
                        max_mb=limits.import_max_mb,
                    )
                except ImportRejected as exc:
                    report = exc.report
                except (AccessDenied, NotFound) as exc:
                    result.object = message_html(str(exc))
                    return
                except Exception as exc:  # an import that fails says so; nothing half-written (one transaction)
                    log.warning("import into %s failed: %s: %s", key, type(exc).__name__, str(exc)[:300])
                    result.object = message_html("导入失败,未写入任何记录,请稍后重试")
                    return
                finally:
                    start.disabled = False
                result.object = report_html(report)

            start.on_click(run_import)
            rule = (f"整个文件检查无误后才一次性写入;任何一处有误则不写入任何记录。单个文件不超过 "
                    f"{limits.import_max_mb:g} MB、{limits.import_max_rows} 行。")  # fmt: skip
            parts += [note(rule), pn.Row(upload, start), result]
        holder.objects = parts

    pn.state.onload(open_page)
    return holder
