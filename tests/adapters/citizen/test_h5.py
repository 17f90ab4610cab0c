"""The citizens' H5 pages against real Redis and a SQLite ledger + workflow store: login, apply, notices, reports."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from ledger_testkit import KEY, OFFICER_A, household, id_number, open_store, sqlite_url

from adapters.citizen.context import CitizenContext
from adapters.citizen.server import make_app
from adapters.reports import REPORTS
from core.access import User
from core.personal import Sealer
from core.settings import Settings
from core.settings.workflows import WorkflowSettings
from workflows.engine import Command
from workflows.loader import load_items
from workflows.store import open_workflows

pytestmark = pytest.mark.asyncio

PHONE = "13909410001"
ID = id_number(7)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CITIZEN = User(username="c:" + PHONE, name="张三", level="village", duties=[], township="大川镇", village="狼岔坝村")


@pytest_asyncio.fixture
async def h5(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[TestClient, CitizenContext]]:
    """A running H5 app over one villager (张三, 脱贫户, six months' work outside the province)."""
    ls, _ = open_store(sqlite_url(tmp_path))
    hh = ls.create(OFFICER_A, "household", household(1), village="狼岔坝村")
    member = {"name": "张三", "id_number": ID, "relation": "户主", "sex": "男", "birth_date": "1980-01-01",
              "work_status": "省外务工", "work_place": "江苏省苏州市", "work_months": 6, "phone": PHONE}  # fmt: skip
    ls.create(OFFICER_A, "member", member, village="狼岔坝村", parent_id=hh.id)
    wf = open_workflows(ls, Sealer(KEY), WorkflowSettings(), load_items())
    redis = aioredis.from_url(redis_url)
    ctx = CitizenContext(settings=Settings(), redis=redis, ledgers=ls, workflows=wf,
                         attachments_dir=tmp_path / "att", sms_path=tmp_path / "sms.jsonl")  # fmt: skip
    client = TestClient(TestServer(make_app(ctx)))
    await client.start_server()
    try:
        yield client, ctx
    finally:
        await client.close()
        await redis.aclose()


def _code(ctx: CitizenContext) -> str:
    line = json.loads(ctx.sms_path.read_text(encoding="utf-8").splitlines()[-1])
    assert line["phone"] == PHONE
    found = re.search(r"\d{6}", line["text"])
    assert found
    return found.group(0)


async def _login(client: TestClient, ctx: CitizenContext) -> None:
    resp = await client.post("/h5/login/code", data={"phone": PHONE})
    assert resp.status == 200
    resp = await client.post("/h5/login", data={"phone": PHONE, "code": _code(ctx)}, allow_redirects=False)
    assert resp.status == 303
    assert "httponly" in resp.headers["Set-Cookie"].lower() and "samesite=strict" in resp.headers["Set-Cookie"].lower()


def _form(photo: bytes) -> FormData:
    form = FormData()
    values: dict[str, Any] = {"_key": "k1", "id_number": ID, "work_place": "江苏省苏州市", "employer": "苏州某厂",
                              "months": "6"}  # fmt: skip
    for k, v in values.items():
        form.add_field(k, v)
    form.add_field("id_photo", photo, filename="a.png", content_type="image/png")
    form.add_field("work_proof", photo, filename="b.png", content_type="image/png")
    return form


async def test_login_by_code_and_wrong_code_refused(h5: tuple[TestClient, CitizenContext]) -> None:
    client, ctx = h5
    resp = await client.post("/h5/login/code", data={"phone": "13900000000"})
    assert resp.status == 403 and "未在户情档案中找到该手机号" in await resp.text()
    assert (await client.get("/h5/mine", allow_redirects=False)).status == 302
    await client.post("/h5/login/code", data={"phone": PHONE})
    code = _code(ctx)
    wrong = "000000" if code != "000000" else "111111"
    resp = await client.post("/h5/login", data={"phone": PHONE, "code": wrong}, allow_redirects=False)
    assert resp.status == 403 and "验证码错误" in await resp.text()
    assert (await client.get("/h5/mine", allow_redirects=False)).status == 302
    resp = await client.post("/h5/login", data={"phone": PHONE, "code": code}, allow_redirects=False)
    assert resp.status == 303
    page = await client.get("/h5/mine")
    assert page.status == 200 and "我的申请" in await page.text()


async def test_five_wrong_codes_lock_it(h5: tuple[TestClient, CitizenContext]) -> None:
    client, ctx = h5
    await client.post("/h5/login/code", data={"phone": PHONE})
    code = _code(ctx)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        await client.post("/h5/login", data={"phone": PHONE, "code": wrong}, allow_redirects=False)
    resp = await client.post("/h5/login", data={"phone": PHONE, "code": code}, allow_redirects=False)
    assert resp.status == 429 and "错误次数过多" in await resp.text()


async def test_apply_with_png_and_refuse_non_image(h5: tuple[TestClient, CitizenContext]) -> None:
    client, ctx = h5
    await _login(client, ctx)
    form = await client.get("/h5/apply/labour_subsidy")
    assert form.status == 200 and 'accept="image/*"' in await form.text()
    bad = await client.post("/h5/apply/labour_subsidy", data=_form(b"GIF89a not an image"))
    assert bad.status == 400 and "只能上传JPG或PNG图片" in await bad.text()
    assert ctx.workflows.find(CITIZEN) == []
    resp = await client.post("/h5/apply/labour_subsidy", data=_form(PNG), allow_redirects=False)
    assert resp.status == 303
    found = ctx.workflows.find(CITIZEN)
    assert len(found) == 1
    inst = found[0][1]
    assert inst.state == "village_review" and str(inst.amount) == "600"
    assert (ctx.attachments_dir / inst.form["id_photo"]).read_bytes() == PNG
    detail = await client.get(resp.headers["Location"])
    text = await detail.text()
    assert "村委会审核" in text and "撤回申请" in text


async def test_notices_mask_name_and_hide_id(h5: tuple[TestClient, CitizenContext]) -> None:
    client, ctx = h5
    sha = "a" * 64
    raw = {"id_number": ID, "work_place": "江苏省苏州市", "employer": "苏州某厂", "months": 6, "id_photo": sha,
           "work_proof": sha}  # fmt: skip
    inst = ctx.workflows.submit(CITIZEN, "labour_subsidy", raw, village="狼岔坝村")
    assert ctx.workflows.act(
        OFFICER_A, Command(key="a1", instance_id=inst.id, action="approve", ts=0, opinion="同意")
    ).ok
    resp = await client.get("/h5/notices", params={"village": "狼岔坝村"})
    text = await resp.text()
    assert resp.status == 200 and "张*" in text and "张三" not in text and ID not in text and PHONE not in text
    assert "提出异议" not in text  # not logged in
    bad = await client.get("/h5/notices", params={"village": "没有这个村"})
    assert bad.status == 400 and "没有“没有这个村”这个村" in await bad.text()


async def test_guide_lists_steps(h5: tuple[TestClient, CitizenContext]) -> None:
    client, _ = h5
    resp = await client.get("/h5/guide/labour_subsidy")
    text = await resp.text()
    assert resp.status == 200
    assert text.index("村委会审核(5个工作日)") < text.index("村内公示(公示5天)") < text.index("乡镇复核(10个工作日)")
    assert (await client.get("/h5/guide/nope")).status == 404


async def test_report_is_queued(h5: tuple[TestClient, CitizenContext]) -> None:
    client, ctx = h5
    await _login(client, ctx)
    form = FormData()
    form.add_field("text", "村口路灯不亮")
    form.add_field("category", "基础设施报修")
    resp = await client.post("/h5/report", data=form)
    text = await resp.text()
    assert resp.status == 200 and "工单编号" in text
    entries = cast(list[Any], await ctx.redis.xrange(REPORTS))
    assert len(entries) == 1 and "村口路灯不亮".encode() in entries[0][1][b"i"]
    empty = await client.post("/h5/report", data={"text": " ", "category": "基础设施报修"})
    assert empty.status == 400 and len(cast(list[Any], await ctx.redis.xrange(REPORTS))) == 1


async def test_the_result_reaches_the_phone_and_the_public_page_verifies_the_notice(
    h5: tuple[TestClient, CitizenContext],
) -> None:
    client, ctx = h5
    wf = ctx.workflows
    sha = "a" * 64
    form = {"id_number": ID, "work_place": "江苏省苏州市", "employer": "苏州某厂", "months": 6, "id_photo": sha,
            "work_proof": sha}  # fmt: skip
    inst = wf.submit(CITIZEN, "labour_subsidy", form, village="狼岔坝村")
    assert wf.act(OFFICER_A, Command(key="v1", instance_id=inst.id, action="approve", ts=0, opinion="属实")).ok
    wf.run_due(wf.clock() + 6 * 86_400_000)
    township = User(username="dc_off", name="大川镇审批", level="township", duties=["officer"], township="大川镇")
    done = wf.act(township, Command(key="t1", instance_id=inst.id, action="approve", ts=0, opinion="同意",
                                    signature="李四"))  # fmt: skip
    assert done.ok and done.state == "approved"
    await _login(client, ctx)
    text = await (await client.get("/h5/messages")).text()
    assert "已受理" in text and "已审批" in text and inst.id in text
    detail = await (await client.get(f"/h5/app/{inst.id}")).text()
    assert "已审批" in detail and "600" in detail
    pdf = await client.get(f"/h5/app/{inst.id}/pdf")
    assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF")
    with wf.engine.connect() as conn:
        code = conn.exec_driver_sql("SELECT code FROM wf_documents WHERE instance_id = ?", (inst.id,)).scalar()
    public = TestClient(TestServer(make_app(ctx)))  # no cookie: the verification page is public
    await public.start_server()
    try:
        page = await public.get(f"/verify/{code}")
        body = await page.text()
        assert page.status == 200 and "真实有效" in body and "一次性劳务补贴审批通知书" in body
        assert "张*" in body and "张三" not in body and ID not in body
        assert (await public.get("/verify/NOT-A-CODE")).status == 400
        assert (await public.get("/verify/ABCDEFGHJKMN")).status == 404
        assert (await public.get("/h5/messages", allow_redirects=False)).status == 302
    finally:
        await public.close()


async def test_a_code_issued_by_the_village_logs_in_without_sms(h5: tuple[TestClient, CitizenContext]) -> None:
    from adapters.citizen.login import issue_village_code

    client, ctx = h5
    code = await issue_village_code(ctx.redis, PHONE, ctx.workflows.clock())
    assert not ctx.sms_path.exists()  # nothing was sent
    resp = await client.post("/h5/login", data={"phone": PHONE, "code": code}, allow_redirects=False)
    assert resp.status == 303
    page = await (await client.get("/h5")).text()
    assert "张三" in page  # the account carries the villager's own name, read as their village reads it
    again = await client.post("/h5/login", data={"phone": PHONE, "code": code}, allow_redirects=False)
    assert again.status == 403  # used once
