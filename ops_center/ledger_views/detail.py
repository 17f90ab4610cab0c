"""One record's page: its values with labels and units (masked as due), the ledger's extra view, child records,
attachments and the history of versions; edit, delete and (for admins, on a deleted record) restore."""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass
from typing import Any

import panel as pn

from core.access import AccessDenied, User
from ledgers.attachments import Attachment, Attachments
from ledgers.query import Version, children, history
from ledgers.schema import Ledger
from ledgers.store import LedgerStore, NotFound, Record, StaleEdit
from ledgers.values import RecordInvalid
from ops_center.ledger_views.common import ACTION_ZH, display, title_of, when
from ops_center.ledger_views.extra import extra_module
from ops_center.ledger_views.listing import columns
from ops_center.ledger_views.widgets import Html, esc, link, message_html, pane, record_url, table, url
from ops_center.session import OpsSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bundle:
    """What a record page shows, read in one go: the record, its child records, versions and attachments."""

    record: Record
    children: list[tuple[Ledger, list[Record]]]
    history: list[Version]
    attachments: list[Attachment]


def read_bundle(store: LedgerStore, files: Attachments, user: User, key: str, rid: str) -> Bundle:
    """The record page's data (blocking: call it in a thread); NotFound, AccessDenied as the store says."""
    rec = store.get(user, key, rid, deleted=True)
    kids = [(c, children(store, user, c.ledger, rid)) for c in store.ledgers.children(key)
            if store.may(user, c, "read") and not rec.deleted]  # fmt: skip
    return Bundle(rec, kids, history(store, user, key, rid), files.of_record(rec))


def attachment_url(key: str, rid: str, sha: str) -> str:
    """The download link of a record's attachment."""
    return url("/attachment", sha=sha, ledger=key, id=rid)


def values_html(ledger: Ledger, rec: Record, files: dict[str, Attachment]) -> str:
    """The record's fields as a two-column table (masked values marked)."""
    rows: list[list[Any]] = []
    masked: list[set[int]] = []
    for f in ledger.fields:
        value = rec.values.get(f.key)
        if f.type == "attachment" and isinstance(value, str) and value in files:
            cell: Any = link(attachment_url(ledger.ledger, rec.id, value), files[value].filename, "zq-attachment")
        elif f.type == "ref" and isinstance(value, str) and value and f.ledger and f.key not in rec.masked:
            cell = link(record_url(f.ledger, value), value, "zq-ref-link")
        else:
            cell = display(f, value)
        rows.append([f.label, cell, "已脱敏" if f.key in rec.masked else ""])
        masked.append({1} if f.key in rec.masked else set())
    return table(["项目", "内容", ""], rows, "zq-values", masked)


def children_html(store: LedgerStore, user: User, parent: Record, kids: list[tuple[Ledger, list[Record]]]) -> str:
    """Each child ledger's records of this record as a table, with edit and add links where allowed."""
    out = []
    for child, recs in kids:
        cols, writer = columns(child), store.may(user, child, "write")
        rows: list[list[Any]] = []
        for r in recs:
            cells: list[Any] = [link(record_url(child.ledger, r.id), r.id, "zq-child-link", id=r.id)]
            cells += [display(f, r.values.get(f.key)) for f in cols]
            cells += [link(record_url(child.ledger, r.id, edit=1), "编辑", "zq-child-edit")] if writer else []
            rows.append(cells)
        headers = ["编号", *(f.label for f in cols), *(["操作"] if writer else [])]
        body = table(headers, rows, f"zq-children zq-children-{child.ledger}") if rows else (
            '<div class="zq-none">尚未登记</div>')  # fmt: skip
        add = (link(url("/record", ledger=child.ledger, new=1, parent=parent.id), f"添加{child.title}",
                    f"zq-add-child zq-add-{child.ledger}") if writer else "")  # fmt: skip
        out.append(f'<div class="zq-card"><h3>{esc(child.title)}({len(recs)})</h3>{body}{add}</div>')
    return "".join(out)


def history_html(ledger: Ledger, versions: list[Version]) -> str:
    """The record's versions, oldest first: who, when, from where, each changed field before → after."""
    labels = {f.key: f.label for f in ledger.fields}
    order = {k: i for i, k in enumerate(labels)}
    rows = []
    for v in versions:
        keys = sorted(set(v.before) | set(v.after), key=lambda k: order.get(k, len(order)))
        changes = [f"{labels.get(k, k)}:{v.before.get(k, '') or '(空)'} → {v.after.get(k, '') or '(空)'}"
                   for k in keys]  # fmt: skip
        rows.append([v.version, ACTION_ZH.get(v.action, v.action), when(v.at), v.by, v.ip or "—", ";".join(changes)])
    return table(["版本", "操作", "时间", "操作人", "来源地址", "变更内容"], rows, "zq-history")


