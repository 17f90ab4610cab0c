"""The household ledger in Chromium: a village officer adds a household and two members, a township operator of
another township cannot open it (refused, audited), the county operator sees it masked, the big screen counts it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from e2e_kit import ops_url, wait, with_redis
from ledger_testkit import id_number
from playwright.sync_api import Page, expect

from adapters import audit
from runtime.platform import Platform

pytestmark = pytest.mark.slow
HEAD_ID, SPOUSE_ID, CHILD_ID = id_number(701), id_number(702, "19830303"), id_number(703, "20100505")
PHONE = "13909417001"


def fill(page: Page, key: str, value: str) -> None:
    """Type into a form field's text box (the change reaches the server on blur)."""
    box = page.locator(f".zq-input-{key} input, .zq-input-{key} textarea").first
    box.fill(value)
    box.press("Tab")


def choose(page: Page, key: str, value: str) -> None:
    """Pick an option of a form field's select."""
    page.locator(f".zq-input-{key} select").first.select_option(label=value)


def save(page: Page) -> str:
    """Press 保存 and wait for the saved message; the new record's id."""
    page.locator(".zq-save button").click()
    message = page.locator(".zq-form-message")
    expect(message).to_contain_text("已保存", timeout=15_000)
    rid = page.locator(".zq-saved-link").first.get_attribute("data-id") or ""  # above the form and by its button
    assert re.fullmatch(r"H[HM]-[0-9a-f]{12}", rid), rid
    return rid


def add_household(page: Page, base: str) -> str:
    page.goto(f"{base}/record?ledger=household&new=1")
    page.locator(".zq-record-form").wait_for(timeout=15_000)
    fill(page, "head_name", "演示户主甲")
    fill(page, "head_id_number", HEAD_ID)
    fill(page, "phone", PHONE)
    fill(page, "size", "3")
    fill(page, "labourers", "2")
    choose(page, "poverty_status", "脱贫户")
    fill(page, "house_location-lon", "104.2301")
    fill(page, "house_location-lat", "33.7502")
    return save(page)


def add_member(page: Page, base: str, household: str, name: str, idn: str, relation: str, sex: str,
               born: str) -> str:  # fmt: skip
    page.goto(f"{base}/record?ledger=member&new=1&parent={household}")
    page.locator(".zq-record-form").wait_for(timeout=15_000)
    fill(page, "name", name)
    fill(page, "id_number", idn)
    choose(page, "relation", relation)
    choose(page, "sex", sex)
    fill(page, "birth_date", born)
    return save(page)


def test_an_officer_adds_a_household_others_see_it_as_their_role_allows(
    ops_platform: Platform, ops_accounts: dict[str, str], page: Page, login: Any, browser: Any
) -> None:  # fmt: skip
    base = ops_url(ops_platform)
    errors: list[str] = []  # script errors, e.g. a component whose code the pages' CSP refuses to evaluate
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, "langchaba_officer", ops_accounts["langchaba_officer"], path="/ledgers")
    household = add_household(page, base)
    add_member(page, base, household, "演示配偶乙", SPOUSE_ID, "配偶", "女", "1983-03-03")
    add_member(page, base, household, "演示子女丙", CHILD_ID, "子", "男", "2010-05-05")
    page.goto(f"{base}/record?ledger=household&id={household}")
    expect(page.locator(".zq-member-count")).to_have_text("2", timeout=15_000)
    expect(page.locator(".zq-record")).to_contain_text(HEAD_ID)  # the village's own officer sees it whole

    other = browser.new_context().new_page()
    login(other, "lijie_op", ops_accounts["lijie_op"], path=f"/record?ledger=household&id={household}")
    expect(other.get_by_text(re.compile("不在您的管辖范围内"))).to_be_visible(timeout=15_000)
    assert HEAD_ID not in other.content()
    denied = wait(lambda: [a for a in with_redis(ops_platform, audit.recent)
                           if a["user"] == "lijie_op" and a["action"] == "ledger_denied"])  # fmt: skip
    assert denied[0]["target"] == f"household/{household}"

    county = browser.new_context().new_page()
    login(county, "county_op", ops_accounts["county_op"], path=f"/record?ledger=household&id={household}")
    record = county.locator(".zq-record")
    expect(record).to_contain_text(HEAD_ID[:6] + "*" * 10 + HEAD_ID[-2:], timeout=15_000)
    expect(record).to_contain_text("139****7001")
    assert HEAD_ID not in county.content() and PHONE not in county.content() and SPOUSE_ID not in county.content()

    screen = browser.new_context().new_page()
    login(screen, "langchaba_screen", ops_accounts["langchaba_screen"], path="/bigscreen")
    expect(screen.get_by_text("已标注房屋位置 1 处")).to_be_visible(timeout=90_000)
    assert "演示户主甲" not in screen.content()
    assert errors == []
