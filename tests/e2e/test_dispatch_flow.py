"""A simulated SOS reaches a township operator's map; the operator accepts and dispatches it to a responder, whose
phone page (a second browser context) receives and accepts it; the operator sees the new state."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import pytest
import ray
import redis.asyncio as aioredis
from e2e_kit import bokeh_column, login, ops_url, wait, with_redis
from playwright.sync_api import Browser, Page

from actors.incident_desk import TICKETS
from actors.ticket import TicketActor
from adapters import registry
from adapters.audit import recent
from adapters.bus import RESULTS
from adapters.push.tokens import add_token
from core.events import Sample
from core.kinds import DeviceProfile
from core.kinds.wristband import WristbandReading
from runtime.platform import Platform
from tests.runtime.platform_kit import post

pytestmark = pytest.mark.slow
BAND = "wb-e2e-sos-001"
JIEDI = (33.8633, 103.9465)  # 杰迪村, 立节镇


def _send_sos(platform: Platform) -> None:
    """The wristband's SOS through the signed ingest API (in a worker thread: Playwright's loop owns this one)."""
    sample = Sample(seq=1, ts=int(time.time() * 1000), v=WristbandReading(alarm="sos", lat=JIEDI[0], lon=JIEDI[1]))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(post, platform, BAND, [sample]).result() == 200


def _ticket(platform: Platform, tid: str) -> TicketActor | None:
    async def go(redis: aioredis.Redis) -> TicketActor | None:
        blob = await redis.hget(TICKETS, tid)
        return TicketActor.restore(blob) if blob else None

    return with_redis(platform, go)


def test_sos_to_map_dispatch_and_responder_accepts(
    ops_platform: Platform, ops_accounts: dict[str, str], browser: Browser, page: Page, artifacts: Path
) -> None:
    async def setup(redis: aioredis.Redis) -> str:
        profile = DeviceProfile(device_id=BAND, kind="wristband", village="杰迪村", township="立节镇",
                                lat=JIEDI[0], lon=JIEDI[1])  # fmt: skip
        await registry.register(redis, [profile])
        return await add_token(redis, "lijie_resp2")  # the responder based in 杰迪村

    token = with_redis(ops_platform, setup)
    ray.get(ops_platform.ingest.refresh_registry.remote())
    login(page, ops_url(ops_platform), "lijie_op", ops_accounts["lijie_op"])

    _send_sos(ops_platform)
    ids = wait(lambda: [t for t in (bokeh_column(page, "ticket_id") or []) if BAND in t], timeout=30)
    tid = ids[0]
    page.screenshot(path=str(artifacts / "dispatch-1-map-sos.png"))

    phone = browser.new_context(viewport={"width": 420, "height": 800}).new_page()
    phone.goto(f"http://127.0.0.1:{ops_platform.settings.push.page_port}/responder#token={token}")

    page.goto(f"{ops_url(ops_platform)}/incidents")
    page.locator(".tabulator-row", has_text="老人紧急呼救").first.click()
    page.click("button:has-text('受理')")
    wait(lambda: (t := _ticket(ops_platform, tid)) is not None and t.status == "受理")
    page.wait_for_selector("button:has-text('分拨')", timeout=15_000)  # the ticket redrawn in its new state
    nearest = page.locator("select").first.locator("option").first.inner_text()
    assert "杰迪村" in nearest and "空闲" in nearest, nearest  # the responder based at the SOS village comes first
    mine = [o for o in page.locator("select").first.locator("option").all_inner_texts() if "杰迪村处置员" in o]
    page.locator("select").first.select_option(label=mine[0])
    page.click("button:has-text('分拨')")
    wait(lambda: (t := _ticket(ops_platform, tid)) is not None and t.state.responder == "lijie_resp2")
    page.screenshot(path=str(artifacts / "dispatch-2-incidents.png"))

    phone.wait_for_selector("text=老人紧急呼救", timeout=30_000)
    phone.click("button:has-text('接单')")
    wait(lambda: (t := _ticket(ops_platform, tid)) is not None and t.status == "处置中")
    row = page.locator(".tabulator-row", has_text="老人紧急呼救").first
    wait(lambda: "处置中" in row.inner_text(), timeout=15)  # the operator's queue shows the new state live
    page.screenshot(path=str(artifacts / "dispatch-3-accepted.png"))

    # a double tap: the same 到场 from two tabs of the phone makes one command key, so one transition
    second = phone.context.new_page()
    second.goto(f"http://127.0.0.1:{ops_platform.settings.push.page_port}/responder#token={token}")
    second.wait_for_selector("#status:has-text('在线')", timeout=15_000)
    phone.click("button:has-text('到场')", no_wait_after=True)
    second.click("button:has-text('到场')", no_wait_after=True)
    wait(lambda: len(with_redis(ops_platform, _phone_results)) == 3)  # 接单 and both 到场 were applied or skipped
    ticket = _ticket(ops_platform, tid)
    assert ticket is not None and [e.action for e in ticket.history].count("arrive") == 1
    phone.context.close()

    async def trail(redis: aioredis.Redis) -> list[tuple[str, str]]:
        return [(r["user"], r["action"]) for r in await recent(redis)]

    actions = with_redis(ops_platform, trail)
    assert {("lijie_op", "accept"), ("lijie_op", "dispatch"), ("lijie_op", "login")} <= set(actions)
    assert {("lijie_resp2", "phone_start"), ("lijie_resp2", "phone_arrive")} <= set(actions)  # phone actions too


async def _phone_results(redis: aioredis.Redis) -> list[bytes]:
    """Outcomes of the commands the phone page sent (its keys start m-)."""
    entries = await redis.xrange(RESULTS)
    return [f[b"key"] for _, f in entries if f[b"key"].startswith(b"m-")]
