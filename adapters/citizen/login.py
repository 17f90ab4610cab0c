"""Login by phone and one-time code: the code goes to an SMS outbox file, the session lives in Redis."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import secrets
from typing import cast
from urllib.parse import quote

import msgspec
import redis.asyncio as aioredis
from aiohttp import web

from adapters.citizen.context import CitizenContext
from adapters.citizen.render import esc, page
from core.access import User
from core.events import now_ms
from core.personal import mask
from ledgers.query import ListQuery, list_records
from ledgers.startup import SYSTEM

log = logging.getLogger(__name__)
COOKIE = "zq_h5"
SESSION_TTL_S = 7 * 86400
MAX_TRIES = 5
RESEND_S = 60  # a new code is sent at most once a minute per phone
PHONE = re.compile(r"^1[3-9]\d{9}$")
NOT_FOUND = "未在户情档案中找到该手机号,请联系村委会"
VILLAGE_CODE_TTL_S = 3 * 86400  # a code the village committee hands out (no SMS needed) lasts three days
_USER = msgspec.json.Decoder(User)


def _otp_key(phone: str) -> str:
    return f"h5:otp:{phone}"


def _session_key(token: str) -> str:
    return f"h5:session:{hashlib.sha256(token.encode()).hexdigest()}"


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def issue_village_code(redis: aioredis.Redis, phone: str, now: int) -> str:
    """A login code for a villager without SMS, issued by the village committee: valid three days, same tries."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    key = _otp_key(phone)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        pipe.hset(key, mapping={"code": _digest(code), "tries": 0, "ts": now - RESEND_S * 1000, "village": 1})
        pipe.expire(key, VILLAGE_CODE_TTL_S)
        await pipe.execute()
    return code


def member_account(ctx: CitizenContext, phone: str) -> User | None:
    """The citizen account of a phone found in the 户情 member ledger (None: not found)."""
    if "member" not in ctx.ledgers.ledgers:
        return None
    rows = list_records(ctx.ledgers, SYSTEM, "member", ListQuery(lookup=("phone", phone), size=1)).rows
    if not rows:
        return None
    found = rows[0]  # read again as that village's own service account: the county-wide view masks the name
    local = User(username="citizen-service", name="惠民服务", level="village", duties=["officer"],
                 township=found.township, village=found.village)  # fmt: skip
    rec = ctx.ledgers.get(local, "member", found.id)
    name = str(rec.values.get("name") or "村民")
    return User(username="c:" + phone, name=name, level="village", duties=[], township=rec.township,
                village=rec.village)  # fmt: skip


async def current_user(ctx: CitizenContext, request: web.Request) -> User | None:
    """The logged-in citizen of this request, None when there is no live session."""
    token = request.cookies.get(COOKIE, "")
    if not token or len(token) > 100:
        return None
    blob = await ctx.redis.get(_session_key(token))
    return _USER.decode(blob) if blob else None


async def require_user(ctx: CitizenContext, request: web.Request) -> User:
    """The logged-in citizen; otherwise a redirect to the login page that comes back here."""
    user = await current_user(ctx, request)
    if user is None:
        raise web.HTTPFound(f"/h5/login?next={quote(request.path_qs, safe='')}")
    return user


def _next(raw: str) -> str:
    """Only a local H5 path is followed after login."""
    return raw if raw.startswith("/h5") and "//" not in raw and "\\" not in raw else "/h5"


def _form(phone: str = "", nxt: str = "/h5", message: str = "", sent: bool = False) -> str:
    note = f'<div class="{"ok" if sent else "msg"}">{esc(message)}</div>' if message else ""
    return (
        f'{note}<form class="card" method="post" action="/h5/login/code">'
        f'<input type="hidden" name="next" value="{esc(nxt)}"><label for="p">手机号</label>'
        f'<input id="p" name="phone" type="tel" inputmode="numeric" maxlength="11" value="{esc(phone)}" required>'
        "<button>获取验证码</button></form>"
        f'<form class="card" method="post" action="/h5/login"><input type="hidden" name="next" value="{esc(nxt)}">'
        f'<input type="hidden" name="phone" value="{esc(phone)}"><label for="c">验证码</label>'
        '<input id="c" name="code" inputmode="numeric" maxlength="6" autocomplete="one-time-code" required>'
        '<button>登录</button></form><p class="muted">验证码以短信发送到户情档案登记的手机号。</p>'
    )


