"""Accounts in real Redis: the password policy, argon2 hashes, the idle and absolute timeouts, lockout under
concurrency, the per-address limit, disabled accounts, ending sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from adapters.accounts import ADDRESS_LOGINS, SESSIONS, USERS, AccountError, Accounts, LoginThrottled
from core.access import User
from core.events import now_ms
from core.settings import OpsSettings

GOOD = "Quiet-river-42"
pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def accounts(redis_url: str) -> AsyncIterator[Accounts]:
    """Accounts on the session's Redis (emptied for this test), with a 300 s idle timeout."""
    client = aioredis.from_url(redis_url)
    try:
        yield Accounts(client, OpsSettings(idle_timeout_s=300))
    finally:
        await client.aclose()


def _user(name: str = "lijie_op") -> User:
    return User(username=name, name="立节镇值班员", level="township", duties=["operator"], township="立节镇")


@pytest.mark.parametrize(
    ("password", "why"),
    [("Ab1!", "长度"), ("Ab1!xyz", "长度"), ("abcdefghijkl", "三类"), ("abcdef123456", "三类"),
     ("ABCDEFG!!!!!", "三类"), ("Lijie_op-2024!", "用户名")],
)  # fmt: skip
async def test_policy_refuses_short_and_weak_passwords(accounts: Accounts, password: str, why: str) -> None:
    with pytest.raises(AccountError, match=why):
        await accounts.create(_user(), password)
    assert await accounts.get("lijie_op") is None


async def test_three_classes_and_length_are_accepted(accounts: Accounts) -> None:
    for i, password in enumerate(["abcdef12345!", "ABCDEF12345a", "Abcdefghij!!"]):
        await accounts.create(_user(f"user{i}"), password)
    assert [u.username for u in await accounts.all()] == ["user0", "user1", "user2"]


async def test_the_password_is_stored_as_an_argon2_hash_never_as_text(accounts: Accounts) -> None:
    await accounts.create(_user(), GOOD)
    raw = await accounts.redis.hget(USERS, "lijie_op")
    assert raw is not None and GOOD.encode() not in raw
    stored = await accounts.get("lijie_op")
    assert stored is not None and stored.password_hash.startswith("$argon2id$")
    again = await accounts.create(_user("other"), GOOD)
    assert again.password_hash != stored.password_hash  # salted
    user, _ = await accounts.login("lijie_op", GOOD)
    assert user.username == "lijie_op"
    with pytest.raises(AccountError, match="用户名或密码错误"):
        await accounts.login("lijie_op", GOOD.lower())


async def test_a_session_expires_when_idle_and_each_use_refreshes_it(accounts: Accounts) -> None:
    await accounts.create(_user(), GOOD)
    _, sid = await accounts.login("lijie_op", GOOD)
    assert 290 <= await accounts.redis.ttl(SESSIONS + sid) <= 300
    await accounts.redis.expire(SESSIONS + sid, 20)
    assert await accounts.session_user(sid, touch=False) is not None
    assert await accounts.redis.ttl(SESSIONS + sid) <= 20  # a look without activity does not refresh
    assert await accounts.session_user(sid) is not None
    assert 290 <= await accounts.redis.ttl(SESSIONS + sid) <= 300
    await accounts.redis.pexpire(SESSIONS + sid, 1)
    await asyncio.sleep(0.05)
    assert await accounts.session_user(sid) is None


async def test_a_disabled_account_cannot_log_in_and_loses_its_sessions(accounts: Accounts) -> None:
    await accounts.create(_user(), GOOD)
    _, sid = await accounts.login("lijie_op", GOOD)
    await accounts.set_disabled("lijie_op", True)
    assert await accounts.session_user(sid) is None
    with pytest.raises(AccountError):
        await accounts.login("lijie_op", GOOD)
    await accounts.set_disabled("lijie_op", False)
    assert (await accounts.login("lijie_op", GOOD))[0].username == "lijie_op"


