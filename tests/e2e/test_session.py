"""Login sessions in the browser: logout ends every tab's live connection; lockout after failed passwords; unlock;
only a kiosk account stays logged in on the self-refreshing big screen."""

from __future__ import annotations

import concurrent.futures
import re
import time
from typing import Any

import pytest
import ray
import redis.asyncio as aioredis
from e2e_kit import ops_url, wait, wait_drawn, with_redis
from playwright.sync_api import Browser, BrowserContext, Page, WebSocket, expect

from adapters import accounts_cli
from adapters.accounts import SESSIONS
from runtime.platform import Platform

pytestmark = pytest.mark.slow


def test_logout_ends_the_session_and_its_websockets(
    ops_platform: Platform, ops_accounts: dict[str, str], context: BrowserContext, browser: Browser, login: Any
) -> None:  # fmt: skip
    base = ops_url(ops_platform)
    first = context.new_page()
    login(first, "lijie_op", ops_accounts["lijie_op"])
    second = context.new_page()  # same profile: the same login cookie
    sockets: list[WebSocket] = []
    second.on("websocket", lambda w: sockets.append(w))
    second.goto(f"{base}/map")
    wait_drawn(second)
    ws = wait(lambda: [w for w in sockets if w.url.endswith("/map/ws")])[0]
    closed: list[float] = []
    ws.on("close", lambda _ws: closed.append(time.monotonic()))
    second.wait_for_timeout(1500)
    assert not ws.is_closed() and not closed  # alive while logged in
    cookie = next(c for c in context.cookies() if c["name"] == "zq_ops")

    first.click("#logout")
    first.wait_for_url(re.compile(r"/login"))
    logged_out = time.monotonic()
    second.wait_for_url(re.compile(r"/login"), timeout=10_000)  # the other tab is sent to the login page
    assert time.monotonic() - logged_out < 5.0
    # no live connection is left on the server (it closed them, after ordering the tab to reload)
    wait(lambda: ray.get(ops_platform.ops.stats.remote())["connections"] == 0, timeout=5)
    expect(second.locator("#login")).to_be_visible()

    # the old cookie opens nothing any more
    other = browser.new_context()
    try:
        other.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path")}])  # type: ignore[list-item]
        tab = other.new_page()
        tab.goto(f"{base}/map")
        assert "/login" in tab.url
        assert other.request.get(f"{base}/evidence?path=snapshots/x/y.jpg").status == 401
    finally:
        other.close()


def _try_login(page: Page, base: str, username: str, password: str) -> str:
    """Submit the login form once; the error shown, or '' when it let the user in."""
    page.goto(f"{base}/login?next=/map")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#login")
    if "/login" not in page.url:
        return ""
    return page.locator("#error").inner_text()


def test_five_wrong_passwords_lock_the_account_until_unlocked(
    ops_platform: Platform, ops_accounts: dict[str, str], page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    base = ops_url(ops_platform)
    right = ops_accounts["fengdie_op"]
    for i in range(5):
        error = _try_login(page, base, "fengdie_op", f"Wrong-pass-{i}!")
        assert "用户名或密码错误" in error
    error = _try_login(page, base, "fengdie_op", right)
    assert error.startswith("账号已锁定"), error  # the right password no longer helps
    assert "/login" in page.url
    # another account is not affected
    assert _try_login(page, base, "lijie_op", ops_accounts["lijie_op"]) == ""
    wait_drawn(page)
    page.click("#logout")
    page.wait_for_url(re.compile(r"/login"))

    monkeypatch.setenv("REDIS_URL", ops_platform.redis_url)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:  # the CLI runs its own event loop
        assert pool.submit(accounts_cli.main, ["unlock", "fengdie_op"]).result() == 0
    assert _try_login(page, base, "fengdie_op", right) == ""
    wait_drawn(page)
    assert page.url.endswith("/map")


def _session_key(context: BrowserContext) -> str:
    return SESSIONS + next(c["value"] for c in context.cookies() if c["name"] == "zq_ops")


def _ttl(platform: Platform, key: str, expire: int | None = None) -> int:
    """The key's TTL in seconds (-2: gone), after setting it to `expire` when given."""

    async def go(r: aioredis.Redis) -> int:
        if expire is not None:
            await r.expire(key, expire)
        return int(await r.ttl(key))

    return with_redis(platform, go)


@pytest.mark.parametrize(("username", "kept"), [("langchaba_screen", True), ("lijie_op", False)])
def test_the_big_screen_keeps_only_a_kiosk_account_logged_in(
    ops_platform: Platform, ops_accounts: dict[str, str], context: BrowserContext, page: Page, login: Any,
    username: str, kept: bool,
) -> None:  # fmt: skip
    login(page, username, ops_accounts[username], path="/bigscreen")
    key = _session_key(context)
    assert _ttl(ops_platform, key, expire=3) <= 3  # as if idle for all but 3 s of the timeout
    if kept:  # the screen's refreshes (checked each second here) renew a kiosk login
        wait(lambda: _ttl(ops_platform, key) > 60, timeout=10)
        assert "/bigscreen" in page.url
    else:  # an operator's big screen refreshes too, but nobody is working there: the login ends on time
        page.wait_for_url(re.compile(r"/login"), timeout=10_000)
        assert _ttl(ops_platform, key) == -2
