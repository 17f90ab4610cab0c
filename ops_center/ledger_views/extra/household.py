"""户档案袋: a household's card beside its record: the head, its members with their ages, and the four income types
with the net and per-capita income of the income template (K = wages + production + property + transfers,
S = K − costs, T = S / size), shown only to viewers who see income."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import panel as pn

from ledgers.query import children
from ledgers.schema import Ledger
from ledgers.store import LedgerStore, Record
from ops_center.ledger_views.common import display
from ops_center.ledger_views.widgets import esc, pane, table
from ops_center.session import OpsSession

INCOMES = ("wages", "production_income", "property_income", "transfer_income")
COSTS = "costs"
CENT = Decimal("0.01")


def age(born: Any, today: dt.date) -> int | None:
    """Whole years from a birth date to today (None without a date)."""
    if not isinstance(born, dt.date):
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def income(values: dict[str, Any]) -> dict[str, Decimal | None]:
    """K (total), S (net: total less costs) and T (net per person) of a household's income fields."""
    total = sum((Decimal(str(values.get(k) or 0)) for k in INCOMES), Decimal(0))
    net = total - Decimal(str(values.get(COSTS) or 0))
    size = values.get("size")
    per = (net / Decimal(size)).quantize(CENT, ROUND_HALF_UP) if isinstance(size, int) and size > 0 else None
    return {"K": total.quantize(CENT), "S": net.quantize(CENT), "T": per}


def sees_income(ledger: Ledger, record: Record) -> bool:
    """Whether the viewer sees this household's income fields whole."""
    return not any(k in record.masked for k in (*INCOMES, COSTS) if k in {f.key for f in ledger.fields})


def card_html(store: LedgerStore, ledger: Ledger, record: Record, members: list[Record]) -> str:
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
    if sees_income(ledger, record):
        figures = income(v)
        labels = {f.key: f.label for f in ledger.fields}
        lines = [[labels.get(k, k), display(ledger.field(k), v.get(k)) or "0 元"] for k in (*INCOMES, COSTS)
                 if k in labels]  # fmt: skip
        per = f"{figures['T']} 元" if figures["T"] is not None else "—"
        lines += [["家庭总收入 K", f"{figures['K']} 元"], ["家庭纯收入 S = K − 生产经营费用", f"{figures['S']} 元"],
                  ["人均纯收入 T = S ÷ 家庭人口", per]]  # fmt: skip
        money = table(["收入项目", "金额"], lines, "zq-household-income")
    else:
        money = '<div class="zq-none zq-income-hidden">收入信息仅对本村干部可见</div>'
    return f'<div class="zq-card zq-household-card">{head}{people}<h3>收入</h3>{money}</div>'


async def build(session: OpsSession, store: LedgerStore, ledger: Ledger, record: Record) -> pn.viewable.Viewable:
    """The household card of a record (its members read in a thread)."""
    members = []
    if "member" in store.ledgers and store.may(session.user, store.ledgers["member"], "read"):
        members = await asyncio.to_thread(children, store, session.user, "member", record.id)
    return pane(card_html(store, ledger, record, members))
