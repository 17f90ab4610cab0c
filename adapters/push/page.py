"""The responder page (/responder), its config and the photo upload (POST /responder/photo), as an aiohttp app."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import re
import uuid
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import BodyPartReader, web

from adapters.push.store import PushStore
from adapters.push.tokens import bearer, user_for
from core.settings import PushSettings

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
MAGIC = ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"))


def image_kind(head: bytes) -> str | None:
    """File extension for JPEG, PNG or WebP content, else None."""
    for magic, ext in MAGIC:
        if head.startswith(magic):
            return ext
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _csp(html: str) -> str:
    """Content-Security-Policy allowing only this page's own inline script and style (by hash)."""

    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.DOTALL)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)

    return (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "connect-src 'self' ws: wss:; img-src 'self' blob: data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


class ResponderPage:
    """Serves the page and accepts photos from token holders; the websocket itself is the PushServer."""

    def __init__(self, redis: aioredis.Redis, settings: PushSettings, photos_dir: Path, store: PushStore) -> None:
        self.redis = redis
        self.store = store
        self.settings = settings
        self.photos_dir = photos_dir
        self.push_port = settings.port  # the PushService sets the bound port
        self.html = (STATIC / "responder.html").read_text(encoding="utf-8")
        self.headers = {
            "Content-Security-Policy": _csp(self.html), "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
        }  # fmt: skip
        self.app = web.Application(client_max_size=settings.max_photo_bytes + 64 * 1024)
        self.app.router.add_get("/responder", self.page)
        self.app.router.add_get("/responder/config", self.config)
        self.app.router.add_post("/responder/photo", self.photo)
        self.app.router.add_get("/responder/evidence", self.evidence)

    async def page(self, request: web.Request) -> web.Response:
        """The mobile page (Chinese UI)."""
        return web.Response(text=self.html, content_type="text/html", charset="utf-8", headers=self.headers)

    async def config(self, request: web.Request) -> web.Response:
        """Where the page's websocket connects, and the photo size limit."""
        body = {"push_url": self.settings.public_push_url, "push_port": self.push_port,
                "max_photo_bytes": self.settings.max_photo_bytes}  # fmt: skip
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    async def photo(self, request: web.Request) -> web.Response:
        """Store one photo (multipart field `photo`) under var/photos with a generated name; returns its path."""
        user = await user_for(self.redis, bearer(request.headers.get("Authorization")))
        if user is None:
            return _error(401, "missing or unknown token", {"WWW-Authenticate": "Bearer"})
        limit = self.settings.max_photo_bytes
        if request.content_length is not None and request.content_length > limit + 64 * 1024:
            return _error(413, f"photo larger than {limit} bytes")
        try:
            reader = await request.multipart()
            part = await reader.next()
            while part is not None and (not isinstance(part, BodyPartReader) or part.name != "photo"):
                part = await reader.next()
        except (ValueError, AssertionError):
            return _error(400, "expected multipart/form-data with a `photo` field")
        if part is None:
            return _error(400, "missing `photo` field")
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) > limit:
                return _error(413, f"photo larger than {limit} bytes")
        ext = image_kind(bytes(data[:16]))
        if ext is None:
            return _error(415, "photo must be JPEG, PNG or WebP")
        path = self.photos_dir / f"{uuid.uuid4().hex}.{ext}"
        await asyncio.to_thread(_write, path, bytes(data))
        log.info("photo %s uploaded by user %s (%d bytes)", path.name, user, len(data))
        return web.json_response({"path": str(path)}, status=201)


    async def evidence(self, request: web.Request) -> web.Response:
        """The evidence picture (snapshot under var/snapshots) of a ticket the token's user currently holds."""
        user = await user_for(self.redis, bearer(request.headers.get("Authorization")))
        if user is None:
            return _error(401, "missing or unknown token", {"WWW-Authenticate": "Bearer"})
        ticket = request.query.get("ticket", "")
        wanted = await self.store.evidence(user, ticket) if 0 < len(ticket) <= 128 else None
        root = (self.settings.var_dir / "snapshots").resolve()
        path = (self.settings.var_dir / wanted).resolve() if wanted else root
        if not wanted or not wanted.endswith(".jpg") or not path.is_relative_to(root) or not path.is_file():
            return _error(404, "no evidence of a ticket dispatched to you")  # another's ticket looks like none
        data = await asyncio.to_thread(path.read_bytes)
        return web.Response(body=data, content_type="image/jpeg", headers=self.headers)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers=headers)
