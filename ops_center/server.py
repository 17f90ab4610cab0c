"""Builds and runs the operations center: one Bokeh/Panel server, the login provider, every page and the live feed."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from types import ModuleType
from typing import Any

import panel as pn
from bokeh.server.server import Server
from tornado.web import RedirectHandler

from core.access import can
from ops_center.auth import SessionAuth
from ops_center.context import OpsContext
from ops_center.evidence import EvidenceHandler
from ops_center.layout import frame, page_modules
from ops_center.ledger_routes import patterns as ledger_patterns
from ops_center.live import LiveState
from ops_center.notice import notice
from ops_center.security import headers_transform
from ops_center.session import OpsSession

log = logging.getLogger(__name__)
HOME = "/map"
_audits: set[asyncio.Task[None]] = set()  # refusal audits still being written


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _factory(ctx: OpsContext, auth: SessionAuth, mod: ModuleType) -> Any:
    """A per-session page builder: the page only for a live login with the page's permission."""

    def build() -> pn.viewable.Viewable:
        session = OpsSession.current(ctx, auth.sessions)
        if session is None:  # Bokeh's auth already refused the request; this is the belt to its braces
            return pn.pane.HTML("请先登录")
        if not can(session.user, mod.PERMISSION):
            task = asyncio.get_running_loop().create_task(
                session.audit("page_denied", mod.SLUG, ok=False, permission=mod.PERMISSION))
            _audits.add(task)  # held until done (the loop keeps only weak references)
            task.add_done_callback(_audits.discard)
            return frame(session, mod, notice("您没有访问此页面的权限。"))
        return frame(session, mod, mod.build(session))

    return build


def upload_limit(ctx: OpsContext) -> int:
    """The largest browser message: a ledger import or an attachment sent from a page (base64, a third larger)."""
    records = ctx.settings.records
    return int(max(records.import_max_mb, records.attachment_max_mb, 15) * 1.4 * 2**20)


class OpsServer:
    """The running operations center in the current event loop."""

    def __init__(self, ctx: OpsContext) -> None:
        self.ctx = ctx
        self.server: Server | None = None
        self.port = 0
        self.live_task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Start the live feed and the HTTP/websocket server; returns the port."""
        ops = self.ctx.settings.ops
        self.port = ops.port or _free_port(ops.host)
        self.ctx.live = LiveState(self.ctx)
        await self.ctx.live.refresh()
        self.live_task = asyncio.get_running_loop().create_task(self.ctx.live.run())
        auth = SessionAuth(self.ctx.accounts)
        pages = {m.SLUG: _factory(self.ctx, auth, m) for m in page_modules()}
        origins = [f"{h}:{self.port}" for h in {ops.host, "127.0.0.1", "localhost"}] + ops.public_origins
        self.server = pn.serve(
            pages, port=self.port, address=ops.host, websocket_origin=origins, show=False, start=False,
            title={m.SLUG: f"{m.TITLE} · 舟曲县乡村运行中心" for m in page_modules()}, auth_provider=auth,
            extra_patterns=[(r"/", RedirectHandler, {"url": HOME}),
                            (r"/evidence", EvidenceHandler, {"ctx": self.ctx}), *ledger_patterns(self.ctx)],
            check_unused_sessions=5000, unused_session_lifetime=15000, keep_alive=10000, verbose=False,
            websocket_max_message_size=upload_limit(self.ctx),
        )  # fmt: skip
        self.server._tornado.add_transform(headers_transform(ops.tile_url))  # Bokeh offers no public hook
        self.server.start()
        gc.freeze()  # what start-up loaded stays put: later full collections walk only what sessions create
        log.info("operations center on http://%s:%d", ops.host, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop serving and the live feed."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.live_task is not None:
            self.live_task.cancel()
            self.live_task = None
