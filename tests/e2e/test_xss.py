"""Crafted links with markup in their parameters, opened after the login in Chromium: nothing in them runs, the words
are shown as text, and every page carries a nonce-based Content-Security-Policy that still lets the Bokeh app work."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from e2e_kit import ops_url
from playwright.sync_api import ConsoleMessage, Page, expect

from runtime.platform import Platform

pytestmark = pytest.mark.slow
PAYLOAD = "<img src=x onerror=\"window.__xss=1;document.title='pwned'\">"


def _console(page: Page) -> list[str]:
    seen: list[str] = []

    def keep(msg: ConsoleMessage) -> None:
        seen.append(msg.text)

    page.on("console", keep)
    return seen


def _assert_inert(page: Page, console: list[str]) -> None:
    page.wait_for_timeout(1500)  # the page's async parts (ticket view, screen panes) are drawn by now
    assert page.evaluate("() => window.__xss") is None, "the payload ran"
    assert page.title() != "pwned"
    expect(page.get_by_text(PAYLOAD, exact=False).first).to_be_visible()  # shown literally, as text
    blocked = [m for m in console if "Content Security Policy" in m]
    assert not blocked, f"the page needed something the policy refused (or markup got in): {blocked}"


@pytest.mark.parametrize(("path", "words"), [
    (f"/incidents?ticket={quote(PAYLOAD)}", "工单编号格式不正确"),
    (f"/bigscreen?village={quote(PAYLOAD)}", "村名或乡镇名格式不正确"),
    (f"/device?id={quote(PAYLOAD)}", "设备编号格式不正确"),
    (f"/ledger?name={quote(PAYLOAD)}", "台账名称格式不正确"),
    (f"/record?ledger=household&id={quote(PAYLOAD)}", "记录编号格式不正确"),
])  # fmt: skip
def test_a_crafted_link_runs_nothing_and_shows_its_text_literally(
    ops_platform: Platform, ops_accounts: dict[str, str], page: Page, login: Any, path: str, words: str
) -> None:  # fmt: skip
    console = _console(page)
    login(page, "county_op", ops_accounts["county_op"], path=path)
    expect(page.get_by_text(words).first).to_be_visible(timeout=20_000)
    _assert_inert(page, console)


def test_every_page_carries_the_policy_and_still_works(
    ops_platform: Platform, ops_accounts: dict[str, str], page: Page, login: Any
) -> None:  # fmt: skip
    console = _console(page)
    login(page, "county_admin", ops_accounts["county_admin"], path="/map")
    for slug, shown in (("map", "乡镇"), ("incidents", "未办结工单"), ("health", "运行状态:"), ("admin", "新建账号"),
                        ("audit", "显示最近"), ("account", "当前密码"), ("ledgers", "户情档案"),
                        ("ledger?name=household", "户情档案列表"),
                        ("ledger_stats?name=household", "按乡镇")):  # fmt: skip
        response = page.goto(f"{ops_url(ops_platform)}/{slug}")
        assert response is not None and response.ok
        headers = response.headers
        assert headers["x-frame-options"] == "DENY"
        csp = headers["content-security-policy"]
        assert "'nonce-" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline' " not in csp.split("style")[0]
        expect(page.get_by_text(shown).first).to_be_visible(timeout=20_000)  # drawn by Bokeh: its scripts ran
    assert not [m for m in console if "Content Security Policy" in m]
