"""账号与值班: accounts (create, disable, reset password, unlock, phone token) and the duty rosters the desk uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pandas as pd
import panel as pn

from adapters.accounts import AccountError
from core.access import DUTY_ZH, LEVEL_ZH, AccessDenied, User
from ops_center import admin
from ops_center.notice import notice_html
from ops_center.session import OpsSession

SLUG = "admin"
TITLE = "账号与值班"
PERMISSION = "users"
ORDER = 80
COLUMNS = ["用户名", "姓名", "级别", "职责", "乡镇", "村", "状态"]


def users_frame(users: list[User]) -> pd.DataFrame:
    """Accounts as a table (no hashes)."""
    rows = [[u.username, u.name, LEVEL_ZH[u.level], "、".join(DUTY_ZH.get(d, d) for d in u.duties), u.township,
             u.village, "停用" if u.disabled else "正常"] for u in users]  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


class AdminView:
    """One admin's session: the account table, the forms and the outcome line."""

    def __init__(self, session: OpsSession) -> None:
        self.session = session
        towns = [t.name for t in session.ctx.gazetteer.townships]
        me = session.user
        self.table = pn.widgets.Tabulator(users_frame([]), show_index=False, disabled=True, selectable=1,
                                          sizing_mode="stretch_width", height=320, name="users")  # fmt: skip
        self.outcome = pn.pane.HTML("", visible=False, sizing_mode="stretch_width")
        self.username = pn.widgets.TextInput(name="用户名(字母、数字、-、_)", max_length=40)
        self.name = pn.widgets.TextInput(name="姓名", max_length=40)
        self.level = pn.widgets.Select(name="级别", options={v: k for k, v in LEVEL_ZH.items()})
        self.duties = pn.widgets.CheckBoxGroup(name="职责", options={v: k for k, v in DUTY_ZH.items()}, inline=True)
        self.township = pn.widgets.Select(name="乡镇", options=["", *towns] if me.level == "county" else [me.township])
        self.village = pn.widgets.TextInput(name="村(村级账号)", max_length=40)
        self.roster_kind = pn.widgets.Select(name="值班表", options={v: k for k, v in admin.ROSTER_ZH.items()})
        self.roster_place = pn.widgets.TextInput(name="村或乡镇名称(县级值班可留空)", max_length=40)
        self.roster_user = pn.widgets.TextInput(name="值班人用户名", max_length=40)
        self.rosters = pn.widgets.Tabulator(pd.DataFrame(columns=["值班表", "地点", "值班人"]), show_index=False,
                                            disabled=True, sizing_mode="stretch_width", height=220, name="rosters")

    def _selected(self) -> str:
        rows = self.table.selection
        return str(self.table.value.iloc[rows[0]]["用户名"]) if rows else ""

    def _say(self, text: str, ok: bool) -> None:
        self.outcome.object, self.outcome.visible = notice_html(text, "success" if ok else "danger"), True

    async def refresh(self) -> None:
        """Reload the accounts and rosters this admin manages."""
        self.table.value = users_frame(await admin.visible_users(self.session))
        self.rosters.value = pd.DataFrame(await admin.rosters(self.session), columns=["值班表", "地点", "值班人"])

    def action(self, fn: Callable[[], Awaitable[str]]) -> Callable[[Any], Awaitable[None]]:
        """A button handler: touch the login, run, report the outcome (refusals as text), refresh."""

        async def run(_event: object) -> None:
            if not await self.session.touch():
                return
            try:
                self._say(await fn(), True)
            except (AccessDenied, AccountError) as exc:
                self._say(str(exc), False)
            await self.refresh()

        return run

    async def create(self) -> str:
        """Create the account described by the form."""
        username = (self.username.value or "").strip()
        user = User(username=username, name=(self.name.value or "").strip() or username, level=self.level.value,
                    duties=list(self.duties.value), township=self.township.value or "",
                    village=(self.village.value or "").strip())  # fmt: skip
        password = await admin.create_user(self.session, user)
        return f"已创建 {user.username},初始密码(仅显示一次,请当面交付):{password}"

    async def on_selected(self, what: str) -> str:
        """Apply one account action to the selected row."""
        name = self._selected()
        if not name:
            raise AccessDenied("请先在表格中选择一个账号")
        if what == "reset":
            return f"{name} 的新密码(仅显示一次):{await admin.reset_password(self.session, name)}"
        if what in ("disable", "enable"):
            await admin.set_disabled(self.session, name, what == "disable")
            return f"已{'停用' if what == 'disable' else '启用'} {name}"
        if what == "unlock":
            await admin.unlock(self.session, name)
            return f"已解锁 {name}"
        token = await admin.issue_phone_token(self.session, name)
        days = self.session.ctx.settings.push.token_ttl_s / 86400
        return f"{name} 的手机处置页令牌(仅显示一次,旧令牌已作废,{days:g} 天后失效):/responder#token={token}"

    def _on(self, what: str) -> Callable[[], Awaitable[str]]:
        return lambda: self.on_selected(what)

    async def roster(self) -> str:
        """Put the named person on the chosen roster."""
        kind = self.roster_kind.value
        place, who = (self.roster_place.value or "").strip(), (self.roster_user.value or "").strip()
        await admin.set_roster(self.session, kind, place, who)
        return f"已更新{admin.ROSTER_ZH[kind]}"

    def view(self) -> pn.viewable.Viewable:
        """The page body."""
        create = pn.widgets.Button(name="创建账号", button_type="primary")
        create.on_click(self.action(self.create))
        buttons = []
        for what, label in (("reset", "重置密码"), ("disable", "停用"), ("enable", "启用"), ("unlock", "解锁"),
                            ("token", "发放/重发手机令牌")):  # fmt: skip
            b = pn.widgets.Button(name=label, button_type="danger" if what == "disable" else "default")
            b.on_click(self.action(self._on(what)))
            buttons.append(b)
        save = pn.widgets.Button(name="设置值班", button_type="primary")
        save.on_click(self.action(self.roster))
        form = pn.Column(pn.pane.Markdown("#### 新建账号"), self.username, self.name, self.level, self.duties,
                         self.township, self.village, create, width=360)  # fmt: skip
        duty = pn.Column(pn.pane.Markdown("#### 值班表(事件升级与自动派单依据)"), self.roster_kind, self.roster_place,
                         self.roster_user, save, self.rosters, sizing_mode="stretch_width")  # fmt: skip
        accounts = pn.Column(pn.pane.Markdown("#### 账号"), self.table, pn.Row(*buttons), sizing_mode="stretch_width")
        return pn.Column(self.outcome, pn.Row(accounts, form, sizing_mode="stretch_width"), duty,
                         sizing_mode="stretch_width", scroll=True)  # fmt: skip


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The administration page of one session."""
    view = AdminView(session)
    pn.state.onload(view.refresh)
    return view.view()
