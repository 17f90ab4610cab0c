"""The village committee hands a villager without SMS a login code for the phone end (乡村惠民服务)."""

from __future__ import annotations

import asyncio
import html

import panel as pn

from adapters.citizen.login import PHONE, VILLAGE_CODE_TTL_S, issue_village_code
from core.events import now_ms
from core.personal import mask
from ledgers.query import ListQuery, list_records
from ops_center.session import OpsSession


class VillageCode:
    """A phone input and a button: the code is shown once to the officer, who passes it on in person."""

    def __init__(self, session: OpsSession) -> None:
        self.session = session
        self.phone = pn.widgets.TextInput(name="村民手机号", max_length=11, css_classes=["zq-code-phone"])
        self.button = pn.widgets.Button(name="发放登录码", button_type="primary", css_classes=["zq-code-issue"])
        self.result = pn.pane.HTML("", css_classes=["zq-code-result"])
        self.button.on_click(self._clicked)

    async def _clicked(self, _event: object) -> None:
        await self.issue()

    async def issue(self) -> str | None:
        """Issue a code for the phone if it is a member of a household in the officer's area; None when refused."""
        phone, user, store = (self.phone.value or "").strip(), self.session.user, self.session.ctx.ledgers
        if user.level != "village" or store is None or "member" not in store.ledgers:
            self.result.object = "<div>只有村干部可以为本村村民发放登录码</div>"
            return None
        if not PHONE.match(phone):
            self.result.object = "<div>请输入11位手机号</div>"
            return None
        q = ListQuery(lookup=("phone", phone), size=1)
        rows = (await asyncio.to_thread(list_records, store, user, "member", q)).rows
        if not rows:
            self.result.object = "<div>本村户情档案中没有该手机号</div>"
            await self.session.audit("citizen_code_issue", mask("phone", phone), ok=False, reason="not a member")
            return None
        code = await issue_village_code(self.session.ctx.redis, phone, now_ms())
        await self.session.audit("citizen_code_issue", mask("phone", phone))
        days = VILLAGE_CODE_TTL_S // 86400
        shown = mask("phone", phone)
        self.result.object = (f'<div class="zq-code">登录码 <b>{html.escape(code)}</b>({days}天内有效,仅显示一次),'
                              f"请当面交给村民,在“乡村惠民服务”用手机号{shown}和此码登录。</div>")  # fmt: skip
        return code

    def view(self) -> pn.viewable.Viewable:
        """The panel."""
        return pn.Column(self.phone, self.button, self.result, sizing_mode="stretch_width")
