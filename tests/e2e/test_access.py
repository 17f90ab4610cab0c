"""Access in the browser: logged out nothing opens; a 立节镇 operator cannot read or act on a 峰迭镇 ticket."""

from __future__ import annotations

import asyncio
import re
from typing import Any, cast

import aiohttp
import msgspec
import pytest
import ray
import redis.asyncio as aioredis
from e2e_kit import arun, bokeh_column, ops_url, report, wait, with_redis
from playwright.sync_api import BrowserContext, Page, expect
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from adapters import audit, registry
from adapters.bus import COMMANDS
from core.access import AccessDenied
from core.incidents import TicketCommand
from core.kinds import DeviceProfile
from ops_center import commands
from ops_center.context import OpsContext
from ops_center.layout import page_modules
from ops_center.session import OpsSession
from runtime.platform import Platform

pytestmark = pytest.mark.slow
FENGDIE_VILLAGE = ("土桥子村", 33.4294, 104.30029)
LIJIE_VILLAGE = ("杰迪村", 33.86328, 103.94652)


def _token_and_cookie(base: str, username: str, password: str, slug: str) -> tuple[str, str]:
    """Log in over plain HTTP and load a page: the login cookie and the page's Bokeh session token."""

    async def go() -> tuple[str, str]:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/login") as r:  # the form's CSRF token, in the page and a cookie
                m = re.search(r'name="csrf" value="([^"]+)"', await r.text())
                assert m, "no CSRF token in the login form"
                csrf = m.group(1)
            form = {"username": username, "password": password, "next": f"/{slug}", "csrf": csrf}
            async with http.post(f"{base}/login", data=form, allow_redirects=False,
                                 headers={"Cookie": f"zq_csrf={csrf}"}) as r:  # fmt: skip
                assert r.status == 302, await r.text()
                cookie = r.cookies["zq_ops"].value
            async with http.get(f"{base}/{slug}", headers={"Cookie": f"zq_ops={cookie}"}) as r:
                body = await r.text()
        m = re.search(r'"token":\s*"([^"]+)"', body)
        assert m, f"no Bokeh session token in /{slug}"
        return m.group(1), cookie

    return arun(go())


def _ws_opens(base: str, slug: str, token: str, cookie: str | None) -> bool:
    """Whether a Bokeh websocket to /<slug>/ws opens and answers (False when the server refuses it)."""

    async def go() -> bool:
        headers = {"Cookie": f"zq_ops={cookie}"} if cookie else {}
        try:
            async with connect(f"{base.replace('http', 'ws')}/{slug}/ws", subprotocols=["bokeh", token],  # type: ignore[list-item]
                               additional_headers=headers, origin=base, open_timeout=10) as ws:  # type: ignore[arg-type]  # fmt: skip
                await asyncio.wait_for(ws.recv(), 5)
                return True
        except InvalidStatus as exc:
            assert exc.response.status_code in (401, 403), exc
            return False

    return arun(go())


def test_logged_out_every_page_redirects_to_login_and_websockets_are_refused(
    ops_platform: Platform, ops_accounts: dict[str, str], page: Page
) -> None:  # fmt: skip
    base = ops_url(ops_platform)
    slugs = [m.SLUG for m in page_modules()]
    assert "map" in slugs and "incidents" in slugs
    for path in ["/", *(f"/{s}" for s in slugs)]:
        page.goto(f"{base}{path}")
        assert re.search(r"/login(\?|$)", page.url), f"{path} opened without a login: {page.url}"
        expect(page.locator("#login")).to_be_visible()
    for slug in slugs:
        token, cookie = _token_and_cookie(base, "county_op", ops_accounts["county_op"], slug)
        assert _ws_opens(base, slug, token, cookie), f"/{slug}/ws refused a logged-in session"  # the control
        assert not _ws_opens(base, slug, token, None), f"/{slug}/ws opened without the login cookie"
        assert not _ws_opens(base, slug, token, "not-a-session"), f"/{slug}/ws opened with a made-up cookie"


def _open_count(page: Page) -> int:
    """The map's count line: 未办结事件 N."""
    text = page.get_by_text(re.compile(r"未办结事件 \d+")).inner_text()
    return int(re.search(r"未办结事件 (\d+)", text).group(1))  # type: ignore[union-attr]


