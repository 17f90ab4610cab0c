"""The push websocket: responders connect to /push with a token; dispatches in, acks and ticket actions out."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
import weakref
from http import HTTPStatus
from pathlib import Path
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from adapters.audit import record
from adapters.bus import Consumer, Entry, raise_if_cancelled, run_rounds
from adapters.push.store import COMMANDS, DISPATCH, GROUP, PushStore, decode_entry, now_ms
from adapters.push.tokens import MAX_TOKEN_CHARS, REVOKED, bearer, token_hash, user_for_hash
from core.incidents import Dispatch, TicketCommand
from core.settings import BusSettings, PushSettings

log = logging.getLogger(__name__)
ACTIONS = ("start", "arrive", "resolve")
TRIM_EVERY_S = 60.0  # how often the consumer applies bus.retention to the dispatch stream
PHOTO_NAME = re.compile(r"^[0-9a-f]{32}\.(jpg|png|webp)$")
PROTOCOL = Subprotocol("zq-push")  # the page offers it with "zq-token.<token>" (browsers cannot set headers)
TOKEN_PROTOCOL = "zq-token."
CLOSE_REVOKED = 4401  # close code: the token was revoked or expired, or the account disabled
RECHECK_S = 10.0  # open connections' tokens are checked this often (pub/sub is the fast path)
_SECRET = re.compile(r"(zq-token\.)[^,\s'\"]*|(Bearer\s+)\S+", re.IGNORECASE)


class _Redact(logging.Filter):
    """Hide tokens (bearer header or token subprotocol) in the websocket library's debug logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "zq-token." in text.lower() or "bearer" in text.lower():
            record.msg, record.args = _SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "***", text), None
        return True


ws_log = logging.getLogger("adapters.push.ws")
ws_log.addFilter(_Redact())


class Rejected(Exception):
    """A phone message refused with a reason; the connection stays open."""


def dispatch_json(d: Dispatch) -> str:
    """The websocket message for a dispatch: {"type": "dispatch", ...dispatch fields}."""
    return json.dumps({"type": "dispatch", **msgspec.to_builtins(d)}, ensure_ascii=False)


def handshake_token(headers: Headers) -> str | None:
    """The token of an `Authorization: Bearer` header, else of a `zq-token.<token>` subprotocol offer."""
    if token := bearer(headers.get("Authorization")):
        return token
    offers = (p.strip() for h in headers.get_all("Sec-WebSocket-Protocol") for p in h.split(","))
    return next((p.removeprefix(TOKEN_PROTOCOL) for p in offers if p.startswith(TOKEN_PROTOCOL)), None)


