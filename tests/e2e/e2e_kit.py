"""Helpers for the browser tests: async calls beside Playwright's sync API, login, reports, live-state reads.

Playwright's sync API keeps its event loop "running" in the test thread, so `asyncio.run` cannot be called there:
`arun` runs a coroutine on a fresh loop in a worker thread instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from playwright.sync_api import Page

from actors.incident_desk import TICKETS
from adapters.reports import submit_report
from runtime.platform import Platform

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
LOGIN_TIMEOUT_MS = 30_000


def arun(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on its own loop in a worker thread (safe beside Playwright's sync API)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def with_redis(platform: Platform, fn: Callable[[aioredis.Redis], Coroutine[Any, Any, T]]) -> T:
    """Call `fn(redis)` with a fresh async client of the platform's Redis (closed afterwards)."""

    async def go() -> T:
        client = aioredis.Redis.from_url(platform.redis_url)
        try:
            return await fn(client)
        finally:
            await client.aclose()

    return arun(go())


def ops_url(platform: Platform) -> str:
    """Base URL of the platform's operations center."""
    return f"http://127.0.0.1:{platform.settings.ops.port}"


def wait(what: Callable[[], Any], timeout: float = 30.0, pause: float = 0.2) -> Any:
    """Poll until `what()` is truthy; returns it, or fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(pause)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def login(page: Page, base: str, username: str, password: str, *, path: str = "/map") -> None:
    """Sign in through the login form, then wait until the page's Bokeh document is drawn."""
    page.goto(f"{base}{path}")
    page.wait_for_url("**/login**")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_url(lambda url: "/login" not in url, timeout=LOGIN_TIMEOUT_MS)
    wait_drawn(page)


def wait_drawn(page: Page) -> None:
    """Wait until the page's header (drawn by Bokeh over the websocket) is on screen."""
    page.wait_for_selector("#logout", state="attached", timeout=LOGIN_TIMEOUT_MS)


def report(platform: Platform, village: str, text: str, *, category: str = "环境卫生", severity: int = 3,
           lat: float | None = None, lon: float | None = None) -> str:  # fmt: skip
    """Submit a citizen report and wait until the desk has opened its ticket; returns the ticket id."""

    async def go(redis: aioredis.Redis) -> str:
        tid = await submit_report(redis, text=text, village=village, category=category, reporter="citizen-1",
                                  severity=severity, lat=lat, lon=lon)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if await redis.hexists(TICKETS, tid):
                return tid
            await asyncio.sleep(0.1)
        raise AssertionError(f"the desk did not open a ticket for report {tid}")

    return with_redis(platform, go)


def bokeh_column(page: Page, column: str) -> list[Any] | None:
    """Values of the first ColumnDataSource in the page's Bokeh document that has `column` (None if none)."""
    return cast(list[Any] | None, page.evaluate(
        """(col) => {
            const docs = (window.Bokeh && window.Bokeh.documents) || [];
            for (const doc of docs) {
                for (const m of doc.all_models) {
                    const d = m.data;
                    if (d === undefined || d === null || typeof d !== "object") continue;
                    const v = d instanceof Map ? d.get(col) : d[col];
                    if (v !== undefined) return Array.from(v);
                }
            }
            return null;
        }""",
        column,
    ))  # fmt: skip


def marker_position(page: Page, renderer: str, column: str, value: str) -> tuple[float, float] | None:
    """Where on the page the map draws the row of `renderer`'s source whose `column` is `value` (None if absent)."""
    got = page.evaluate(
        """([renderer, col, value]) => {
            const get = (d, k) => (d instanceof Map ? d.get(k) : d[k]);
            const pv = window.Bokeh && window.Bokeh.index.query_one(
                (v) => v.model && (v.model.type === "Figure" || v.model.type === "Plot"));
            if (!pv) return null;
            const r = pv.model.renderers.find((r) => r.name === renderer);
            if (!r) return null;
            const data = r.data_source.data;
            const i = Array.from(get(data, col)).indexOf(value);
            if (i < 0) return null;
            const sx = pv.frame.x_scale.compute(get(data, "x")[i]);
            const sy = pv.frame.y_scale.compute(get(data, "y")[i]);
            const rect = pv.canvas_view.el.getBoundingClientRect();
            return [rect.left + sx, rect.top + sy];
        }""",
        [renderer, column, value],
    )  # fmt: skip
    return (float(got[0]), float(got[1])) if got else None
