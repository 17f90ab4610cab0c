"""HTML building blocks of the H5 pages: one small inline stylesheet, escaping, the page frame, responses."""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from aiohttp import web

from core.clock import local_time

CSS = """
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,sans-serif;background:#f5f6f8;color:#222}
header{background:#c62f2f;color:#fff;padding:10px 14px}header a{color:#fff;text-decoration:none}
main{padding:12px;max-width:640px;margin:auto}h1{font-size:20px;margin:4px 0}h2{font-size:17px;margin:12px 0 6px}
.card{background:#fff;border-radius:8px;padding:12px;margin:0 0 10px}a{color:#1d5fbf}
label{display:block;margin:10px 0 4px;font-weight:600}input,select,textarea{width:100%;font-size:16px;padding:8px;
border:1px solid #bbb;border-radius:6px}button{background:#c62f2f;color:#fff;border:0;border-radius:6px;
padding:10px 16px;font-size:16px;margin-top:12px;width:100%}.err{color:#c00;font-size:14px}.muted{color:#777;
font-size:14px}.msg{background:#fff3f3;border-left:4px solid #c00;padding:8px 10px;margin-bottom:10px}
.ok{background:#f0fff4;border-left:4px solid #2a8;padding:8px 10px;margin-bottom:10px}
ol,ul{padding-left:20px}nav a{display:inline-block;margin:4px 10px 4px 0}
"""


def esc(value: Any) -> str:
    """Any value as HTML text, every markup character escaped."""
    return html.escape("" if value is None else str(value), quote=True)


def page(title: str, body: str, *, status: int = 200, user_name: str = "") -> web.Response:
    """A whole H5 page: viewport meta, the inline stylesheet, a header with the home link, the body (already HTML)."""
    who = f' · {esc(user_name)} <a href="/h5/logout">退出</a>' if user_name else ' · <a href="/h5/login">登录</a>'
    text = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header><a href="/h5">乡村惠民服务</a>{who}</header><main><h1>{esc(title)}</h1>{body}</main></body></html>'
    )
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def refusal(title: str, reason: str, status: int = 400, user_name: str = "") -> web.Response:
    """A page that only says why the request was refused, with a 4xx status."""
    return page(title, f'<div class="msg">{esc(reason)}</div><p><a href="/h5">返回首页</a></p>', status=status,
                user_name=user_name)  # fmt: skip


def day(ms: int | None) -> str:
    """A Beijing date from epoch ms ("" for none)."""
    return local_time(ms, "%Y-%m-%d") if ms else ""


def moment(ms: int | None) -> str:
    """A Beijing date and minute from epoch ms ("" for none)."""
    return local_time(ms, "%Y-%m-%d %H:%M") if ms else ""


def money(amount: Decimal | None) -> str:
    """An amount in 元, or 待核定 when there is none yet."""
    return "待核定" if amount is None else f"{amount}元"
