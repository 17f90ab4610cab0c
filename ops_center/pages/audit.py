"""审计日志: who did what, when and from where (logins, every ticket action, account and roster changes)."""

from __future__ import annotations

import pandas as pd
import panel as pn

from actors.ticket_routing import ACTION_ZH
from adapters import audit
from core.access import audit_in_scope
from core.clock import local_time
from ops_center.session import OpsSession

SLUG = "audit"
TITLE = "审计日志"
PERMISSION = "audit"
ORDER = 90
RECENT = 1000  # newest records read from the stream (ClickHouse `audit_log` keeps them all)
ACTION_LABELS = {
    **ACTION_ZH, "login": "登录", "logout": "退出登录", "audit_view": "查看审计", "user_create": "创建账号",
    "user_password_reset": "重置密码", "user_disable": "停用账号", "user_enable": "启用账号", "user_unlock": "解锁账号",
    "phone_token": "发放手机令牌", "password_change": "修改密码", "roster_set": "设置值班", "broadcast": "广播警示",
    "ticket_view_denied": "越权查看工单", "device_view_denied": "越权查看设备", "page_denied": "越权打开页面",
    "personal_view": "查看未脱敏个人信息", "ledger_denied": "越权访问台账", "ledger_view_denied": "台账请求被拒",
    "ledger_personal_view": "查看未脱敏台账信息", "ledger_create": "新增台账记录", "ledger_update": "修改台账记录",
    "ledger_delete": "删除台账记录", "ledger_restore": "恢复台账记录", "ledger_import": "导入台账",
    "ledger_export": "导出台账", "ledger_attachment_add": "上传台账附件", "ledger_attachment_read": "下载台账附件",
}  # fmt: skip
COLUMNS = ["时间", "用户", "操作", "对象", "结果", "来源地址", "详情"]


def audit_frame(records: list[dict[str, str]], who: str = "", what: str = "") -> pd.DataFrame:
    """Audit records as a table, filtered by user and action substrings."""
    def label(action: str) -> str:
        return ACTION_LABELS.get(action, action)

    rows = [[local_time(int(r["ts"])), r["user"], label(r["action"]), r["target"], "成功" if r["ok"] else "拒绝/失败",
             r["ip"], r["detail"]] for r in records
            if who in r["user"] and (what in r["action"] or what in label(r["action"]))]  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


async def visible_records(session: OpsSession, count: int = RECENT) -> list[dict[str, str]]:
    """The newest audit records in the user's area (a township sees its own accounts' records, not the county's)."""
    records = await audit.recent(session.ctx.redis, count)
    if session.user.level == "county":
        return records
    accounts = {u.username: u for u in await session.ctx.accounts.all()}
    return [r for r in records if audit_in_scope(session.user, accounts.get(r["user"]))]


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The audit page of one session (read-only; opening it is audited too)."""
    who = pn.widgets.TextInput(name="用户", max_length=40, width=180)
    what = pn.widgets.TextInput(name="操作", max_length=40, width=180)
    table = pn.widgets.Tabulator(audit_frame([]), show_index=False, disabled=True, sizing_mode="stretch_both",
                                 pagination="remote", page_size=50, name="audit")  # fmt: skip
    records: list[dict[str, str]] = []

    async def load(*_: object) -> None:
        nonlocal records
        await session.touch()
        records = await visible_records(session)
        table.value = audit_frame(records, (who.value or "").strip(), (what.value or "").strip())

    def refilter(*_: object) -> None:
        table.value = audit_frame(records, (who.value or "").strip(), (what.value or "").strip())

    async def opened() -> None:
        await session.audit("audit_view", "")
        await load()

    who.param.watch(refilter, "value")
    what.param.watch(refilter, "value")
    reload = pn.widgets.Button(name="刷新", button_type="primary", width=80)
    reload.on_click(load)
    pn.state.onload(opened)
    note = pn.pane.Markdown(f"显示最近 {RECENT} 条;完整记录保存在 ClickHouse `zq.audit_log`。")
    return pn.Column(pn.Row(who, what, reload, note), table, sizing_mode="stretch_both")
