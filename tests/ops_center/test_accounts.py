"""Accounts in real Redis: the password policy, argon2 hashes, the idle timeout, disabled accounts, ending sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from core.settings import OpsSettings
from ops_center.accounts import SESSIONS, USERS, AccountError, Accounts, User

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
