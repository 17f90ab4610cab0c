"""The Panel parts every ledger page uses: request arguments, the session's store, checked ledger keys and record
ids (refusals audited), escaped HTML tables and links, the ledger's own navigation."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import panel as pn

from ledgers.schema import Ledger
from ledgers.store import LedgerStore
from ops_center.ledger_views.common import id_ok, key_ok, session_store
from ops_center.notice import notice, notice_html
from ops_center.session import OpsSession

MAX_ARG = 200  # longer request arguments are cut before they are used, shown or audited
CSS = """
.zq-lg h2 { margin:6px 0; font-size:20px; } .zq-lg .zq-help { color:#556; font-size:13px; margin:2px 0 8px; }
table.zq-lt { border-collapse:collapse; font-size:13px; width:100%; }
table.zq-lt th, table.zq-lt td { border-bottom:1px solid #e3e8ee; padding:4px 8px; text-align:left;
  vertical-align:top; }
table.zq-lt th { background:#f3f6f9; font-weight:normal; color:#445; white-space:nowrap; }
table.zq-lt td.zq-masked { color:#8a6d3b; }
.zq-lnav a { margin-right:14px; font-size:14px; } .zq-lnav a.on { font-weight:bold; }
.zq-none { color:#7f8c8d; font-size:13px; } .zq-err { color:#c0392b; font-size:13px; }
.zq-group h3 { margin:14px 0 4px; font-size:16px; } .zq-group ul { margin:0; padding-left:18px; }
.zq-group li { margin:3px 0; } .zq-count { color:#556; font-size:12px; margin-left:6px; }
.zq-card { border:1px solid #dde3ea; border-radius:6px; padding:10px 14px; margin:8px 0; background:#fbfcfd; }
"""


class Html(str):
    """Markup built here from escaped parts (a table cell that is a link, say); plain str cells are escaped."""


def esc(value: Any) -> str:
    """Text for HTML."""
    return html.escape("" if value is None else str(value))


def args() -> dict[str, str]:
    """The page request's query arguments, first value of each, decoded and cut to MAX_ARG characters."""
    out: dict[str, str] = {}
    for name, values in (pn.state.session_args or {}).items():
        if values:
            out[str(name)[:60]] = values[0].decode("utf-8", "replace").strip()[:MAX_ARG]
    return out


def pane(body: str, **params: Any) -> pn.pane.HTML:
    """An HTML pane with the ledger pages' styles."""
    return pn.pane.HTML(body, sizing_mode="stretch_width", stylesheets=[CSS], **params)


def note(text: str) -> pn.pane.HTML:
    """A grey one-line note."""
    return pane(f'<div class="zq-none">{esc(text)}</div>')


def refusal(text: str) -> pn.pane.HTML:
    """A refusal or error, as plain text."""
    return notice(text, sizing_mode="stretch_width", css_classes=["zq-refusal"])


def message_html(text: str, kind: str = "danger") -> str:
    """A message box's HTML (for updating a pane)."""
    return notice_html(text, kind)


def link(href: str, text: str, css: str = "", **data: str) -> Html:
    """An escaped link (href built by `url`)."""
    attrs = "".join(f' data-{k}="{esc(v)}"' for k, v in data.items())
    return Html(f'<a href="{esc(href)}" class="{esc(css)}"{attrs}>{esc(text)}</a>')


def url(path: str, **query: Any) -> str:
    """A same-site path with its query (None and "" left out)."""
    q = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{path}?{urlencode(q)}" if q else path


def record_url(key: str, rid: str, **more: Any) -> str:
    """The record page of a record."""
    return url("/record", ledger=key, id=rid, **more)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], css: str = "", masked: Sequence[set[int]] = ()) -> str:
    """An HTML table; cells are escaped unless they are Html; `masked[i]` names row i's masked cells."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        hidden = masked[i] if i < len(masked) else set()
        cells = "".join(
            ('<td class="zq-masked">' if j in hidden else "<td>") + (c if isinstance(c, Html) else esc(c)) + "</td>"
            for j, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="zq-lt {esc(css)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def ledger_nav(store: LedgerStore, session: OpsSession, ledger: Ledger, current: str) -> pn.pane.HTML:
    """The ledger's own links: 台账列表, the list, 导入导出 and 统计 where the user may use them."""
    user, key = session.user, ledger.ledger
    items = [("index", "/ledgers", "全部台账"), ("list", url("/ledger", name=key), f"{ledger.title}列表")]
    if store.may(user, ledger, "export") or store.may(user, ledger, "write"):
        items.append(("io", url("/ledger_io", name=key), "导入/导出"))
    if ledger.stats:
        items.append(("stats", url("/ledger_stats", name=key), "统计"))
    links = "".join(
        link(href, text, f"zq-nav-{name}" + (" on" if name == current else "")) for name, href, text in items
    )
    return pane(f'<div class="zq-lnav">{links}</div>')


def store_of(session: OpsSession) -> LedgerStore | None:
    """The session's view of the ledger store (its audit knows the session's address), or None when off."""
    base = session.ctx.ledgers
    return session_store(base, session.ctx.redis, session.ip) if base is not None else None


async def checked_ledger(session: OpsSession, store: LedgerStore, key: str, action: str = "read") -> Ledger | str:
    """The requested ledger if its key is well formed, declared and the user's duties allow `action` on it;
    else the Chinese refusal (audited: ledger_view_denied, or the store's ledger_denied)."""
    if not key_ok(key) or key not in store.ledgers:
        await session.audit("ledger_view_denied", key[:60] or "-", ok=False, why="ledger")
        return f"台账名称格式不正确或不存在:{key or '(未指定)'}" if key else "未指定台账(请从“台账”页面进入)"
    ledger = store.ledgers[key]
    if not store.may(session.user, ledger, action):
        store.denied(session.user, ledger, action, "page", "duty")
        return f"您无权{'查看' if action == 'read' else '操作'}“{ledger.title}”"
    return ledger


async def checked_id(session: OpsSession, key: str, rid: str) -> str | None:
    """None if a record id from the request is well formed, else the Chinese refusal (audited)."""
    if id_ok(rid):
        return None
    await session.audit("ledger_view_denied", f"{key}/{rid[:60]}", ok=False, why="id")
    return f"记录编号格式不正确:{rid or '(未指定)'}"


def off() -> pn.pane.HTML:
    """What a ledger page shows where the platform runs without the ledger store."""
    return refusal("台账服务未启用")
