"""Browser tests: the whole platform with its operations center, driven by Debian's Chromium through Playwright.

The tests are synchronous (Playwright's sync API); anything async runs through `e2e_kit.arun` in a worker thread.
One browser per test module, closed after its last test (and the running-loop mark Playwright leaves is cleared),
so that Playwright's event loop never sits beside the pytest-asyncio tests that run after these.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from e2e_kit import CHROMIUM, arun, ops_url, wait, with_redis
from e2e_kit import login as form_login
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from adapters.accounts import Accounts, strong_password
from adapters.accounts_cli import create_demo_accounts
from adapters.redis_server import free_port
from core.access import User
from core.gazetteer import load_gazetteer
from runtime.platform import Platform
from tests.runtime.platform_kit import platform_settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# responders (duty responder) of 立节镇, each based in one of its villages
RESPONDERS = {"lijie_resp1": "立节镇演示村01", "lijie_resp2": "杰迪村", "lijie_resp3": "城马村"}

__all__ = ["arun", "wait"]


@pytest.fixture
def ops_platform(ray_session: None, redis_url: str, var_dir: Path) -> Iterator[Platform]:
    """The platform without video, with the operations center on a free port (logins checked every second)."""
    ops = {"enabled": True, "port": free_port(), "session_check_s": 1.0}
    p = Platform(platform_settings(redis_url, var_dir, ops=ops)).start()
    yield p
    p.stop()


@pytest.fixture
def ops_accounts(ops_platform: Platform) -> dict[str, str]:
    """The demo accounts plus three 立节镇 responders, as {username: password}."""
    gazetteer = load_gazetteer()

    async def go(redis: aioredis.Redis) -> dict[str, str]:
        accounts = Accounts(redis, ops_platform.settings.ops)
        made = {u.username: pw for u, pw in await create_demo_accounts(accounts)}
        for username, village in RESPONDERS.items():
            v = gazetteer.village(village, "立节镇")
            password = strong_password()
            user = User(username=username, name=f"{v.name}处置员", level="village", duties=["responder"],
                        township="立节镇", village=v.name)  # fmt: skip
            await accounts.create(user, password)
            made[username] = password
        return made

    return with_redis(ops_platform, go)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium (never a downloaded browser), one per test module (closed before the next)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (`make test` does)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()
    # Playwright's sync API leaves its (now closed) loop marked as running in this thread; clear the mark so that
    # the asyncio tests that run after this module can start their own loops
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (own cookies) for one test."""
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A tab in the test's browser profile."""
    return context.new_page()


@pytest.fixture
def login(ops_platform: Platform) -> Callable[..., None]:
    """`login(page, username, password, path="/map")`: sign in through the form and wait for the page."""
    base = ops_url(ops_platform)

    def go(page: Page, username: str, password: str, path: str = "/map") -> None:
        form_login(page, base, username, password, path=path)

    return go


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (test-artifacts/ at the repository root, kept out of git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
