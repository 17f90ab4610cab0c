"""户档案袋: a household's card beside its record: the head, its members with their ages, and the four income types
with the income card of ledgers.extra.household (K = the four incomes, S = K − costs, T = S / size), shown only to
viewers who see income."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import panel as pn

from core.access import User, sees_personal
from ledgers.extra.household import INCOME_TYPES, income_card
from ledgers.query import children
from ledgers.schema import Ledger
from ledgers.store import LedgerStore, Record
from ops_center.ledger_views.common import display
from ops_center.ledger_views.widgets import esc, pane, table
from ops_center.session import OpsSession

INCOMES = tuple(key for key, _ in INCOME_TYPES)
COSTS = "costs"


def age(born: Any, today: dt.date) -> int | None:
    """Whole years from a birth date to today (None without a date)."""
    if not isinstance(born, dt.date):
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def sees_income(user: User, ledger: Ledger, record: Record) -> bool:
    """Whether the viewer sees this household's income fields whole (the officer of its village)."""
    return sees_personal(user, record.township, record.village) and not any(k in record.masked for k in INCOMES)


def card_html(store: LedgerStore, user: User, ledger: Ledger, record: Record, members: list[Record]) -> str:
    """The household card's HTML (every value escaped)."""
    today, v = store.today(), record.values
    head = (f"<h3>户档案袋</h3><div>户主 <b class='zq-head'>{esc(v.get('head_name') or '')}</b> · "
            f"家庭人口 {esc(v.get('size') or '—')} 人 · 在册成员 <b class='zq-member-count'>{len(members)}</b> 人 · "
            f"{esc(v.get('poverty_status') or '')}</div>")  # fmt: skip
    rows = []
    for m in members:
        years = age(m.values.get("birth_date"), today)
        rows.append([m.values.get("name") or "", m.values.get("relation") or "", m.values.get("sex") or "",
                     "" if years is None else f"{years} 岁", m.values.get("work_status") or "",
                     m.values.get("health") or ""])  # fmt: skip
    people = (table(["姓名", "与户主关系", "性别", "年龄", "务工状况", "健康状况"], rows, "zq-household-members")
              if rows else '<div class="zq-none">尚未登记家庭成员</div>')  # fmt: skip
    seen = sees_income(user, ledger, record)
    card = income_card(v) if seen else None
    if card is not None:
        labels = {f.key: f.label for f in ledger.fields}
        lines = [[labels.get(k, k), display(ledger.field(k), v.get(k)) or "0 元"] for k in (*INCOMES, COSTS)
                 if k in labels]  # fmt: skip
        money = table(["收入项目", "金额"], lines, "zq-household-income")
        money += "".join(f'<div class="zq-income-line">{esc(line)}</div>' for line in card.explain())
    elif seen:
        money = '<div class="zq-none">尚未填写收入</div>'
    else:
        money = '<div class="zq-none zq-income-hidden">收入信息仅对本村干部可见</div>'
    return f'<div class="zq-card zq-household-card">{head}{people}<h3>收入</h3>{money}</div>'


async def build(session: OpsSession, store: LedgerStore, ledger: Ledger, record: Record) -> pn.viewable.Viewable:
    """The household card of a record (its members read in a thread)."""
    members = []
    if "member" in store.ledgers and store.may(session.user, store.ledgers["member"], "read"):
        members = await asyncio.to_thread(children, store, session.user, "member", record.id)
    return pane(card_html(store, session.user, ledger, record, members))
