"""One application for staff: its form (personal values masked as due), amount and basis, the full timeline, and
the actions the user may take now, each with the opinion, signature or amount its step must add."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import panel as pn

from core.access import User
from core.events import now_ms
from core.personal import mask
from ledgers.store import NotFound
from ops_center.ledger_views.common import when
from ops_center.ledger_views.widgets import esc, message_html, pane, table
from ops_center.session import OpsSession
from ops_center.workflow_views.common import applicant_text, form_rows, overdue_text, sees_whole, state_label
from workflows import engine
from workflows.engine import Command, Instance, Step
from workflows.schema import Item, Transition
from workflows.store import Applied, WorkflowStore

log = logging.getLogger(__name__)
DUTY_ZH = {"officer": "村干部", "operator": "值班员", "citizen": "群众", "applicant": "申请人", "timer": "系统"}


def timeline_html(user: User, item: Item, inst: Instance, steps: list[Step]) -> str:
    """Every step, oldest first: when, what, from → to, who (duty, account), opinion, signature, amount, basis, IP;
    the applicant's name masked and their account (a phone) left out unless the user sees personal values."""
    whole = sees_whole(user, inst)
    rows = []
    for s in steps:
        hide = s.actor == inst.applicant and not whole
        moved = f"{state_label(item, s.from_state)} → {state_label(item, s.to_state)}" if s.from_state else (
            state_label(item, s.to_state))  # fmt: skip
        name, account = (mask("name", s.actor_name), "") if hide else (s.actor_name, s.actor)
        who = f"{name}({DUTY_ZH.get(s.duty, s.duty)}{'·' + account if account else ''})"
        opinion = f"{s.opinion}(内部意见)" if s.internal and s.opinion else s.opinion
        rows.append([s.seq, when(s.ts), s.label, moved, who, opinion, s.signature,
                     "" if s.amount is None else f"{s.amount} 元", ";".join(s.trace), s.ip or "—"])  # fmt: skip
    return table(["序号", "时间", "办理", "环节", "办理人", "意见", "签名", "金额", "依据", "来源地址"], rows,
                 "zq-wf-timeline")  # fmt: skip


def summary_html(session: OpsSession, item: Item, inst: Instance) -> str:
    """The head of an application: number, item, applicant, place, state, amount and its basis."""
    user = session.user
    amount = "—" if inst.amount is None else f"{inst.amount} 元"
    rows: list[list[Any]] = [["编号", inst.id], ["事项", item.title], ["申请人", applicant_text(user, inst)],
                             ["所在村", f"{inst.township} {inst.village}"],
                             ["当前环节", state_label(item, inst.state) + (" (已超时)" if overdue_text(inst) else "")],
                             ["提交时间", when(inst.created_at)], ["补贴金额", amount],
                             ["金额依据", inst.amount_basis or "—"]]  # fmt: skip
    if inst.batch:
        rows.append(["任务批次", inst.batch])
    values = form_rows(user, item, inst)
    rows += [[label, text] for label, text, _ in values]
    masked: list[set[int]] = [set()] * 8 + ([set()] if inst.batch else []) + [{1} if m else set() for _, _, m in values]
    return table(["项目", "内容"], rows, "zq-wf-values", masked)


