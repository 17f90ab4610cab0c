"""One browser session of the operations center: its user, login session id, idle timer, audit and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import panel as pn

from adapters import audit
from core.access import User
from ops_center.auth import COOKIE
from ops_center.context import OpsContext

log = logging.getLogger(__name__)


class OpsSession:
    """The signed-in user of one Bokeh document; pages call `touch` on every action and `audit` for each one."""

    def __init__(self, ctx: OpsContext, user: User, sid: str, ip: str) -> None:
        self.ctx, self.user, self.sid, self.ip = ctx, user, sid, ip
        self.closed = False

    @classmethod
    def current(cls, ctx: OpsContext, sessions: dict[str, User]) -> OpsSession | None:
        """The session of the document being built (None when the request carries no live login)."""
        cookies = pn.state.cookies or {}
        user = sessions.get(cookies.get(COOKIE, ""))
        doc = pn.state.curdoc
        req: Any = getattr(doc.session_context, "request", None) if doc and doc.session_context else None
        ip = getattr(req, "remote_ip", "") or ""  # the peer address (client headers are not trusted)
        if user is None or not cookies.get(COOKIE):
            return None
        return cls(ctx, user, cookies[COOKIE], str(ip))

    async def touch(self) -> bool:
        """Refresh the idle timer; False when the login has ended (the session then closes)."""
        user = await self.ctx.accounts.session_user(self.sid)
        if user is None:
            self.close()
            return False
        self.user = user
        return True

    async def check(self, *, refreshes: bool = False) -> bool:
        """The periodic login check; a page's own refreshes count as activity only for a kiosk account's session."""
        return await (self.touch() if refreshes and "kiosk" in self.user.duties else self.alive())

    async def alive(self) -> bool:
        """Whether the login still exists (without refreshing the idle timer); closes the session if not."""
        if await self.ctx.accounts.session_user(self.sid, touch=False) is None:
            self.close()
            return False
        return True

    async def audit(self, action: str, target: str = "", *, ok: bool = True, **detail: Any) -> None:
        """Record an action of this user (who, what, when, from where)."""
        await audit.record(self.ctx.redis, self.user.username, action, target, ok=ok, ip=self.ip, detail=detail)

    def close(self) -> None:
        """End this browser session: send it to the login page and close its websocket."""
        if self.closed:
            return
        self.closed = True
        doc = pn.state.curdoc
        with contextlib.suppress(Exception):
            pn.state.location.reload = True  # type: ignore[union-attr]  # the reload lands on /login
        session = getattr(doc.session_context, "_session", None) if doc and doc.session_context else None

        def _drop() -> None:
            for conn in list(getattr(session, "_subscribed_connections", ())):
                with contextlib.suppress(Exception):
                    conn._socket.close()
            log.info("closed browser session of %s (login ended)", self.user.username)

        asyncio.get_running_loop().call_later(0.3, _drop)
