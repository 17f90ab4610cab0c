"""The push websocket: responders connect to /push with a token; dispatches in, acks and ticket actions out."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from adapters.bus import Consumer, Entry, raise_if_cancelled
from adapters.push.settings import PushSettings
from adapters.push.store import COMMANDS, DISPATCH, GROUP, PushStore, decode_entry, now_ms
from adapters.push.tokens import bearer, user_for
from core.incidents import Dispatch, TicketCommand
from core.settings import BusSettings

log = logging.getLogger(__name__)
ACTIONS = ("start", "arrive", "resolve")
PHOTO_NAME = re.compile(r"^[0-9a-f]{32}\.(jpg|png|webp)$")
_SECRET = re.compile(r"(token=)[^&\s'\"]*|(Bearer\s+)\S+", re.IGNORECASE)


class _Redact(logging.Filter):
    """Hide tokens (query parameter or bearer header) in the websocket library's debug logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "token=" in text.lower() or "bearer" in text.lower():
            record.msg, record.args = _SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "***", text), None
        return True


ws_log = logging.getLogger("adapters.push.ws")
ws_log.addFilter(_Redact())


class Rejected(Exception):
    """A phone message refused with a reason; the connection stays open."""


def dispatch_json(d: Dispatch) -> str:
    """The websocket message for a dispatch: {"type": "dispatch", ...dispatch fields}."""
    return json.dumps({"type": "dispatch", **msgspec.to_builtins(d)}, ensure_ascii=False)


def photo_ok(photos_dir: Path, photo: str) -> bool:
    """True when `photo` is a path the photo upload returned and the file is there."""
    name = Path(photo).name
    return bool(PHOTO_NAME.match(name)) and photo == str(photos_dir / name) and (photos_dir / name).is_file()


