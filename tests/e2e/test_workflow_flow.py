"""A labour-subsidy application end to end in Chromium: a villager applies on the phone (one-time code, two photos),
the village officer approves on the operations center, the posting runs out on an advanced clock (the timer's
`run_due`), the township officer approves, the phone shows the result and its PDF, the public page verifies the
notice's code and refuses a wrong one.

The citizen service (aiohttp) and the operations center (Panel) run in this process on one event loop in a worker
thread, both over the SAME SQLite ledger + workflow store."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from e2e_kit import login as form_login
from ledger_testkit import KEY, OFFICER_A, household, id_number, open_store, sqlite_url
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from adapters.accounts import strong_password
from adapters.accounts_cli import create_demo_accounts
from adapters.citizen.context import CitizenContext
from adapters.citizen.server import make_app
from core.access import User
from core.personal import Sealer
from core.settings import Settings
from core.settings.workflows import WorkflowSettings
from ops_center.context import OpsContext
from ops_center.pages.approvals import SLUG
from ops_center.server import OpsServer
from workflows.loader import load_items
from workflows.store import WorkflowStore, open_workflows

pytestmark = pytest.mark.slow
T = TypeVar("T")
PHONE = "13909410001"
ID = id_number(7)
VILLAGE, TOWNSHIP = "狼岔坝村", "大川镇"
DAY_MS = 86_400_000
TOWNSHIP_OFFICER = User(username="dachuan_officer", name="大川镇审批员", level="township", duties=["officer"],
                        township=TOWNSHIP)  # fmt: skip
TIMEOUT = 20_000


@dataclass
class Services:
    """What the test drives: both base URLs, the shared stores and the staff passwords."""

    citizen: str
    ops: str
    ctx: CitizenContext
    store: WorkflowStore
    passwords: dict[str, str]


class Loop:
    """An event loop running in a worker thread (the servers live on it; Playwright's sync API keeps this one)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def services(tmp_path: Path, redis_url: str) -> Iterator[Services]:
    """The citizen service and the operations center over one ledger + workflow store (张三 of 狼岔坝村, 脱贫户)."""
    ls, _ = open_store(sqlite_url(tmp_path))
    hh = ls.create(OFFICER_A, "household", household(1), village=VILLAGE)
    member = {"name": "张三", "id_number": ID, "relation": "户主", "sex": "男", "birth_date": "1980-01-01",
              "work_status": "省外务工", "work_place": "江苏省苏州市", "work_months": 6, "phone": PHONE}  # fmt: skip
    ls.create(OFFICER_A, "member", member, village=VILLAGE, parent_id=hh.id)
    wf = open_workflows(ls, Sealer(KEY), WorkflowSettings(), load_items())
    base = Settings(var_dir=tmp_path / "var", redis_url=redis_url)
    settings = base.model_copy(update={"ops": base.ops.model_copy(update={"port": 0, "host": "127.0.0.1"})})
    loop = Loop()
    held: dict[str, Any] = {}

    async def start() -> Services:
        async def no_clickhouse(_: str) -> list[dict[str, Any]]:
            return []

        held["redis"] = redis = aioredis.from_url(redis_url)
        ctx = CitizenContext(settings=settings, redis=redis, ledgers=ls, workflows=wf,
                             attachments_dir=tmp_path / "att", sms_path=tmp_path / "sms.jsonl")  # fmt: skip
        held["runner"] = runner = web.AppRunner(make_app(ctx), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        ops_ctx = OpsContext(settings, redis, no_clickhouse, ledgers=ls, workflows=wf)  # the SAME store object
        passwords = {u.username: pw for u, pw in await create_demo_accounts(ops_ctx.accounts)}
        passwords[TOWNSHIP_OFFICER.username] = strong_password()
        await ops_ctx.accounts.create(TOWNSHIP_OFFICER, passwords[TOWNSHIP_OFFICER.username])
        held["ops"] = ops = OpsServer(ops_ctx)
        ops_port = await ops.start()
        return Services(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ops_port}", ctx, wf, passwords)

    async def stop() -> None:
        if "ops" in held:
            await held["ops"].stop()
        if "runner" in held:
            await held["runner"].cleanup()
        if "redis" in held:
            await held["redis"].aclose()

    try:
        yield loop.run(start())
    finally:
        loop.run(stop())
        loop.close()
        wf.engine.dispose()
        ls.engine.dispose()


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    """A phone-size browser profile (390x844, touch)."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True,
                              has_touch=True, locale="zh-CN")  # fmt: skip
    yield ctx
    ctx.close()


def sms_code(ctx: CitizenContext) -> str:
    """The six digits of the last login code sent to the villager."""
    line = json.loads(ctx.sms_path.read_text(encoding="utf-8").splitlines()[-1])
    assert line["phone"] == PHONE
    found = re.search(r"\d{6}", line["text"])
    assert found
    return found.group(0)


def apply_on_phone(page: Page, s: Services, photo: Path) -> str:
    """Log in with the SMS code, apply for 一次性劳务补贴 with two photos; the application number."""
    page.goto(f"{s.citizen}/h5/login")
    page.fill("#p", PHONE)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator("body")).to_contain_text("验证码已发送至139****0001")
    page.fill("#c", sms_code(s.ctx))
    page.get_by_role("button", name="登录").click()
    expect(page.locator("header")).to_contain_text("张三")
    page.get_by_role("link", name="我要办事").click()
    page.get_by_role("link", name="一次性劳务补贴申请").click()
    page.fill("#f_id_number", ID)
    page.fill("#f_work_place", "江苏省苏州市")
    page.fill("#f_employer", "苏州某电子厂")
    page.fill("#f_months", "6")
    page.set_input_files("#f_id_photo", str(photo))
    page.set_input_files("#f_work_proof", str(photo))
    page.get_by_role("button", name="提交申请").click()
    page.wait_for_url(re.compile(r"/h5/app/"))
    iid = page.url.rsplit("/", 1)[-1]
    expect(page.locator("main")).to_contain_text(f"编号 {iid}")
    expect(page.locator("main")).to_contain_text("当前状态:村委会审核")
    return iid


def act_on_terminal(page: Page, s: Services, username: str, iid: str, action: str, opinion: str,
                    signature: str = "") -> None:  # fmt: skip
    """Sign in on the operations center, open the application on 事项审批, fill in and press the action."""
    form_login(page, s.ops, username, s.passwords[username], path=f"/{SLUG}?id={iid}")
    detail = page.locator(".zq-wf-detail")
    expect(detail).to_contain_text(iid, timeout=TIMEOUT)
    opinion_box = page.locator(".zq-wf-opinion textarea").first
    opinion_box.fill(opinion)
    opinion_box.press("Tab")
    if signature:
        box = page.locator(".zq-wf-signature input").first
        box.fill(signature)
        box.press("Tab")
    page.locator(f".zq-act-{action} button").first.click()
    expect(page.locator(".zq-wf-message")).to_contain_text("已办理", timeout=TIMEOUT)


def test_a_villager_applies_on_the_phone_and_the_village_and_township_approve_on_the_terminal(
    services: Services, phone: BrowserContext, browser: Browser, tmp_path: Path
) -> None:  # fmt: skip
    s, store = services, services.store
    photo = tmp_path / "photo.png"
    Image.new("RGB", (32, 24), (200, 30, 30)).save(photo)
    mobile = phone.new_page()
    errors: list[str] = []
    iid = apply_on_phone(mobile, s, photo)
    inst = store.find(OFFICER_A, village=VILLAGE)[0][1]
    assert inst.id == iid and inst.state == "village_review"
    assert (s.ctx.attachments_dir / inst.form["id_photo"]).read_bytes() == photo.read_bytes()

    staff = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    try:
        officer = staff.new_page()
        officer.on("pageerror", lambda e: errors.append(str(e)))
        act_on_terminal(officer, s, "langchaba_officer", iid, "approve", "经核实,务工情况属实")
        expect(officer.locator(".zq-wf-message")).to_contain_text("当前环节:村内公示")
    finally:
        staff.close()
    assert store.get(OFFICER_A, iid)[1].state == "village_posting"

    mobile.goto(f"{s.citizen}/h5/notices?village={VILLAGE}")
    notices = mobile.locator("main")
    expect(notices).to_contain_text("一次性劳务补贴申请")
    expect(notices).to_contain_text("申请人:张*")
    assert "张三" not in notices.inner_text() and ID not in mobile.content()

    moved = store.run_due(store.clock() + 6 * DAY_MS)  # what the workflow host's timer does once the posting ends
    assert moved and store.get(OFFICER_A, iid)[1].state == "township_review"

    staff = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    try:
        township = staff.new_page()
        township.on("pageerror", lambda e: errors.append(str(e)))
        act_on_terminal(township, s, TOWNSHIP_OFFICER.username, iid, "approve", "同意补贴", signature="李四")
        expect(township.locator(".zq-wf-message")).to_contain_text("当前环节:已审批")
    finally:
        staff.close()
    assert errors == []

    mobile.goto(f"{s.citizen}/h5/app/{iid}")
    main = mobile.locator("main")
    expect(main).to_contain_text("当前状态:已审批")
    expect(main).to_contain_text("600")
    pdf_link = mobile.get_by_role("link", name=re.compile("一次性劳务补贴审批通知书"))
    expect(pdf_link).to_be_visible()
    mobile.goto(f"{s.citizen}/h5/messages")
    expect(mobile.locator("main")).to_contain_text("已审批")
    expect(mobile.locator(f'main a[href="/h5/app/{iid}"]').first).to_be_visible()
    got = mobile.request.get(f"{s.citizen}/h5/app/{iid}/pdf")
    assert got.status == 200 and got.headers["content-type"] == "application/pdf" and got.body().startswith(b"%PDF")

    with store.engine.connect() as conn:
        code = conn.exec_driver_sql("SELECT code FROM wf_documents WHERE instance_id = ?", (iid,)).scalar()
    public = browser.new_context(locale="zh-CN")  # no cookies: the verification page is public
    try:
        page = public.new_page()
        page.goto(f"{s.citizen}/verify/{code}")
        body = page.locator("main")
        expect(body).to_contain_text("真实有效")
        expect(body).to_contain_text("一次性劳务补贴审批通知书")
        expect(body).to_contain_text("张*")
        assert "张三" not in page.content() and ID not in page.content()
        page.goto(f"{s.citizen}/verify/ABCDEFGHJKMN")
        expect(page.locator("main")).to_contain_text("未查到验证码为“ABCDEFGHJKMN”的文书")
        page.goto(f"{s.citizen}/verify/NOT-A-CODE")
        expect(page.locator("main")).to_contain_text("验证码格式不正确")
    finally:
        public.close()
