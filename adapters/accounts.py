"""The account store: argon2 password hashes, the password policy, lockout and login sessions, kept in Redis."""

from __future__ import annotations

import asyncio
import secrets
import string
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

import msgspec
import redis.asyncio as aioredis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis.exceptions import ResponseError

from adapters.push.tokens import ACCOUNTS, revoke_user
from core.access import DUTIES, LEVELS, User
from core.events import now_ms
from core.settings import OpsSettings

USERS = ACCOUNTS  # username -> User (msgpack); the push service reads its `disabled`
SESSIONS = "ops:session:"  # + session id -> hash {u: username, end: ms}; expires idle, never after `end`
USER_SESSIONS = "ops:user_sessions:"  # + username -> set of its session ids (to end them all)
FAILS = "ops:fails:"  # + username -> login attempts since the last success; expires with the lockout
ADDRESS_LOGINS = "ops:login_addr:"  # + client address -> login attempts in the current minute
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))  # verified on unknown users so timing does not tell names apart
# INCR, and (re)start the key's expiry while the count is at most ARGV[1]: one atomic step, so concurrent attempts
# each see their own count (an account's lockout: every counted attempt restarts it; an address: once a window)
_COUNT = """local n = redis.call('INCR', KEYS[1])
if n <= tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return n"""
T = TypeVar("T")


class AccountError(ValueError):
    """A refused account operation; the message is Chinese, for the person at the screen."""


class LoginThrottled(AccountError):
    """Too many login attempts from one client address (answered like HTTP 429)."""


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


def strong_password(length: int = 14) -> str:
    """A random password that meets the policy (all four character classes)."""
    pools = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "!@#%^*-_=+")
    chars = [secrets.choice(p) for p in pools]
    chars += [secrets.choice("".join(pools)) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


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
        self._argon = ThreadPoolExecutor(settings.login_threads, thread_name_prefix="argon2")
        self._count = redis.register_script(_COUNT)

    async def _off_loop(self, fn: Callable[..., T], *args: str) -> T:
        """Run argon2 work in the bounded thread pool so the event loop (every live page) keeps running."""
        return await asyncio.get_running_loop().run_in_executor(self._argon, fn, *args)

    async def _verify(self, password_hash: str, password: str) -> bool:
        """Whether the password matches the hash (off the event loop)."""
        try:
            return bool(await self._off_loop(_HASHER.verify, password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

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
        password_hash = await self._off_loop(_HASHER.hash, password)
        stored = msgspec.structs.replace(user, password_hash=password_hash, created=user.created or now_ms())
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
        if not await self._verify(user.password_hash if user else _DUMMY_HASH, current):
            raise AccountError("当前密码不正确")
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

    async def login(self, username: str, password: str, *, address: str = "") -> tuple[User, str]:
        """Verify a password; returns the user and a new session id, or raises AccountError (counting attempts).

        Each attempt is counted before its password is checked (atomically), so concurrent attempts cannot pass the
        limit: the attempt past it is refused unverified, even with the right password; a success resets the count.
        """
        s = self.settings
        if address and int(await self._count([ADDRESS_LOGINS + address], [1, 60])) > s.login_per_address_per_min:
            raise LoginThrottled("登录尝试过于频繁,请一分钟后再试")
        count = int(await self._count([FAILS + username], [s.max_failed_logins, s.lockout_s]))
        if count > s.max_failed_logins:
            raise AccountError(f"账号已锁定,请 {s.lockout_s // 60} 分钟后再试或联系管理员")
        user = await self.get(username)
        ok = await self._verify(user.password_hash if user else _DUMMY_HASH, password)
        if not ok or user is None or user.disabled:
            left = s.max_failed_logins - count
            raise AccountError("用户名或密码错误" + (f",还可尝试 {left} 次" if left > 0 else ",账号已锁定"))
        sid = secrets.token_urlsafe(32)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(FAILS + username)
            pipe.hset(SESSIONS + sid, mapping={"u": username, "end": now_ms() + s.max_session_s * 1000})
            pipe.expire(SESSIONS + sid, min(s.idle_timeout_s, s.max_session_s))
            pipe.sadd(USER_SESSIONS + username, sid)
            pipe.expire(USER_SESSIONS + username, s.max_session_s)  # every session in it has ended by then
            await pipe.execute()
        return user, sid

    async def session_user(self, sid: str | None, *, touch: bool = True) -> User | None:
        """The live, enabled user of a session id (refreshing its idle timer, never past its absolute end), or None."""
        if not sid or len(sid) > 100:
            return None
        try:
            name, end = cast(list[bytes | None], await self.redis.hmget(SESSIONS + sid, ["u", "end"]))
        except ResponseError:  # WRONGTYPE: a session stored before sessions had an absolute end is signed out
            return None
        left_ms = int(end or 0) - now_ms()
        if name is None or left_ms <= 0:
            return None
        user = await self.get(name.decode())
        if user is None or user.disabled:
            return None
        if touch:
            await self.redis.pexpire(SESSIONS + sid, min(self.settings.idle_timeout_s * 1000, left_ms))
        return user

    async def logout(self, sid: str) -> None:
        """End one session."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(SESSIONS + sid, "u")
            pipe.delete(SESSIONS + sid)
            name = (await pipe.execute())[0]
        if name is not None:
            await self.redis.srem(USER_SESSIONS + cast(bytes, name).decode(), sid)

    async def end_sessions(self, username: str) -> int:
        """End every session of a user; returns how many there were."""
        sids = [s.decode() for s in cast(set[bytes], await self.redis.smembers(USER_SESSIONS + username))]
        if sids:
            await self.redis.delete(*(SESSIONS + s for s in sids))
        await self.redis.delete(USER_SESSIONS + username)
        return len(sids)