def _select(connection: ServerConnection, offered: object) -> Subprotocol | None:
    """Answer `zq-push` when offered (never echo the token offer); clients with a header offer none."""
    return PROTOCOL if isinstance(offered, list | tuple) and PROTOCOL in offered else None


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
        self.token_of: weakref.WeakKeyDictionary[ServerConnection, str] = weakref.WeakKeyDictionary()  # hash
        self.port = settings.port
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._rechecked = time.monotonic()

    async def start(self) -> None:
        """Create the consumer group, listen, and start consuming dispatches."""
        await self.consumer.ensure_group()
        self._server = await serve(
            self._handle, self.settings.host, self.settings.port, process_request=self._check,
            max_size=self.settings.max_message_bytes, logger=ws_log, server_header=None, select_subprotocol=_select,
        )  # fmt: skip
        self.port = self._server.sockets[0].getsockname()[1]
        self._tasks = [asyncio.create_task(self.consume(), name="push-consume"),
                       asyncio.create_task(self._revocations(), name="push-revocations")]  # fmt: skip

    async def stop(self) -> None:
        """Stop consuming and close every connection (pending dispatches stay in Redis)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        """Before the upgrade: path, then Origin (403), then token and account (401); never logs the token."""
        if request.path.partition("?")[0] != "/push":
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        if not self._origin_ok(request.headers):
            log.warning("push handshake refused: origin not allowed")
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        token = handshake_token(request.headers)
        hashed = token_hash(token) if token and len(token) <= MAX_TOKEN_CHARS else ""
        user = await user_for_hash(self.redis, hashed) if hashed else None
        if user is None:
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "missing, unknown or expired token\n")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        connection.username = user
        self.token_of[connection] = hashed
        return None

    async def _valid(self, ws: ServerConnection) -> bool:
        """Whether the connection's token still names its user (not revoked or expired, account not disabled)."""
        return await user_for_hash(self.redis, self.token_of.get(ws, "")) == ws.username

    async def recheck(self, user: str | None = None) -> int:
        """Close the open connections (of one user, or all) whose token no longer holds; returns how many."""
        users = [user] if user is not None else list(self.connections)
        bad = [ws for name in users for ws in list(self.connections.get(name, {})) if not await self._valid(ws)]
        await asyncio.gather(*(ws.close(CLOSE_REVOKED, "token revoked or expired") for ws in bad))  # none waits
        if bad:
            log.info("push: closed %d connection(s) whose token no longer holds", len(bad))
        return len(bad)

    async def recheck_every(self) -> None:
        """`recheck` all connections when RECHECK_S have passed (expired tokens; call it every check)."""
        if time.monotonic() - self._rechecked >= RECHECK_S:
            self._rechecked = time.monotonic()
            await self.recheck()

    async def _revocations(self) -> None:
        """Close a user's connections as soon as any process revokes their tokens (pub/sub `push:revoked`)."""
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as sub:
                    await sub.subscribe(REVOKED)
                    await self.recheck()  # whatever was revoked while this was not subscribed
                    while True:
                        msg = await sub.get_message(timeout=1.0)
                        if msg is not None:
                            data = msg["data"]
                            await self.recheck(data.decode() if isinstance(data, bytes) else str(data))
                        raise_if_cancelled()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("push: revocation listener failed; resubscribing")
                await asyncio.sleep(1.0)

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
                if not await self._valid(ws):  # every message: revoked, expired or disabled ends the connection
                    await ws.close(CLOSE_REVOKED, "token revoked or expired")
                    break
                reply = await self._reply(ws, raw)
                await ws.send(json.dumps(reply, ensure_ascii=False))
        except ConnectionClosed:
            pass
        finally:
            conns = self.connections.get(user, {})
            conns.pop(ws, None)
            if not conns:
                self.connections.pop(user, None)
                await self.store.mark_offline(user)

    async def _reply(self, ws: ServerConnection, raw: str | bytes) -> dict[str, Any]:
        user = ws.username
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
                return await self._action(ws, msg)
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
        for sent in self.connections.get(user, {}).values():  # acknowledged: never resent, so no longer remembered
            sent.discard(dispatch_id)
        return {"type": "acked", "dispatch_id": dispatch_id}

    async def _action(self, ws: ServerConnection, msg: dict[str, Any]) -> dict[str, Any]:
        user, ip = ws.username, _ip(ws)
        ticket_id = _text(msg, "ticket_id", 128, required=True)
        action = msg.get("action")
        if action not in ACTIONS:
            raise Rejected("action must be one of start, arrive, resolve")
        note = _text(msg, "note", 2000)
        photo = _text(msg, "photo", 512)
        if photo and not photo_ok(self.photos_dir, photo):
            raise Rejected("photo must be a path returned by the photo upload")
        key = _text(msg, "key", 512) or f"push-{uuid.uuid4().hex}"
        if not await self.store.may_act(user, ticket_id):
            why = {"why": "not the current assignee"}
            await record(self.redis, user, f"phone_{action}", ticket_id, ok=False, ip=ip, detail=why)
            raise Rejected("ticket is not currently dispatched to you")
        cmd = TicketCommand(key=key, ticket_id=ticket_id, action=action, actor=user, ts=now_ms(), note=note,
                            photo=photo)  # fmt: skip
        await self.redis.xadd(COMMANDS, {b"c": msgspec.msgpack.encode(cmd)})
        await record(self.redis, user, f"phone_{action}", ticket_id, ip=ip, detail={"key": key, "photo": photo})
        return {"type": "accepted", "ticket_id": ticket_id, "action": action, "key": key}

    async def consume(self) -> None:
        """Consume the `dispatch` stream until cancelled (started by `start`)."""
        await run_rounds("push dispatch", self._take, [self.consumer], trim_every_s=TRIM_EVERY_S, retry_s=1.0)

    async def _take(self) -> None:
        """Store the next batch of dispatches as pending (with their acks) and send them to open connections."""
        entries = await self.consumer.read()
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


def _ip(ws: ServerConnection) -> str:
    address = ws.remote_address
    return str(address[0]) if address else ""


def _text(msg: dict[str, Any], field: str, limit: int, required: bool = False) -> str:
    value = msg.get(field, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit:
        raise Rejected(f"{field} must be a string of at most {limit} characters")
    if required and not value:
        raise Rejected(f"{field} is required")
    return value
