"""台账: the index of the ledgers the user may read, grouped, with how many records each holds in the user's area."""

from __future__ import annotations

import asyncio
import logging

import panel as pn

from core.access import scope_label
from ledgers.reads import counts
from ops_center.ledger_views.widgets import esc, link, note, off, pane, refusal, store_of, url
from ops_center.session import OpsSession

SLUG = "ledgers"
TITLE = "台账"
PERMISSION = "view"
ORDER = 60

log = logging.getLogger(__name__)


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The ledger index of one session (counts load once the page is shown)."""
    store = store_of(session)
    if store is None:
        return off()
    user = session.user
    readable = [lg for lg in store.ledgers.ledgers.values() if store.may(user, lg, "read")]
    holder = pn.Column(note("加载中…"), sizing_mode="stretch_width", css_classes=["zq-ledgers"])
    if not readable:
        return pn.Column(refusal("您没有可查看的台账"), sizing_mode="stretch_width")

    async def load() -> None:
        try:
            found = await asyncio.to_thread(counts, store, user, [lg.ledger for lg in readable])
        except Exception as exc:  # a store that is down says so; the page and the session go on
            log.warning("ledger counts failed: %s: %s", type(exc).__name__, str(exc)[:300])
            holder.objects = [refusal("台账数据暂时无法读取,请稍后重试")]
            return
        groups: dict[str, list[str]] = {}
        for lg in readable:
            kind = "(子台账)" if lg.parent else ""
            item = (f"<li>{link(url('/ledger', name=lg.ledger), lg.title, 'zq-ledger-link', ledger=lg.ledger)}"
                    f'{esc(kind)}<span class="zq-count" data-ledger="{esc(lg.ledger)}">{found[lg.ledger]} 条</span>'
                    f'<div class="zq-none">{esc(lg.help[:80])}</div></li>')  # fmt: skip
            groups.setdefault(lg.group or "其他", []).append(item)
        body = "".join(f'<div class="zq-group"><h3>{esc(g)}</h3><ul>{"".join(items)}</ul></div>'
                       for g, items in groups.items())  # fmt: skip
        head = f"<h2>台账</h2><div class='zq-help'>{esc(scope_label(user))}范围内的记录数</div>"
        holder.objects = [pane(f'<div class="zq-lg">{head}{body}</div>')]

    pn.state.onload(load)
    return holder
