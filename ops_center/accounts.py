"""Operator accounts: argon2 password hashes, the password policy, lockout and login sessions, kept in Redis."""

from __future__ import annotations

import secrets
import string
from typing import cast

import msgspec
import redis.asyncio as aioredis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from adapters.push.tokens import ACCOUNTS, revoke_user
from core.events import now_ms
from core.settings import OpsSettings

USERS = ACCOUNTS  # username -> User (msgpack); the push service reads its `disabled`
SESSIONS = "ops:session:"  # + session id -> username; expires after the idle timeout
USER_SESSIONS = "ops:user_sessions:"  # + username -> set of its session ids (to end them all)
FAILS = "ops:fails:"  # + username -> failed logins in a row; expires with the lockout
LEVELS = ("county", "township", "village")
DUTIES = ("operator", "officer", "responder", "auditor", "admin")
LEVEL_ZH = {"county": "县级", "township": "乡镇", "village": "村级"}
DUTY_ZH = {"operator": "值班员", "officer": "村干部", "responder": "处置人员", "auditor": "审计员", "admin": "管理员"}
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))  # verified on unknown users so timing does not tell names apart


class AccountError(ValueError):
    """A refused account operation; the message is Chinese, for the person at the screen."""


class User(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An operations-center account: who, where (level and place) and which duties."""

    username: str
    name: str  # display name
    level: str  # county | township | village
    duties: list[str]
    township: str = ""  # for township and village accounts
    village: str = ""  # for village accounts
    password_hash: str = ""
    disabled: bool = False
    created: int = 0


_ENC = msgspec.msgpack.Encoder()
_DEC = msgspec.msgpack.Decoder(User)


def check_password(password: str, username: str, min_length: int) -> None:
    """Raise AccountError unless the password meets the policy: length and three of four character classes."""
    if len(password) < min_length:
        raise AccountError(f"密码长度至少 {min_length} 位")
    classes = [
        any(c in string.ascii_lowercase for c in password),
        any(c in string.ascii_uppercase for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ]
    if sum(classes) < 3:
        raise AccountError("密码须包含大写字母、小写字母、数字、符号中的至少三类")
    if username and username.lower() in password.lower():
        raise AccountError("密码不能包含用户名")


def check_user(user: User) -> None:
    """Raise AccountError when the account's level, place or duties do not fit together."""
    if not user.username.isascii() or not user.username.replace("_", "").replace("-", "").isalnum():
        raise AccountError("用户名只能使用字母、数字、-、_")
    if user.level not in LEVELS:
        raise AccountError(f"未知级别 {user.level}")
    unknown = [d for d in user.duties if d not in DUTIES]
    if unknown or not user.duties:
        raise AccountError(f"未知或缺少职责: {', '.join(unknown) or '无'}")
    if user.level in ("township", "village") and not user.township:
        raise AccountError("乡镇、村级账号必须指定乡镇")
    if user.level == "village" and not user.village:
        raise AccountError("村级账号必须指定村")


class Accounts:
    """Accounts, lockout and sessions in Redis; every method is one short round trip or a few."""

    def __init__(self, redis: aioredis.Redis, settings: OpsSettings) -> None:
        self.redis = redis
        self.settings = settings

    async def get(self, username: str) -> User | None:
        """The account, or None."""
        blob = await self.redis.hget(USERS, username)
        return _DEC.decode(cast(bytes, blob)) if blob else None

    async def all(self) -> list[User]:
        """Every account, by username."""
        raw = cast(dict[bytes, bytes], await self.redis.hgetall(USERS))
        return sorted((_DEC.decode(v) for v in raw.values()), key=lambda u: u.username)

    async def create(self, user: User, password: str, *, replace: bool = False) -> User:
        """Store a new account with an argon2 hash of its password (policy-checked)."""
        check_user(user)
        check_password(password, user.username, self.settings.min_password_length)
        stored = msgspec.structs.replace(user, password_hash=_HASHER.hash(password), created=user.created or now_ms())
        added = await self.redis.hset(USERS, user.username, _ENC.encode(stored)) if replace else \
            await self.redis.hsetnx(USERS, user.username, _ENC.encode(stored))  # fmt: skip
        if not replace and not added:
            raise AccountError(f"用户 {user.username} 已存在")
        return stored

    async def set_password(self, username: str, password: str) -> None:
        """Change a password and end the account's sessions."""
        user = await self.get(username)
        if user is None:
            raise AccountError("用户不存在")
        await self.create(user, password, replace=True)
        await self.end_sessions(username)

    async def change_own_password(self, username: str, current: str, new: str) -> None:
        """A user's own change: the current password must verify; every session of the account ends."""
        user = await self.get(username)
        try:
            _HASHER.verify(user.password_hash if user else _DUMMY_HASH, current)
        except (VerificationError, InvalidHashError):
            raise AccountError("当前密码不正确") from None
        if new == current:
            raise AccountError("新密码不能与当前密码相同")
        await self.set_password(username, new)

    async def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable (ending its sessions, revoking its phone tokens, closing its push websockets) or re-enable."""
        user = await self.get(username)
        if user is None:
            raise AccountError("用户不存在")
        await self.redis.hset(USERS, username, _ENC.encode(msgspec.structs.replace(user, disabled=disabled)))
        if disabled:
            await self.end_sessions(username)
            await revoke_user(self.redis, username)

    async def login(self, username: str, password: str) -> tuple[User, str]:
        """Verify a password; returns the user and a new session id, or raises AccountError (counting failures)."""
        s = self.settings
        fails = int(await self.redis.get(FAILS + username) or 0)
        if fails >= s.max_failed_logins:
            raise AccountError(f"账号已锁定,请 {s.lockout_s // 60} 分钟后再试或联系管理员")
        user = await self.get(username)
        try:
            _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
            ok = user is not None and not user.disabled
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or user is None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(FAILS + username)
                pipe.expire(FAILS + username, s.lockout_s)
                count = int((await pipe.execute())[0])
            left = s.max_failed_logins - count
            raise AccountError("用户名或密码错误" + (f",还可尝试 {left} 次" if left > 0 else ",账号已锁定"))
        sid = secrets.token_urlsafe(32)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(FAILS + username)
            pipe.set(SESSIONS + sid, username, ex=s.idle_timeout_s)
            pipe.sadd(USER_SESSIONS + username, sid)
            await pipe.execute()
        return user, sid

    async def session_user(self, sid: str | None, *, touch: bool = True) -> User | None:
        """The live, enabled user of a session id (refreshing its idle timer), or None."""
        if not sid or len(sid) > 100:
            return None
        name = await self.redis.get(SESSIONS + sid)
        if name is None:
            return None
        user = await self.get(cast(bytes, name).decode())
        if user is None or user.disabled:
            return None
        if touch:
            await self.redis.expire(SESSIONS + sid, self.settings.idle_timeout_s)
        return user

    async def logout(self, sid: str) -> None:
        """End one session."""
        name = await self.redis.getdel(SESSIONS + sid)
        if name is not None:
            await self.redis.srem(USER_SESSIONS + cast(bytes, name).decode(), sid)

    async def end_sessions(self, username: str) -> int:
        """End every session of a user; returns how many there were."""
        sids = [s.decode() for s in cast(set[bytes], await self.redis.smembers(USER_SESSIONS + username))]
        if sids:
            await self.redis.delete(*(SESSIONS + s for s in sids))
        await self.redis.delete(USER_SESSIONS + username)
        return len(sids)