async def test_end_sessions_ends_every_session_of_the_user_only(accounts: Accounts) -> None:
    await accounts.create(_user(), GOOD)
    await accounts.create(_user("fengdie_op"), GOOD)
    sids = [(await accounts.login("lijie_op", GOOD))[1] for _ in range(3)]
    _, other = await accounts.login("fengdie_op", GOOD)
    assert await accounts.end_sessions("lijie_op") == 3
    assert [await accounts.session_user(s) for s in sids] == [None, None, None]
    assert await accounts.session_user(other) is not None
    assert await accounts.end_sessions("lijie_op") == 0


async def test_five_failures_lock_the_account_even_for_the_right_password(accounts: Accounts) -> None:
    await accounts.create(_user(), GOOD)
    for _ in range(5):
        with pytest.raises(AccountError, match="用户名或密码错误"):
            await accounts.login("lijie_op", "Wrong-pass-1")
    with pytest.raises(AccountError, match=r"^账号已锁定"):
        await accounts.login("lijie_op", GOOD)


async def test_fifty_concurrent_wrong_logins_lock_after_exactly_five(accounts: Accounts) -> None:
    await accounts.create(_user(), GOOD)
    got = await asyncio.gather(*(accounts.login("lijie_op", f"Wrong-pass-{i}") for i in range(50)),
                               return_exceptions=True)  # fmt: skip
    assert all(isinstance(e, AccountError) for e in got)
    verified = [str(e) for e in got if str(e).startswith("用户名或密码错误")]  # the attempts whose password was checked
    assert len(verified) == 5 and sum(str(e).startswith("账号已锁定") for e in got) == 45
    assert sum(v.endswith(",账号已锁定") for v in verified) == 1  # the fifth is told it locked the account
    with pytest.raises(AccountError, match=r"^账号已锁定"):
        await accounts.login("lijie_op", GOOD)


async def test_four_failures_then_the_right_password_lets_in_and_resets_the_count(accounts: Accounts) -> None:
    await accounts.create(_user(), GOOD)
    for _ in range(4):
        with pytest.raises(AccountError, match="用户名或密码错误"):
            await accounts.login("lijie_op", "Wrong-pass-1")
    assert (await accounts.login("lijie_op", GOOD))[0].username == "lijie_op"
    for _ in range(4):
        with pytest.raises(AccountError, match="用户名或密码错误"):
            await accounts.login("lijie_op", "Wrong-pass-1")
    assert (await accounts.login("lijie_op", GOOD))[0].username == "lijie_op"


async def test_one_address_is_limited_across_accounts_and_other_addresses_are_not(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        accounts = Accounts(client, OpsSettings(login_per_address_per_min=3))
        await accounts.create(_user(), GOOD)
        for name in ("a1", "a2", "a3"):
            with pytest.raises(AccountError, match="用户名或密码错误"):
                await accounts.login(name, "Wrong-pass-1", address="10.0.0.9")
        with pytest.raises(LoginThrottled, match="过于频繁"):
            await accounts.login("lijie_op", GOOD, address="10.0.0.9")  # refused before any password is checked
        assert (await accounts.login("lijie_op", GOOD, address="10.0.0.10"))[0].username == "lijie_op"
        assert 0 < await client.ttl(ADDRESS_LOGINS + "10.0.0.9") <= 60
    finally:
        await client.aclose()


async def test_a_session_ends_at_its_absolute_limit_however_active(accounts: Accounts) -> None:
    await accounts.create(_user(), GOOD)
    _, sid = await accounts.login("lijie_op", GOOD)
    end = int(await accounts.redis.hget(SESSIONS + sid, "end") or 0)
    assert abs(end - now_ms() - 8 * 3600 * 1000) < 5_000  # 8 h after sign-in by default
    await accounts.redis.hset(SESSIONS + sid, "end", now_ms() + 100_000)  # as if signed in 7 h 58 min ago
    assert await accounts.session_user(sid) is not None
    assert 95 <= await accounts.redis.ttl(SESSIONS + sid) <= 100  # activity never extends it past the limit
    await accounts.redis.hset(SESSIONS + sid, "end", now_ms() - 1)  # the limit passed (the key not yet expired)
    assert await accounts.session_user(sid) is None
    assert await accounts.session_user(sid, touch=False) is None
    await accounts.redis.set(SESSIONS + "old-format", "lijie_op", ex=300)  # stored by the release without a limit
    assert await accounts.session_user("old-format") is None
