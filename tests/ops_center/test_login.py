"""The login and logout pages over real HTTP (Tornado, real Redis): the form's CSRF token, logout only as a POST
with the session's token, the per-address limit, control characters in typed names, and live pages that keep
patching while a login flood verifies passwords."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
import pytest
import pytest_asyncio
from bokeh.document import Document
from bokeh.document.events import ColumnsPatchedEvent
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.web import Application

from actors.shard import twin_key
from actors.wristband import WristbandState
from adapters import audit, bus, registry
from adapters.accounts import SESSIONS
from core.access import User
from core.kinds import DeviceProfile
from core.settings import Settings
from ops_center.auth import COOKIE, CSRF_COOKIE, LOGIN_URL, LOGOUT_URL, SessionAuth, logout_token
from ops_center.context import OpsContext
from ops_center.live import LiveState
from ops_center.map_view import MapView
from ops_center.session import OpsSession

pytestmark = pytest.mark.asyncio
PASSWORD = "Quiet-river-42"
LIJIE_OP = User(username="lijie_op", name="立节镇值班员", level="township", duties=["operator"], township="立节镇")


@pytest_asyncio.fixture
async def ctx(redis_url: str, var_dir: Path) -> AsyncIterator[OpsContext]:
    """An ops context on the session's Redis with one account and at most 4 logins per address and minute."""

    async def no_query(sql: str) -> list[dict[str, Any]]:
        return []

    settings = Settings(var_dir=var_dir, ops={"login_per_address_per_min": 4})
    context = OpsContext(settings, bus.connect(redis_url), no_query)
    await context.accounts.create(LIJIE_OP, PASSWORD)
    yield context
    await context.redis.aclose()


@pytest_asyncio.fixture
async def base(ctx: OpsContext) -> AsyncIterator[str]:
    """The login and logout handlers of the operations center, served on a free port."""
    auth = SessionAuth(ctx.accounts)
    server = HTTPServer(Application([(LOGIN_URL, auth.login_handler), (LOGOUT_URL, auth.logout_handler)]))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.stop()


async def fetch(url: str, method: str = "GET", form: dict[str, str] | None = None, cookies: str = "") -> HTTPResponse:
    """One request without following redirects; errors are answers, not exceptions."""
    body = urlencode(form) if form is not None else None
    return await AsyncHTTPClient().fetch(url, method=method, body=body, headers={"Cookie": cookies} if cookies else {},
                                         follow_redirects=False, raise_error=False)  # fmt: skip