class RecordDetail:
    """The page of one record for one session (data read in a thread by `load`)."""

    def __init__(self, session: OpsSession, store: LedgerStore, files: Attachments, ledger: Ledger, rid: str) -> None:
        self.session, self.store, self.files, self.ledger, self.rid = session, store, files, ledger, rid
        self.bundle: Bundle | None = None
        self.message = pane("", css_classes=["zq-record-message"])
        self.delete = pn.widgets.Button(name="删除", button_type="danger", width=80, css_classes=["zq-delete"])
        self.confirm = pn.widgets.Button(name="确认删除", button_type="danger", width=100, visible=False,
                                         css_classes=["zq-delete-confirm"])  # fmt: skip
        self.restore = pn.widgets.Button(name="恢复记录", button_type="success", width=100, visible=False,
                                         css_classes=["zq-restore"])  # fmt: skip
        self.body = pn.Column(sizing_mode="stretch_width", css_classes=["zq-record"])
        self.delete.on_click(self._ask)
        self.confirm.on_click(self._delete)
        self.restore.on_click(self._restore)

    async def load(self) -> None:
        """Read and draw the record."""
        user, key = self.session.user, self.ledger.ledger
        try:
            self.bundle = await asyncio.to_thread(read_bundle, self.store, self.files, user, key, self.rid)
        except (NotFound, AccessDenied) as exc:
            self.body.objects = [pane(message_html(str(exc))), pane(str(link(url("/ledger", name=key), "返回列表")))]
            return
        rec = self.bundle.record
        writer = self.store.may(user, self.ledger, "write")
        self.delete.visible = writer and not rec.deleted
        self.confirm.visible = False
        self.restore.visible = rec.deleted and self.store.may(user, self.ledger, "restore")
        parts: list[Any] = [self._head(rec, writer), pn.Row(self.delete, self.confirm, self.restore), self.message]
        files = {a.sha256: a for a in self.bundle.attachments}
        parts.append(pane(values_html(self.ledger, rec, files)))
        extra = extra_module(key)
        if extra is not None and not rec.deleted:
            try:
                view = extra.build(self.session, self.store, self.ledger, rec)
                parts.append(await view if inspect.isawaitable(view) else view)
            except Exception as exc:  # an extra view that fails says so; the record page stays
                log.warning("extra view of %s failed: %s: %s", key, type(exc).__name__, str(exc)[:300])
                parts.append(pane(message_html("附加视图暂时无法显示")))
        if self.bundle.children:
            parts.append(pane(children_html(self.store, user, rec, self.bundle.children)))
        parts.append(pane(f'<div class="zq-card"><h3>修改记录</h3>{history_html(self.ledger, self.bundle.history)}'
                          "</div>"))  # fmt: skip
        self.body.objects = parts

    def _head(self, rec: Record, writer: bool) -> pn.pane.HTML:
        lg = self.ledger
        state = '<span class="zq-err zq-deleted-badge">(已删除)</span>' if rec.deleted else ""
        meta = (f"编号 {esc(rec.id)} · {esc(rec.township)} {esc(rec.village)} · 第 {rec.version} 版 · "
                f"{esc(rec.updated_by)} 更新于 {esc(when(rec.updated_at))}")  # fmt: skip
        links: list[Html] = [link(url("/ledger", name=lg.ledger), f"返回{lg.title}列表", "zq-back")]
        if rec.parent_id and lg.parent:
            links.append(link(record_url(lg.parent, rec.parent_id), f"返回所属{self.store.ledgers[lg.parent].title}",
                              "zq-parent-link"))  # fmt: skip
        if writer and not rec.deleted:
            links.append(link(record_url(lg.ledger, rec.id, edit=1), "编辑", "zq-edit"))
        return pane(f'<div class="zq-lg"><h2>{esc(lg.title)} · {esc(title_of(lg, rec))} {state}</h2>'
                    f'<div class="zq-help">{meta}</div><div class="zq-lnav">{"".join(links)}</div></div>')  # fmt: skip

    def _ask(self, *_: Any) -> None:
        self.confirm.visible = True
        self.message.object = message_html("删除后记录不再出现在列表中(管理员可恢复)。确认请点“确认删除”。", "info")

    async def _delete(self, *_: Any) -> None:
        rec = self.bundle.record if self.bundle else None
        if rec is None:
            return
        try:
            await asyncio.to_thread(self.store.delete, self.session.user, self.ledger.ledger, rec.id,
                                    version=rec.version, ip=self.session.ip)  # fmt: skip
        except (StaleEdit, NotFound, AccessDenied, RecordInvalid) as exc:
            self.message.object = message_html(str(exc))
            return
        self.delete.visible = self.confirm.visible = False
        back = link(url("/ledger", name=self.ledger.ledger), "返回列表", "zq-back")
        self.body.objects = [pane(message_html(f"已删除记录 {rec.id}", "success")), pane(str(back))]

    async def _restore(self, *_: Any) -> None:
        try:
            await asyncio.to_thread(self.store.restore, self.session.user, self.ledger.ledger, self.rid,
                                    ip=self.session.ip)  # fmt: skip
        except (NotFound, AccessDenied, RecordInvalid) as exc:
            self.message.object = message_html(str(exc))
            return
        await self.load()
        self.message.object = message_html("记录已恢复", "success")

    def view(self) -> pn.viewable.Viewable:
        """The record page's body."""
        return self.body
