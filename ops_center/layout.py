"""The frame around every page: header with the user's area, navigation by permission, logout, login watchdog."""

from __future__ import annotations

import asyncio
import functools
import html
import time
from types import ModuleType
from typing import Any

import panel as pn

from core.access import DUTY_ZH, LEVEL_ZH, can, scope_label
from ops_center.auth import LOGOUT_URL, logout_token
from ops_center.session import OpsSession

TOUCH_EVERY_S = 30.0  # browser activity refreshes the login's idle timer at most this often
CSS = """
:host, body { font-family: "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif; }
.zq-header { display:flex; align-items:center; gap:18px; background:#0d2137; color:#e8eef5; padding:6px 16px;
  width:100%; box-sizing:border-box; }
.zq-header a { color:#cfe3ff; text-decoration:none; font-size:14px; }
.zq-header a.on { color:#fff; font-weight:bold; border-bottom:2px solid #2d7ff9; }
.zq-header .brand { font-size:17px; font-weight:bold; margin-right:12px; }
.zq-header .who { margin-left:auto; font-size:13px; color:#9fb3c8; }
.zq-header form { margin:0; }
.zq-header button { background:none; border:0; padding:0; color:#cfe3ff; font:inherit; font-size:14px; cursor:pointer; }
"""


@functools.cache
def page_modules() -> tuple[ModuleType, ...]:
    """The page modules under ops_center/pages, in navigation order (adding a page touches no list); found once."""
    import importlib
    import pkgutil

    import ops_center.pages as pages

    found = [importlib.import_module(f"{pages.__name__}.{m.name}") for m in pkgutil.iter_modules(pages.__path__)]
    return tuple(sorted((m for m in found if hasattr(m, "SLUG")), key=lambda m: (getattr(m, "ORDER", 100), m.SLUG)))


def header(session: OpsSession, current: str) -> pn.pane.HTML:
    """Brand, navigation (only pages the user may open), the user's area and the logout button (a POST form)."""
    user = session.user
    links = []
    for mod in page_modules():
        if getattr(mod, "NAV", True) and can(user, mod.PERMISSION):
            cls = ' class="on"' if current == mod.SLUG else ""
            links.append(f'<a href="/{mod.SLUG}"{cls}>{html.escape(mod.TITLE)}</a>')
    duties = "、".join(DUTY_ZH.get(d, d) for d in user.duties)
    who = f"{html.escape(scope_label(user))} · {html.escape(user.name)}({LEVEL_ZH[user.level]}{duties})"
    body = (
        '<div class="zq-header"><span class="brand">舟曲县乡村运行中心</span>' + "".join(links)
        + f'<span class="who">{who}</span><form method="post" action="{LOGOUT_URL}">'
        f'<input type="hidden" name="token" value="{logout_token(session.sid)}">'
        '<button id="logout" type="submit">退出登录</button></form></div>'
    )  # fmt: skip
    return pn.pane.HTML(body, sizing_mode="stretch_width", margin=0, stylesheets=[CSS])


def frame(session: OpsSession, mod: ModuleType, body: Any) -> pn.viewable.Viewable:
    """The page with its header; a periodic check closes the session when its login ends (logout, idle, disable)."""
    kiosk_page = bool(getattr(mod, "KEEPALIVE", False))  # refreshes itself: only a kiosk account's login stays alive

    async def watchdog() -> None:
        await session.check(refreshes=kiosk_page)

    period = int(session.ctx.settings.ops.session_check_s * 1000)
    pn.state.add_periodic_callback(watchdog, period=period)  # type: ignore[arg-type]  # Panel awaits coroutines
    last_touch = [time.monotonic()]

    def activity(event: Any) -> None:  # a change sent by the browser (a filter, a tap, typing) is activity
        now = time.monotonic()
        if getattr(event, "setter", None) is not None and now - last_touch[0] >= TOUCH_EVERY_S:
            last_touch[0] = now
            asyncio.get_running_loop().create_task(session.touch())

    if pn.state.curdoc is not None and not kiosk_page:  # on a self-refreshing page no change is a person's doing
        pn.state.curdoc.on_change(activity)
    return pn.Column(header(session, mod.SLUG), body, sizing_mode="stretch_both", margin=0)