def test_lijie_operator_cannot_read_or_act_on_a_fengdie_ticket(
    ops_platform: Platform, ops_accounts: dict[str, str], context: BrowserContext, browser: Any, login: Any
) -> None:  # fmt: skip
    base = ops_url(ops_platform)
    fengdie = report(ops_platform, FENGDIE_VILLAGE[0], "峰迭镇土桥子村路边垃圾堆积", lat=FENGDIE_VILLAGE[1],
                     lon=FENGDIE_VILLAGE[2])  # fmt: skip
    lijie = report(ops_platform, LIJIE_VILLAGE[0], "立节镇杰迪村路灯损坏", lat=LIJIE_VILLAGE[1], lon=LIJIE_VILLAGE[2])
    wait(lambda: ray.get(ops_platform.ops.stats.remote())["tickets"] >= 2)
    cams = [DeviceProfile(device_id="cam-fd-1", kind="camera", village=FENGDIE_VILLAGE[0], township="峰迭镇",
                          lat=FENGDIE_VILLAGE[1], lon=FENGDIE_VILLAGE[2]),
            DeviceProfile(device_id="cam-lj-1", kind="camera", village=LIJIE_VILLAGE[0], township="立节镇",
                          lat=LIJIE_VILLAGE[1], lon=LIJIE_VILLAGE[2])]  # fmt: skip
    with_redis(ops_platform, lambda r: registry.register(r, cams))
    for cam in cams:
        snap = ops_platform.settings.var_dir / "snapshots" / cam.device_id / "x.jpg"
        snap.parent.mkdir(parents=True, exist_ok=True)
        snap.write_bytes(b"\xff\xd8\xff\xe0not really a jpeg\xff\xd9")
    commands_before = with_redis(ops_platform, lambda r: r.xlen(COMMANDS))

    # the county operator sees both tickets: the control for what follows
    county = browser.new_context()
    try:
        cpage = county.new_page()
        login(cpage, "county_op", ops_accounts["county_op"])
        ids = wait(lambda: bokeh_column(cpage, "ticket_id"))
        assert {fengdie, lijie} <= set(ids)
    finally:
        county.close()

    # the map of 立节镇 holds its own ticket only
    page = context.new_page()
    login(page, "lijie_op", ops_accounts["lijie_op"])
    ids = wait(lambda: bokeh_column(page, "ticket_id"))
    assert lijie in ids and fengdie not in ids
    assert _open_count(page) == 1

    # the incidents page refuses the 峰迭镇 ticket, but opens the 立节镇 one
    page.goto(f"{base}/incidents?ticket={fengdie}")
    expect(page.get_by_text(re.compile("不在您的管辖范围内|无权")).first).to_be_visible(timeout=20_000)
    expect(page.get_by_text("峰迭镇土桥子村路边垃圾堆积")).to_have_count(0)
    page.goto(f"{base}/incidents?ticket={lijie}")
    expect(page.get_by_text("立节镇杰迪村路灯损坏").first).to_be_visible(timeout=20_000)
    expect(page.get_by_text(re.compile("不在您的管辖范围内"))).to_have_count(0)

    # evidence of a 峰迭镇 camera is forbidden over HTTP with the same login; its own camera's is served
    assert context.request.get(f"{base}/evidence?path=snapshots/cam-fd-1/x.jpg").status == 403
    assert context.request.get(f"{base}/evidence?path=snapshots/cam-lj-1/x.jpg").status == 200

    # acting on it through the command path is refused before anything is sent, and audited
    sid = next(c["value"] for c in context.cookies() if c["name"] == "zq_ops")

    async def act(redis: aioredis.Redis) -> None:
        async def query(sql: str) -> list[dict[str, Any]]:
            return []

        ctx = OpsContext(ops_platform.settings, redis, query)
        user = await ctx.accounts.session_user(sid)
        assert user is not None and user.username == "lijie_op"
        session = OpsSession(ctx, user, sid, "127.0.0.1")
        with pytest.raises(AccessDenied, match="管辖范围"):
            await commands.send(session, fengdie, "accept")

    with_redis(ops_platform, act)
    entries = cast(list[Any], with_redis(ops_platform, lambda r: r.xrange(COMMANDS)))
    sent = [msgspec.msgpack.decode(f[b"c"], type=TicketCommand) for _, f in entries]
    assert len(entries) == commands_before and not [c for c in sent if c.ticket_id == fengdie]
    records = with_redis(ops_platform, audit.recent)
    assert any(r["user"] == "lijie_op" and r["action"] == "accept" and r["target"] == fengdie and not r["ok"]
               for r in records)  # fmt: skip
