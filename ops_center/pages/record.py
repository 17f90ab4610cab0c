"""台账记录: /record?ledger=<key>&id=<id> (the record; &edit=1 its form) and /record?ledger=<key>&new=1[&parent=<id>]
(a new record, or a new child record of a parent), area- and duty-checked on the server."""

from __future__ import annotations

import asyncio
import logging

import panel as pn

from core.access import AccessDenied
from ledgers.attachments import Attachments
from ledgers.store import NotFound
from ops_center.ledger_views.detail import RecordDetail
from ops_center.ledger_views.form import RecordForm
from ops_center.ledger_views.widgets import (
    args,
    checked_id,
    checked_ledger,
    ledger_nav,
    note,
    off,
    pane,
    refusal,
    store_of,
    url,
)
from ops_center.session import OpsSession

SLUG = "record"
TITLE = "台账记录"
PERMISSION = "view"
ORDER = 62
NAV = False  # opened from a ledger list

log = logging.getLogger(__name__)


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The record page of one session: refused, the record, or its form (data loads once the page is shown)."""
    store = store_of(session)
    if store is None:
        return off()
    wanted = args()
    holder = pn.Column(note("加载中…"), sizing_mode="stretch_width", css_classes=["zq-record-page"])
    files = Attachments.of(store, session.ctx.settings)

    def refuse(text: str) -> None:
        holder.objects = [refusal(text), pane('<a href="/ledgers" class="zq-back">返回台账目录</a>')]

    async def open_page() -> None:
        key, rid, new = wanted.get("ledger", ""), wanted.get("id", ""), wanted.get("new", "") == "1"
        ledger = await checked_ledger(session, store, key, "write" if new or wanted.get("edit") == "1" else "read")
        if isinstance(ledger, str):
            refuse(ledger)
            return
        nav = ledger_nav(store, session, ledger, "record")
        if new:
            parent = None
            if ledger.parent:
                pid = wanted.get("parent", "")
                problem = await checked_id(session, key, pid)
                if problem:
                    refuse(f"{problem}(请从所属记录的页面添加)")
                    return
                try:
                    parent = await asyncio.to_thread(store.get, session.user, ledger.parent, pid)
                except (NotFound, AccessDenied) as exc:
                    refuse(str(exc))
                    return
            form = RecordForm(session, store, files, ledger, parent=parent)
            view = form.view()
            await form.load()  # filled before it is attached (see pages/ledger.py)
            holder.objects = [nav, view]
            return
        problem = await checked_id(session, key, rid)
        if problem:
            refuse(problem)
            return
        if wanted.get("edit") == "1":
            try:
                record = await asyncio.to_thread(store.get, session.user, key, rid)
            except (NotFound, AccessDenied) as exc:
                refuse(str(exc))
                return
            form = RecordForm(session, store, files, ledger, record=record)
            back = pane(f'<a class="zq-back" href="{url("/record", ledger=key, id=rid)}">返回记录</a>')
            view = form.view()
            await form.load()
            holder.objects = [nav, back, view]
            return
        detail = RecordDetail(session, store, files, ledger, rid)
        view = detail.view()
        await detail.load()
        holder.objects = [nav, view]

    pn.state.onload(open_page)
    return holder