def cookie(resp: HTTPResponse, name: str) -> str:
    """The value the answer sets for a cookie ('' when it sets none)."""
    for header in resp.headers.get_list("Set-Cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1].strip('"')
    return ""


async def form_token(base: str) -> tuple[str, str]:
    """Open the login form: the token in the form and the one in its cookie."""
    resp = await fetch(f"{base}{LOGIN_URL}?next=/map")
    m = re.search(r'name="csrf" value="([^"]+)"', resp.body.decode())
    assert m, "the login form has no CSRF token"
    return m.group(1), cookie(resp, CSRF_COOKIE)


async def test_a_login_post_needs_the_forms_token_and_its_cookie(ctx: OpsContext, base: str) -> None:
    creds = {"username": "lijie_op", "password": PASSWORD, "next": "/map"}
    token, jar = await form_token(base)
    assert token and jar == token
    other, _ = await form_token(base)
    assert other != token  # a new token with every form
    for form, cookies in [(creds, ""), ({**creds, "csrf": token}, ""), (creds, f"{CSRF_COOKIE}={jar}"),
                          ({**creds, "csrf": other}, f"{CSRF_COOKIE}={jar}")]:  # fmt: skip
        resp = await fetch(f"{base}{LOGIN_URL}", "POST", form, cookies)
        assert resp.code == 403 and not cookie(resp, COOKIE)
        assert "登录页面已失效" in resp.body.decode()
    assert await ctx.redis.keys(SESSIONS + "*") == []
    resp = await fetch(f"{base}{LOGIN_URL}", "POST", {**creds, "csrf": token}, f"{CSRF_COOKIE}={jar}")
    assert resp.code == 302 and resp.headers["Location"] == "/map"
    assert "SameSite=Strict" in next(h for h in resp.headers.get_list("Set-Cookie") if h.startswith(f"{COOKIE}="))
    assert await ctx.accounts.session_user(cookie(resp, COOKIE), touch=False) == await ctx.accounts.get("lijie_op")


async def test_logout_is_a_post_with_the_sessions_token(ctx: OpsContext, base: str) -> None:
    _, sid = await ctx.accounts.login("lijie_op", PASSWORD)
    session = f"{COOKIE}={sid}"
    assert (await fetch(f"{base}{LOGOUT_URL}", cookies=session)).code == 405  # a link or an <img> logs nobody out
    for token in ("", logout_token("another-session")):
        resp = await fetch(f"{base}{LOGOUT_URL}", "POST", {"token": token}, session)
        assert resp.code == 403
    assert await ctx.accounts.session_user(sid, touch=False) is not None
    resp = await fetch(f"{base}{LOGOUT_URL}", "POST", {"token": logout_token(sid)}, session)
    assert resp.code == 302 and resp.headers["Location"] == LOGIN_URL
    assert await ctx.accounts.session_user(sid, touch=False) is None
    assert [r["action"] for r in await audit.recent(ctx.redis)] == ["logout"]


async def test_too_many_logins_from_one_address_get_429_even_with_the_right_password(base: str) -> None:
    for i in range(4):
        token, jar = await form_token(base)
        form = {"username": f"guess{i}", "password": "Wrong-pass-1!", "csrf": token}
        assert (await fetch(f"{base}{LOGIN_URL}", "POST", form, f"{CSRF_COOKIE}={jar}")).code == 401
    token, jar = await form_token(base)
    form = {"username": "lijie_op", "password": PASSWORD, "csrf": token}
    resp = await fetch(f"{base}{LOGIN_URL}", "POST", form, f"{CSRF_COOKIE}={jar}")
    assert resp.code == 429 and resp.headers["Retry-After"] == "60" and not cookie(resp, COOKIE)
    assert "登录尝试过于频繁" in resp.body.decode()


async def test_control_characters_in_a_typed_username_are_escaped_in_audit_and_log(
    ctx: OpsContext, base: str, caplog: pytest.LogCaptureFixture
) -> None:  # fmt: skip
    forged = "x\r\nINFO audit user=admin action=login ok=True\x7f\u202e"
    token, jar = await form_token(base)
    with caplog.at_level(logging.INFO):
        form = {"username": forged, "password": "Wrong-pass-1!", "csrf": token}
        assert (await fetch(f"{base}{LOGIN_URL}", "POST", form, f"{CSRF_COOKIE}={jar}")).code == 401
    [rec] = await audit.recent(ctx.redis)
    assert rec["user"] == "x\\r\\nINFO audit user=admin action=login ok=True\\x7f\\u202e" and not rec["ok"]
    lines = [r.getMessage() for r in caplog.records if "audit user=" in r.getMessage()]
    assert lines and all(not any(c in m for c in "\r\n\x7f\u202e") for m in lines)


async def test_the_map_keeps_patching_while_a_login_flood_verifies_passwords(ctx: OpsContext) -> None:
    await registry.register(ctx.redis, [DeviceProfile(device_id="wb-1", kind="wristband", village="杰迪村",
                                                      township="立节镇", lat=33.86, lon=103.94)])  # fmt: skip
    ctx.live = LiveState(ctx)
    await ctx.live.refresh()
    view = MapView(OpsSession(ctx, LIJIE_OP, "s", "ip"))
    doc = Document()
    doc.add_root(view.devices)
    sent: list[Any] = []
    doc.on_change(sent.append)  # what would go over the websocket
    flooding = asyncio.Event()
    flooding.set()

    async def live_feed() -> None:  # the live state's reader and the session's update, as fast as they can
        lat = 33.86
        while flooding.is_set():
            lat += 1e-4
            twin = WristbandState(last_seq=1, last_seen=1, lat=lat, lon=103.95)
            await ctx.redis.hset(twin_key("wristband"), "wb-1", msgspec.msgpack.encode(twin))
            await ctx.live.read_twins()
            view.update()
            await asyncio.sleep(0.005)

    feed = asyncio.get_running_loop().create_task(live_feed())
    got = await asyncio.gather(*(ctx.accounts.login(f"nobody{i}", "Wrong-pass-1!") for i in range(40)),
                               return_exceptions=True)  # fmt: skip
    during = sum(isinstance(e, ColumnsPatchedEvent) for e in sent)
    flooding.clear()
    await feed
    assert all("用户名或密码错误" in str(e) for e in got)  # 40 argon2 verifications ran
    assert during >= 20, f"only {during} map patches were sent while 40 logins were verified"
