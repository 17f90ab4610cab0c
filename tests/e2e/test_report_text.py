"""Bad input: HTML and script in a citizen's report are shown as text on the map and the incidents page, never run."""

from __future__ import annotations

from typing import Any

import pytest
import ray
from e2e_kit import marker_position, ops_url, report, wait
from playwright.sync_api import Page, expect

from runtime.platform import Platform

pytestmark = pytest.mark.slow
EVIL = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def test_report_html_is_shown_as_text_never_run(
    ops_platform: Platform, ops_accounts: dict[str, str], page: Page, login: Any
) -> None:  # fmt: skip
    tid = report(ops_platform, "杰迪村", EVIL, lat=33.86328, lon=103.94652)
    wait(lambda: ray.get(ops_platform.ops.stats.remote())["tickets"] >= 1)
    login(page, "lijie_op", ops_accounts["lijie_op"])
    x, y = wait(lambda: marker_position(page, "incidents", "ticket_id", tid))
    page.wait_for_timeout(500)  # the first draw settles
    x, y = wait(lambda: marker_position(page, "incidents", "ticket_id", tid))
    page.mouse.click(x, y)
    expect(page.locator("#detail-link")).to_be_visible(timeout=10_000)
    expect(page.get_by_text('<img src=x onerror="window.__xss=1">').first).to_be_visible()
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("img[src='x']").count() == 0

    page.goto(f"{ops_url(ops_platform)}/incidents?ticket={tid}")
    expect(page.get_by_text(EVIL).first).to_be_visible(timeout=20_000)  # the report's whole text, verbatim
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("img[src='x']").count() == 0