def routes(ctx: CitizenContext) -> list[web.RouteDef]:
    """Login page, code request, code check, logout."""

    async def login_page(request: web.Request) -> web.Response:
        return page("手机号登录", _form(nxt=_next(request.query.get("next", "/h5"))))

    async def send_code(request: web.Request) -> web.Response:
        data = await request.post()
        phone, nxt = str(data.get("phone", "")).strip(), _next(str(data.get("next", "/h5")))
        if not PHONE.match(phone):
            return page("手机号登录", _form(phone[:11], nxt, "请输入11位手机号"), status=400)
        if await asyncio.to_thread(member_account, ctx, phone) is None:
            return page("手机号登录", _form(phone, nxt, NOT_FOUND), status=403)
        key, now = _otp_key(phone), now_ms()
        held = await ctx.redis.hgetall(key)  # type: ignore[misc]
        if held.get(b"locked") == b"1":
            return page("手机号登录", _form(phone, nxt, "验证码错误次数过多,请稍后再试"), status=429)
        if held and now - int(held.get(b"ts", b"0")) < RESEND_S * 1000:
            return page("手机号登录", _form(phone, nxt, "验证码已发送,请1分钟后再获取"), status=429)
        code = f"{secrets.randbelow(1_000_000):06d}"
        async with ctx.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"code": _digest(code), "tries": 0, "ts": now})
            pipe.expire(key, ctx.settings.workflows.otp_ttl_s)
            await pipe.execute()
        minutes = max(1, ctx.settings.workflows.otp_ttl_s // 60)
        line = {"phone": phone, "text": f"【舟曲惠民服务】您的登录验证码为{code},{minutes}分钟内有效,请勿告诉他人。",
                "ts": now}  # fmt: skip
        await asyncio.to_thread(_append, ctx, json.dumps(line, ensure_ascii=False))
        log.info("login code sent to %s", mask("phone", phone))
        return page("手机号登录", _form(phone, nxt, f"验证码已发送至{mask('phone', phone)}", sent=True))

    async def login(request: web.Request) -> web.Response:
        data = await request.post()
        phone, code = str(data.get("phone", "")).strip(), str(data.get("code", "")).strip()
        nxt = _next(str(data.get("next", "/h5")))
        if not PHONE.match(phone) or not re.fullmatch(r"\d{6}", code):
            return page("手机号登录", _form(phone[:11], nxt, "请输入手机号和6位验证码"), status=400)
        key = _otp_key(phone)
        held = await ctx.redis.hgetall(key)  # type: ignore[misc]
        if not held:
            return page("手机号登录", _form(phone, nxt, "验证码已失效,请重新获取"), status=403)
        if held.get(b"locked") == b"1":
            return page("手机号登录", _form(phone, nxt, "验证码错误次数过多,请稍后再试"), status=429)
        if not hmac.compare_digest(cast(bytes, held.get(b"code", b"")), _digest(code).encode()):
            tries = int(await ctx.redis.hincrby(key, "tries", 1))  # type: ignore[misc]
            if tries >= MAX_TRIES:
                await ctx.redis.hset(key, "locked", "1")  # type: ignore[misc]
                log.info("login code of %s locked after %d wrong tries", mask("phone", phone), tries)
                return page("手机号登录", _form(phone, nxt, "验证码错误次数过多,请稍后再试"), status=429)
            return page("手机号登录", _form(phone, nxt, f"验证码错误,还可尝试{MAX_TRIES - tries}次"), status=403)
        user = await asyncio.to_thread(member_account, ctx, phone)
        await ctx.redis.delete(key)
        if user is None:
            return page("手机号登录", _form(phone, nxt, NOT_FOUND), status=403)
        token = secrets.token_urlsafe(32)
        await ctx.redis.set(_session_key(token), msgspec.json.encode(user), ex=SESSION_TTL_S)
        log.info("citizen %s logged in", mask("phone", phone))
        resp = web.HTTPSeeOther(nxt)
        resp.set_cookie(COOKIE, token, max_age=SESSION_TTL_S, httponly=True, samesite="Strict", path="/")
        raise resp

    async def logout(request: web.Request) -> web.Response:
        token = request.cookies.get(COOKIE, "")
        if token and len(token) <= 100:
            await ctx.redis.delete(_session_key(token))
        resp = web.HTTPSeeOther("/h5")
        resp.del_cookie(COOKIE, path="/")
        raise resp

    return [
        web.get("/h5/login", login_page),
        web.post("/h5/login/code", send_code),
        web.post("/h5/login", login),
        web.get("/h5/logout", logout),
    ]


def _append(ctx: CitizenContext, line: str) -> None:
    ctx.sms_path.parent.mkdir(parents=True, exist_ok=True)
    with ctx.sms_path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
