"""GET /evidence?path=snapshots/<device>/<event>.jpg: a snapshot for signed-in users whose area holds the device."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tornado.web import RequestHandler

from adapters import registry
from core.access import can, in_scope
from ops_center.auth import COOKIE
from ops_center.context import OpsContext


class EvidenceHandler(RequestHandler):
    """Serves snapshot JPEGs under var/snapshots after the login, permission and area checks; 4xx with a reason."""

    def initialize(self, ctx: OpsContext) -> None:
        self.ctx = ctx

    async def get(self) -> None:
        user = await self.ctx.accounts.session_user(self.get_cookie(COOKIE))
        if user is None or not can(user, "view"):
            self.send_error(401 if user is None else 403, reason="login required" if user is None else "forbidden")
            return
        wanted = self.get_argument("path", "")
        root = (self.ctx.var_dir / "snapshots").resolve()
        path = (self.ctx.var_dir / wanted).resolve()
        if not wanted.endswith(".jpg") or not path.is_relative_to(root) or path.parent.parent != root:
            self.send_error(400, reason="path must name a snapshot JPEG under snapshots/<device>/")
            return
        device = Path(wanted).parent.name
        profile = (await registry.load_some(self.ctx.redis, [device])).get(device)
        if profile is None or not in_scope(user, profile.township, profile.village):
            self.send_error(403, reason="device outside your area")
            return
        if not path.is_file():
            self.send_error(404, reason="no such snapshot")
            return
        self.set_header("Content-Type", "image/jpeg")
        self.set_header("Cache-Control", "private, max-age=3600")
        self.write(await asyncio.to_thread(path.read_bytes))
