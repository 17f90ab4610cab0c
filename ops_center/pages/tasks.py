"""乡村大脑任务: a township or county user sends a task (an item of category 任务) to villages of their area, one
application per village under one batch, and follows each village's progress."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import pandas as pd
import panel as pn

from core.access import in_scope
from core.clock import local_time
from core.events import now_ms
from ledgers.schema import FieldSpec
from ledgers.values import RecordInvalid
from ops_center.ledger_views.common import when
from ops_center.ledger_views.widgets import esc, message_html, pane, refusal
from ops_center.session import OpsSession
from ops_center.workflow_views.common import TASK, state_label, store_of
from ops_center.workflow_views.detail import ApplicationDetail
from workflows.engine import Refused
from workflows.schema import Item
from workflows.store import WorkflowStore

SLUG = "tasks"
TITLE = "乡村大脑任务"
PERMISSION = "act"
ORDER = 72
PROGRESS_COLUMNS = ["所在村", "编号", "当前环节", "超时", "更新时间"]

log = logging.getLogger(__name__)


def task_items(store: WorkflowStore, level: str) -> list[Item]:
    """The task items a user of this level may send."""
    return [i for i in store.items.by_category(TASK) if level in i.applicants]


def sender_fields(item: Item) -> list[FieldSpec]:
    """The fields the sender fills (the task's description): the required ones and the dates; the rest, and every
    attachment, is the village's report."""
    return [f for f in item.form if f.type != "attachment" and (f.required or f.type == "date")]


def new_batch(item: Item) -> str:
    """A batch id: the item's prefix, the local date and a random tail."""
    return f"{item.prefix}{local_time(now_ms(), '%Y%m%d')}{secrets.token_hex(3).upper()}"


class TaskSender:
    """One session's task page: the item, its form, the target villages, the send, and a batch's progress."""

    def __init__(self, session: OpsSession, store: WorkflowStore) -> None:
        self.session, self.store = session, store
        self.items = {i.title: i for i in task_items(store, session.user.level)}
        self.item = pn.widgets.Select(name="任务事项", options=list(self.items), css_classes=["zq-task-item"])
        self.villages = pn.widgets.MultiChoice(name="下发到村(可多选)", options=[], css_classes=["zq-task-villages"])
        self.fields: dict[str, Any] = {}
        self.form = pn.Column(sizing_mode="stretch_width", css_classes=["zq-task-form"])
        self.send = pn.widgets.Button(name="下发任务", button_type="primary", width=120, css_classes=["zq-task-send"])
        self.message = pane("", css_classes=["zq-task-message"])
        self.batch = pn.widgets.Select(name="任务批次", options={}, css_classes=["zq-task-batch"])
        self.progress = pn.widgets.Tabulator(pd.DataFrame(columns=PROGRESS_COLUMNS), show_index=False, disabled=True,
                                             selectable=1, layout="fit_data_stretch", sizing_mode="stretch_width",
                                             name="progress")  # fmt: skip
        self.detail = ApplicationDetail(session, store)  # a village's task, opened from the progress (反馈, 退回)
        self.detail.after = self.show_progress
        self.progress.param.watch(self._selected, "selection")
        self.item.param.watch(lambda _e: self._draw_form(), "value")
        self.batch.param.watch(lambda _e: asyncio.get_running_loop().create_task(self.show_progress()), "value")
        self.send.on_click(self._clicked)
        self._draw_form()

    def current(self) -> Item | None:
        """The chosen task item."""
        return self.items.get(self.item.value or "")

    def _draw_form(self) -> None:
        item, user, gaz = self.current(), self.session.user, self.session.ctx.gazetteer
        if item is None:
            self.fields, self.form.objects = {}, []
            return
        self.villages.options = [
            v.name for v in gaz.villages if in_scope(user, v.township, v.name) and self.store.enabled(item.item, v.name)
        ]
        self.villages.value = [v for v in self.villages.value if v in self.villages.options]  # fmt: skip
        self.fields = {}
        for spec in sender_fields(item):
            name = f"{spec.label}{' *' if spec.required else ''}"
            css = ["zq-task-field", f"zq-field-{spec.key}"]
            if spec.type == "enum":
                widget: Any = pn.widgets.Select(name=name, options=["", *spec.options], css_classes=css)
            elif spec.type == "bool":
                widget = pn.widgets.Select(name=name, options=["", "是", "否"], css_classes=css)
            elif spec.type == "text" and (spec.max_length or 0) > 60:
                widget = pn.widgets.TextAreaInput(name=name, height=80, max_length=spec.max_length, css_classes=css)
            else:
                widget = pn.widgets.TextInput(name=name, max_length=spec.max_length or 200, css_classes=css)
            self.fields[spec.key] = widget
        self.form.objects = [pn.GridBox(*self.fields.values(), ncols=2)]

    def _clicked(self, _event: object) -> None:
        asyncio.get_running_loop().create_task(self.submit())

    async def submit(self) -> list[str]:
        """Send the task to every chosen village under one batch; the ids sent, the reasons shown."""
        item, villages = self.current(), list(self.villages.value or [])
        if item is None:
            self.message.object = message_html("没有可下发的任务事项")
            return []
        if not villages:
            self.message.object = message_html("请选择至少一个村")
            return []
        raw = {k: w.value for k, w in self.fields.items() if (w.value or "") != ""}
        batch = new_batch(item)
        sent: list[str] = []
        failed: list[str] = []
        for village in villages:
            try:
                inst = await asyncio.to_thread(self.store.submit, self.session.user, item.item, raw, village=village,
                                               batch=batch, ip=self.session.ip)  # fmt: skip
            except RecordInvalid as exc:  # the form itself is wrong: the same for every village, so stop here
                labels = {f.key: f.label for f in item.form}
                text = ";".join(f"{labels.get(k, k)}:{v}" for k, v in exc.errors.items())
                self.message.object = message_html(f"任务内容填写不正确:{text}")
                return sent
            except Refused as exc:
                failed.append(f"{village}:{exc.reason}")
                continue
            sent.append(inst.id)
        if sent:
            await self.load_batches(batch)
        lead = f"已向 {len(sent)} 个村下发任务(批次 {batch})" if sent else "任务未能下发"
        self.message.object = message_html(";".join([lead, *failed]), "success" if sent and not failed else "danger")
        return sent

    async def load_batches(self, select: str = "") -> None:
        """The batches of task items in the user's area, newest first; `select` is shown."""
        found: list[Any] = []
        for item in self.items.values():
            found += await asyncio.to_thread(self.store.find, self.session.user, item=item.item, limit=1000)
        batches: dict[str, str] = {}
        for it, inst in sorted(found, key=lambda p: -p[1].created_at):
            if inst.batch and inst.batch not in batches.values():
                batches[f"{inst.batch} · {it.title} · {when(inst.created_at)}"] = inst.batch
        self.batch.options = batches
        if select and select in batches.values():
            self.batch.value = select
        await self.show_progress()

    async def show_progress(self) -> None:
        """Each village's state in the chosen batch."""
        batch = self.batch.value or ""
        found = await asyncio.to_thread(self.store.find, self.session.user, batch=batch) if batch else []
        rows = [[f"{x.township} {x.village}", x.id, state_label(i, x.state), "超时" if x.overdue else "",
                 when(x.updated_at)] for i, x in sorted(found, key=lambda p: p[1].village)]  # fmt: skip
        self.progress.value = pd.DataFrame(rows, columns=PROGRESS_COLUMNS)

    def _selected(self, event: Any) -> None:
        frame = self.progress.value
        if event.new and frame is not None and event.new[0] < len(frame):
            iid = str(frame.iloc[event.new[0]]["编号"])
            asyncio.get_running_loop().create_task(self.detail.load(iid))

    def view(self) -> pn.viewable.Viewable:
        """The page's body."""
        return pn.Column(pane("<h2>乡村大脑任务</h2><div class='zq-help'>选择任务事项和村,填写任务内容后下发。</div>"),
                         self.item, self.form, self.villages, self.send, self.message,
                         pane(f"<h3>{esc('任务进度')}</h3>"), self.batch, self.progress, self.detail.view(),
                         sizing_mode="stretch_width", css_classes=["zq-tasks"])  # fmt: skip


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The task page of one session (township and county users send; villages report from 乡村掌上管理)."""
    store = store_of(session.ctx)
    if store is None:
        return refusal("任务服务未启用")
    if session.user.level == "village":
        return refusal("任务由乡镇或县级下发,村级请在“乡村掌上管理”中查看和回报任务")
    sender = TaskSender(session, store)
    if not sender.items:
        return refusal("尚未配置可下发的任务事项")
    pn.state.onload(sender.load_batches)
    return sender.view()
