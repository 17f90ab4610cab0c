"""修改密码: a signed-in user changes their own password (policy-checked); every session of the account then ends."""

from __future__ import annotations

import panel as pn

from adapters.accounts import AccountError
from ops_center.notice import notice_html
from ops_center.session import OpsSession

SLUG = "account"
TITLE = "修改密码"
PERMISSION = "view"
ORDER = 990  # last: it is about the account, not the county


async def change_password(session: OpsSession, current: str, new: str, again: str) -> str:
    """Check and apply the change; returns what to tell the user (raises AccountError with the reason)."""
    if new != again:
        raise AccountError("两次输入的新密码不一致")
    if not await session.touch():
        raise AccountError("登录已失效,请重新登录")
    try:
        await session.ctx.accounts.change_own_password(session.user.username, current, new)
    except AccountError as exc:
        await session.audit("password_change", session.user.username, ok=False, why=str(exc))
        raise
    await session.audit("password_change", session.user.username)
    return "密码已修改,请用新密码重新登录。"


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The password form of one session."""
    policy = session.ctx.settings.ops.min_password_length
    current = pn.widgets.PasswordInput(name="当前密码", width=320)
    new = pn.widgets.PasswordInput(name=f"新密码(至少 {policy} 位,含大写、小写、数字、符号中的三类)", width=320)
    again = pn.widgets.PasswordInput(name="再次输入新密码", width=320)
    outcome = pn.pane.HTML("", visible=False, width=420)
    save = pn.widgets.Button(name="修改密码", button_type="primary", width=120)

    async def run(_event: object) -> None:
        try:
            text = await change_password(session, current.value or "", new.value or "", again.value or "")
        except AccountError as exc:
            outcome.object, outcome.visible = notice_html(str(exc)), True
            return
        outcome.object, outcome.visible = notice_html(text, "success"), True
        session.close()  # the change ended every session of the account, this one too

    save.on_click(run)
    return pn.Column(pn.pane.Markdown("### 修改密码"), current, new, again, save, outcome)
