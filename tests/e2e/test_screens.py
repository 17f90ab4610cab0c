"""Screenshots of the map, the incident queue and the big screen, saved under test-artifacts/ for people to look at."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import ray
from e2e_kit import bokeh_column, ops_url, report, wait, with_redis
from playwright.sync_api import Page, expect

from adapters import registry
from core.gazetteer import load_gazetteer
from core.kinds import DeviceProfile
from ops_center.layout import page_modules
from runtime.platform import Platform

pytestmark = pytest.mark.slow


def _some_devices() -> list[DeviceProfile]:
    """A device of each kind in a few 立节镇 and 大川镇 villages (registered, not yet reporting)."""
    out = []
    villages = [v for v in load_gazetteer().villages if v.township in ("立节镇", "大川镇")][:12]
    for i, v in enumerate(villages):
        for kind in ("wristband", "beehive", "camera", "station"):
            out.append(DeviceProfile(device_id=f"{kind[:2]}-{i:02d}", kind=kind, village=v.name, township=v.township,
                                     lat=v.lat + 0.002 * (i % 3), lon=v.lon + 0.002 * (i % 4)))  # fmt: skip
    return out


def _populate(platform: Platform) -> list[str]:
    devices = _some_devices()
    with_redis(platform, lambda r: registry.register(r, devices))
    tickets = [report(platform, "杰迪村", "杰迪村村口垃圾堆积,请尽快清理", lat=33.86328, lon=103.94652),
               report(platform, "城马村", "城马村道路塌方", category="道路交通", severity=2, lat=33.87222,
                      lon=103.92224)]  # fmt: skip
    wait(lambda: ray.get(platform.ops.stats.remote())["devices"] >= len(devices))
    wait(lambda: ray.get(platform.ops.stats.remote())["tickets"] >= len(tickets))
    return tickets


def _shoot(page: Page, path: Path, settle_ms: int) -> None:
    """Let the page settle, save its screenshot, and check that it holds a picture."""
    page.wait_for_timeout(settle_ms)
    page.screenshot(path=str(path))
    assert path.stat().st_size > 20_000


def test_map_screenshot(
    ops_platform: Platform, ops_accounts: dict[str, str], page: Page, login: Any, artifacts: Path
) -> None:  # fmt: skip
    tickets = _populate(ops_platform)
    login(page, "county_op", ops_accounts["county_op"])
    wait(lambda: set(tickets) <= set(bokeh_column(page, "ticket_id") or []))
    assert len(bokeh_column(page, "device_id") or []) == len(_some_devices())
    expect(page.get_by_text(re.compile(r"未办结事件 2"))).to_be_visible()
    _shoot(page, artifacts / "map.png", settle_ms=1000)


def test_incident_queue_screenshot(
    ops_platform: Platform, ops_accounts: dict[str, str], page: Page, login: Any, artifacts: Path
) -> None:  # fmt: skip
    tickets = _populate(ops_platform)
    login(page, "lijie_op", ops_accounts["lijie_op"], path=f"/incidents?ticket={tickets[1]}")
    expect(page.get_by_text("城马村道路塌方").first).to_be_visible(timeout=20_000)
    expect(page.get_by_text("杰迪村村口垃圾堆积,请尽快清理").first).to_be_visible()
    _shoot(page, artifacts / "incidents.png", settle_ms=1000)


def test_bigscreen_screenshot(
    ops_platform: Platform, ops_accounts: dict[str, str], page: Page, login: Any, artifacts: Path
) -> None:  # fmt: skip
    assert "bigscreen" in [m.SLUG for m in page_modules()], "the big screen page (ops_center/pages/) is missing"
    _populate(ops_platform)
    login(page, "langchaba_screen", ops_accounts["langchaba_screen"], path="/bigscreen")
    assert page.url.startswith(f"{ops_url(ops_platform)}/bigscreen")
    expect(page.get_by_text("狼岔坝村").first).to_be_visible(timeout=20_000)
    _shoot(page, artifacts / "bigscreen.png", settle_ms=3000)  # one self-refresh at least
