"""Login for the Bokeh server: a session cookie checked in Redis on every page load and websocket; login, logout."""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import secrets
from typing import Any

from bokeh.server.auth_provider import AuthProvider
from tornado.web import RequestHandler

from adapters import audit
from adapters.accounts import AccountError, Accounts, LoginThrottled
from core.access import User

log = logging.getLogger(__name__)
COOKIE = "zq_ops"
CSRF_COOKIE = "zq_csrf"  # the login form's token, also in the form (double submit); a new one with every form
LOGIN_URL = "/login"
LOGOUT_URL = "/logout"

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>舟曲县乡村运行中心 · 登录</title>
<style>
body{{margin:0;font-family:"WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;background:#0d2137;color:#e8eef5;
display:flex;align-items:center;justify-content:center;min-height:100vh}}
form{{background:#15314f;padding:32px 36px;border-radius:8px;width:320px;box-shadow:0 4px 24px #0008}}
h1{{font-size:20px;margin:0 0 4px}} p.sub{{margin:0 0 20px;color:#9fb3c8;font-size:13px}}
label{{display:block;margin:12px 0 4px;font-size:14px}}
input{{width:100%;box-sizing:border-box;padding:9px;border-radius:4px;border:1px solid #35597f;background:#0d2137;
color:#fff;font-size:15px}}
button{{margin-top:20px;width:100%;padding:10px;border:0;border-radius:4px;background:#2d7ff9;color:#fff;font-size:16px}}
.err{{background:#5c1f24;color:#ffd6d6;padding:8px;border-radius:4px;font-size:13px;margin-bottom:8px}}
</style></head><body>
<form method="post" action="/login">
<h1>舟曲县乡村运行中心</h1><p class="sub">乡村大脑 · 一图全面感知</p>
{error}
<label for="username">用户名</label><input id="username" name="username" autocomplete="username" required
 value="{username}">
<label for="password">密码</label><input id="password" name="password" type="password"
 autocomplete="current-password" required>
<input type="hidden" name="next" value="{next}"><input type="hidden" name="csrf" value="{csrf}">
<button id="login" type="submit">登录</button>
</form></body></html>"""


def _safe_next(value: str | None) -> str:
    """Only same-site paths may follow a login (no open redirect)."""
    value = value or "/"
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


def logout_token(sid: str) -> str:
    """The logout form's token of a login session (derived from its secret id, so a foreign page cannot know it)."""
    return hashlib.sha256(b"zq-logout:" + sid.encode()).hexdigest()[:32]


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


class _Base(RequestHandler):
    accounts: Accounts
    secure_cookie: bool = False

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("X-Content-Type-Options", "nosniff")


class LoginHandler(_Base):
    """GET shows the form; POST checks its token and the password (account and address limits), sets the cookie."""

    def _form(self, nxt: str, username: str = "", error: str = "") -> None:
        """Write the form with a fresh token (in the form and a cookie only this origin's forms send)."""
        token = secrets.token_urlsafe(24)
        self.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=self.secure_cookie, path=LOGIN_URL)
        error = f'<div class="err" id="error">{html.escape(error)}</div>' if error else ""
        self.write(_PAGE.format(error=error, username=html.escape(username), next=html.escape(nxt), csrf=token))

    def get(self) -> None:
        self._form(_safe_next(self.get_argument("next", "/")))

    async def post(self) -> None:
        username = self.get_body_argument("username", "").strip()[:64]
        password = self.get_body_argument("password", "")
        nxt = _safe_next(self.get_body_argument("next", "/"))
        ip = self.request.remote_ip or ""
        if not _same(self.get_cookie(CSRF_COOKIE), self.get_body_argument("csrf", "")):
            await audit.record(self.accounts.redis, username or "-", "login", ok=False, ip=ip, detail={"why": "csrf"})
            self.set_status(403)
            self._form(nxt, username, "登录页面已失效,请重新登录")
            return
        try:
            user, sid = await self.accounts.login(username, password, address=ip)
        except AccountError as exc:
            await audit.record(self.accounts.redis, username or "-", "login", ok=False, ip=ip, detail={"why": str(exc)})
            self.set_status(429 if isinstance(exc, LoginThrottled) else 401)
            if isinstance(exc, LoginThrottled):
                self.set_header("Retry-After", "60")
            self._form(nxt, username, str(exc))
            return
        await audit.record(self.accounts.redis, user.username, "login", ip=ip)
        self.clear_cookie(CSRF_COOKIE, path=LOGIN_URL)
        self.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", secure=self.secure_cookie, path="/")
        self.redirect(nxt)


class LogoutHandler(_Base):
    """POST (the header's form, with the session's logout token) ends the session in Redis and clears the cookie."""

    async def post(self) -> None:
        sid = self.get_cookie(COOKIE)
        if sid and not _same(self.get_body_argument("token", ""), logout_token(sid)):
            self.set_status(403)
            self.write("退出登录请求无效,请从页面上的“退出登录”按钮退出")
            return
        if sid:
            user = await self.accounts.session_user(sid, touch=False)
            await self.accounts.logout(sid)
            if user:
                await audit.record(self.accounts.redis, user.username, "logout", ip=self.request.remote_ip or "")
        self.clear_cookie(COOKIE, path="/")
        self.redirect(LOGIN_URL)


class SessionAuth(AuthProvider):
    """Bokeh auth provider: every document request and websocket needs a live login session."""

    def __init__(self, accounts: Accounts, *, secure_cookie: bool = False) -> None:
        self.accounts = accounts
        self.sessions: dict[str, User] = {}  # session id -> account as of its latest request (read by pages)
        attrs: dict[str, Any] = {"accounts": accounts, "secure_cookie": secure_cookie}
        self._login = type("ZqLoginHandler", (LoginHandler,), attrs)
        self._logout = type("ZqLogoutHandler", (LogoutHandler,), attrs)
        super().__init__()

    @property
    def get_user_async(self) -> Any:
        """The username of the request's live session, or None (Bokeh then redirects or refuses)."""

        async def user_of(handler: RequestHandler) -> str | None:
            sid = handler.get_cookie(COOKIE) or ""
            user = await self.accounts.session_user(sid)
            if user is None:
                self.sessions.pop(sid, None)
                return None
            self.sessions[sid] = user
            return user.username

        return user_of

    @property
    def login_url(self) -> str:
        """Where Bokeh sends a request without a session."""
        return LOGIN_URL

    @property
    def login_handler(self) -> type[RequestHandler]:
        """The login page."""
        return self._login

    @property
    def logout_url(self) -> str:
        """The logout link."""
        return LOGOUT_URL

    @property
    def logout_handler(self) -> type[RequestHandler]:
        """Ends the session."""
        return self._logout