def parse_amount(text: str) -> Decimal | None:
    """A typed amount in 元 (None when empty or not a number)."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


class ApplicationDetail:
    """The open application of one session; actions go through the store (checked there, in a thread)."""

    def __init__(self, session: OpsSession, store: WorkflowStore) -> None:
        self.session, self.store = session, store
        self.iid = ""
        self.item: Item | None = None
        self.inst: Instance | None = None
        self.actions: list[Transition] = []
        self.keys: dict[str, str] = {}  # action -> idempotency key as drawn (a double tap applies once)
        self.buttons: dict[str, pn.widgets.Button] = {}
        self.fills: dict[str, pn.widgets.TextInput] = {}  # form fields the drawn actions fill (a task's report)
        self.opinion = pn.widgets.TextAreaInput(name="意见", height=70, max_length=engine.MAX_OPINION,
                                                css_classes=["zq-wf-opinion"])  # fmt: skip
        self.signature = pn.widgets.TextInput(name="签名(姓名)", max_length=20, css_classes=["zq-wf-signature"])
        self.amount = pn.widgets.TextInput(name="核定金额(元)", max_length=12, css_classes=["zq-wf-amount"])
        self.message = pane("", css_classes=["zq-wf-message"])
        self.body = pn.Column(sizing_mode="stretch_width", css_classes=["zq-wf-detail"])
        self.after: Callable[[], Awaitable[None]] | None = None  # called once an action went through (a list redraws)

    async def load(self, iid: str) -> None:
        """Read and draw one application (or say why it cannot be shown)."""
        self.iid = iid
        user = self.session.user
        try:
            item, inst = await asyncio.to_thread(self.store.get, user, iid)
            steps = await asyncio.to_thread(self.store.timeline, user, iid)
        except NotFound as exc:
            self.item = self.inst = None
            self.body.objects = [pane(message_html(str(exc)))]
            return
        self.item, self.inst = item, inst
        self.actions = [t for t in engine.available(item, inst, user, now_ms()) if t.action != engine.OBJECT]
        self.keys = {t.action: str(uuid.uuid4()) for t in self.actions}
        self.buttons = {}
        for t in self.actions:
            kind = "danger" if t.action in ("reject", "return") else "primary"
            button = pn.widgets.Button(name=t.label, button_type=kind, css_classes=["zq-wf-act", f"zq-act-{t.action}"])
            button.on_click(self._clicked(t.action))
            self.buttons[t.action] = button
        fills = [item.field(k) for t in self.actions for k in t.fills]
        self.fills = {f.key: pn.widgets.TextInput(name=f.label + (f"({f.unit})" if f.unit else ""),
                                                  placeholder=f.help[:60], css_classes=[f"zq-fill-{f.key}"])
                      for f in fills if f.type != "attachment"}  # fmt: skip
        adds = {a for t in self.actions for a in t.adds}
        self.opinion.visible, self.signature.visible = "opinion" in adds, "signature" in adds
        self.amount.visible = "amount" in adds
        if "amount" in adds and not self.amount.value and inst.amount is not None:
            self.amount.value = str(inst.amount)
        parts: list[Any] = [pane(f'<div class="zq-lg"><h2>{esc(item.title)} · {esc(inst.id)}</h2></div>'),
                            pane(summary_html(self.session, item, inst))]  # fmt: skip
        if self.actions:
            parts += [*self.fills.values(), self.opinion, self.signature, self.amount]
            parts.append(pn.GridBox(*self.buttons.values(), ncols=4))
        else:
            parts.append(pane('<div class="zq-none zq-wf-no-actions">当前环节无需您办理</div>'))
        parts += [
            self.message,
            pane(f'<div class="zq-card"><h3>办理过程</h3>{timeline_html(user, item, inst, steps)}</div>'),
        ]
        self.body.objects = parts

    def _clicked(self, action: str) -> Any:
        async def run(_event: object) -> None:
            await self.act(action)

        return run

    async def act(self, action: str) -> Applied | None:
        """Take one of the drawn actions (what a button click does); the outcome or the Chinese reason is shown."""
        inst = self.inst
        t = next((t for t in self.actions if t.action == action), None)
        if inst is None or t is None:
            self.message.object = message_html("该操作当前不可办理,请刷新后再试")
            return None
        amount = None
        if "amount" in t.adds:
            amount = parse_amount(self.amount.value or "")
            if amount is None:
                self.message.object = message_html("核定金额应为数字(元)")
                return None
        cmd = Command(key=self.keys.get(action) or str(uuid.uuid4()), instance_id=inst.id, action=action,
                      ts=now_ms(), opinion=(self.opinion.value or "") if "opinion" in t.adds else "",
                      signature=(self.signature.value or "") if "signature" in t.adds else "", amount=amount,
                      version=inst.version, ip=self.session.ip,
                      values={k: w.value for k, w in self.fills.items() if k in t.fills and w.value})  # fmt: skip
        try:
            out = await asyncio.to_thread(self.store.act, self.session.user, cmd)
        except Exception as exc:  # a store that is down says so; the page and the session go on
            log.warning("workflow action failed: %s: %s", type(exc).__name__, str(exc)[:300])
            self.message.object = message_html("办理暂时无法完成,请稍后重试")
            return None
        if not out.ok:
            if out.kind in ("stale", "ended"):  # moved by someone else meanwhile: show where it stands now
                await self.load(inst.id)
            self.message.object = message_html(out.reason)
            return out
        assert self.item is not None
        label = state_label(self.item, out.state)
        self.opinion.value = self.signature.value = self.amount.value = ""
        await self.load(inst.id)
        if self.after is not None:
            await self.after()
        self.message.object = message_html(f"已办理“{t.label}”,当前环节:{label}", "success")
        return out

    def view(self) -> pn.viewable.Viewable:
        """The detail's body."""
        return self.body