class PushServer:
    """Websocket server plus the `dispatch` stream consumer; every state change is in Redis first."""

    def __init__(self, redis: aioredis.Redis, settings: PushSettings, bus: BusSettings, photos_dir: Path) -> None:
        self.redis = redis
        self.settings = settings
        self.photos_dir = photos_dir
        self.store = PushStore(redis, int(settings.sms_after_s * 1000), settings.record_ttl_s)
        self.consumer = Consumer(redis, DISPATCH, GROUP, settings.consumer, bus)
        self.connections: dict[str, dict[ServerConnection, set[str]]] = {}  # user -> connection -> ids sent on it
        self.port = settings.port
        self._server: Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the consumer group, listen, and start consuming dispatches."""
        await self.consumer.ensure_group()
        self._server = await serve(
            self._handle, self.settings.host, self.settings.port, process_request=self._check,
            max_size=self.settings.max_message_bytes, logger=ws_log, server_header=None,
        )  # fmt: skip
        self.port = self._server.sockets[0].getsockname()[1]
        self._task = asyncio.create_task(self._consume(), name="push-consume")

    async def stop(self) -> None:
        """Stop consuming and close every connection (pending dispatches stay in Redis)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        """Before the upgrade: path, then Origin (403), then token (401); never logs the token."""
        path, _, query = request.path.partition("?")
        if path != "/push":
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        if not self._origin_ok(request.headers):
            log.warning("push handshake refused: origin not allowed")
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        token = bearer(request.headers.get("Authorization")) or next(iter(parse_qs(query).get("token", [])), None)
        user = await user_for(self.redis, token)
        if user is None:
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "missing or unknown token\n")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        connection.username = user
        return None

    def _origin_ok(self, headers: Headers) -> bool:
        origins = headers.get_all("Origin")
        if not origins:
            return self.settings.allow_missing_origin
        return len(origins) == 1 and origins[0] in self.settings.allowed_origins

    async def _handle(self, ws: ServerConnection) -> None:
        user = ws.username
        sent: set[str] = set()
        self.connections.setdefault(user, {})[ws] = sent  # registered before the resend, so nothing slips between
        try:
            await self.store.mark_online([user], now_ms() + 3 * int(self.settings.sms_check_s * 1000))
            for d in await self.store.pending(user):
                await _send_once(ws, sent, d)
            async for raw in ws:
                reply = await self._reply(user, raw)
                await ws.send(json.dumps(reply, ensure_ascii=False))
        except ConnectionClosed:
            pass
        finally:
            conns = self.connections.get(user, {})
            conns.pop(ws, None)
            if not conns:
                self.connections.pop(user, None)
                await self.store.mark_offline(user)

    async def _reply(self, user: str, raw: str | bytes) -> dict[str, Any]:
        try:
            if isinstance(raw, bytes):
                raise Rejected("expected a JSON text message")
            try:
                msg = json.loads(raw)
            except ValueError:
                raise Rejected("malformed JSON") from None
            if not isinstance(msg, dict):
                raise Rejected("message must be a JSON object")
            kind = msg.get("type")
            if kind == "ack":
                return await self._ack(user, msg)
            if kind == "action":
                return await self._action(user, msg)
            if kind == "ping":
                return {"type": "pong"}
            raise Rejected("unknown message type")
        except Rejected as exc:
            return {"type": "error", "error": str(exc)}
        except RedisError:
            log.exception("push: Redis failed while handling a message of user %s", user)
            return {"type": "error", "error": "temporarily unavailable, retry"}

    async def _ack(self, user: str, msg: dict[str, Any]) -> dict[str, Any]:
        dispatch_id = _text(msg, "dispatch_id", 256, required=True)
        if not await self.store.ack(user, dispatch_id):
            raise Rejected("unknown dispatch_id")
        return {"type": "acked", "dispatch_id": dispatch_id}

    async def _action(self, user: str, msg: dict[str, Any]) -> dict[str, Any]:
        ticket_id = _text(msg, "ticket_id", 128, required=True)
        action = msg.get("action")
        if action not in ACTIONS:
            raise Rejected("action must be one of start, arrive, resolve")
        note = _text(msg, "note", 2000)
        photo = _text(msg, "photo", 512)
        if photo and not photo_ok(self.photos_dir, photo):
            raise Rejected("photo must be a path returned by the photo upload")
        key = _text(msg, "key", 128) or f"push-{uuid.uuid4().hex}"
        if not await self.store.may_act(user, ticket_id):
            raise Rejected("ticket was not dispatched to you")
        cmd = TicketCommand(key=key, ticket_id=ticket_id, action=action, actor=user, ts=now_ms(), note=note,
                            photo=photo)  # fmt: skip
        await self.redis.xadd(COMMANDS, {b"c": msgspec.msgpack.encode(cmd)})
        log.info("user %s: %s on ticket %s", user, action, ticket_id)
        return {"type": "accepted", "ticket_id": ticket_id, "action": action, "key": key}

    async def _consume(self) -> None:
        while True:
            try:
                entries = await self.consumer.read()
                if entries:
                    await self._take(entries)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("push: dispatch batch failed; retrying")
                self.consumer.retry_pending()
                await asyncio.sleep(1.0)
            raise_if_cancelled()

    async def _take(self, entries: list[Entry]) -> None:
        good: list[tuple[bytes, Dispatch]] = []
        bad: list[Entry] = []
        for entry in entries:
            try:
                good.append((entry[0], decode_entry(entry)))
            except (KeyError, msgspec.DecodeError, msgspec.ValidationError):
                bad.append(entry)
        if bad:
            await self.consumer.dead_letter(bad, "malformed dispatch entry")
        for d in await self.store.store(self.consumer, good) if good else []:
            await self.deliver(d)

    async def deliver(self, d: Dispatch) -> None:
        """Send a stored dispatch to the recipient's open connections here (a slow one is skipped)."""
        for ws, sent in list(self.connections.get(d.recipient, {}).items()):
            try:
                async with asyncio.timeout(5.0):
                    await _send_once(ws, sent, d)
            except (ConnectionClosed, TimeoutError):
                pass


async def _send_once(ws: ServerConnection, sent: set[str], d: Dispatch) -> None:
    """Send a dispatch on a connection unless the resend on connect or the live feed already did."""
    if d.dispatch_id not in sent:
        sent.add(d.dispatch_id)
        await ws.send(dispatch_json(d))


def _text(msg: dict[str, Any], field: str, limit: int, required: bool = False) -> str:
    value = msg.get(field, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit:
        raise Rejected(f"{field} must be a string of at most {limit} characters")
    if required and not value:
        raise Rejected(f"{field} is required")
    return value
