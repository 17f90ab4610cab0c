"""台账列表: /ledger?name=<key>, the records of any declared ledger in the user's area (search, filters, paging)."""

from __future__ import annotations

import panel as pn

from ops_center.ledger_views.listing import LedgerList
from ops_center.ledger_views.widgets import args, checked_ledger, esc, ledger_nav, note, off, pane, refusal, store_of
from ops_center.session import OpsSession

SLUG = "ledger"
TITLE = "台账列表"
PERMISSION = "view"
ORDER = 61
NAV = False  # opened from the ledger index


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The list page of one session: the frame now, the widgets and the first page with one query once shown."""
    store = store_of(session)
    if store is None:
        return off()
    wanted = args()
    holder = pn.Column(note("加载中…"), sizing_mode="stretch_width", css_classes=["zq-ledger-page"])

    async def open_page() -> None:
        ledger = await checked_ledger(session, store, wanted.get("name", ""))
        if isinstance(ledger, str):
            holder.objects = [refusal(ledger), pane('<a href="/ledgers">返回台账目录</a>')]
            return
        listing = LedgerList(session, store, ledger, wanted)
        head = pane(f'<div class="zq-lg"><h2>{esc(ledger.title)}</h2><div class="zq-help">{esc(ledger.help)}</div>'
                    "</div>")  # fmt: skip
        view = listing.view()
        # the first page is drawn before the view is attached: a change made to a pane in the same moment it is
        # attached to the document could be lost (seen with fast queries: the table never reached the browser)
        await listing.reload()
        holder.objects = [ledger_nav(store, session, ledger, "list"), head, view]

    pn.state.onload(open_page)
    return holder
